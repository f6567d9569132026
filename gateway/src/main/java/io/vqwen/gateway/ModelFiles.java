package io.vqwen.gateway;

import io.quarkus.runtime.Startup;
import io.vqwen.engine.config.LlavaConfig;
import io.vqwen.engine.hub.ModelResolver;
import io.vqwen.engine.model.Checkpoint;
import io.vqwen.engine.model.SyntheticWeights;
import io.vqwen.engine.template.ChatTemplate;
import io.vqwen.engine.text.PromptBuilder;
import io.vqwen.engine.text.Tokenizer;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Optional;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * The prompt side of the model directory: config, tokenizer, chat template and processor settings. The gateway
 * maps no weights; it opens the checkpoint with no parts only to compute the revision its peers must share.
 */
@Startup
@ApplicationScoped
public class ModelFiles {
    private static final Logger LOG = Logger.getLogger(ModelFiles.class);

    private final String model;
    private final Path dir;
    private final LlavaConfig config;
    private final Tokenizer tokenizer;
    private final PromptBuilder prompts;
    private final TokenBytes tokenBytes;
    private final String revision;
    private final String servedName;
    private final long created = System.currentTimeMillis() / 1000;

    public ModelFiles(@ConfigProperty(name = "vqwen.model") String model,
                      @ConfigProperty(name = "vqwen.synthetic.files-from", defaultValue = "testdata/tiny-llava") String syntheticFiles,
                      GatewayConfig cfg) {
        this.model = model;
        try {
            if (SyntheticWeights.isSynthetic(model)) {
                // No files behind synthetic:NAME: config and revision come from its shape, the tokenizer and chat
                // template from vqwen.synthetic.files-from, exactly as the model services take them.
                SyntheticWeights synthetic = SyntheticWeights.of(model);
                this.dir = ModelResolver.resolve(syntheticFiles);
                this.config = synthetic.config();
                this.revision = synthetic.revision();
            } else {
                this.dir = ModelResolver.resolve(model);
                this.config = LlavaConfig.load(dir);
                try (Checkpoint none = Checkpoint.open(dir, EnumSet.noneOf(Checkpoint.Part.class))) {
                    this.revision = none.revision();
                }
            }
            this.tokenizer = Tokenizer.load(dir);
            this.prompts = new PromptBuilder(ChatTemplate.load(dir), tokenizer, config);
            this.tokenBytes = TokenBytes.load(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("vqwen.model=" + model + ": " + e.getMessage(), e);
        }
        Optional<String> name = cfg.servedModelName();
        this.servedName = name.orElseGet(() -> java.nio.file.Files.isDirectory(Path.of(model))
                ? Path.of(model).toAbsolutePath().normalize().getFileName().toString() : model);
        LOG.infof("model %s (%s): revision %s, %d image tokens per image, text hidden %d, vocabulary %d",
                servedName, dir, revision, config.imageTokensPerImage(), config.textConfig().hiddenSize(), tokenBytes.size());
    }

    @PreDestroy
    void close() {
        tokenizer.close();
    }

    /** Whether a request's {@code model} names what we serve (absent is accepted). */
    public boolean serves(String requested) {
        return requested == null || requested.equals(servedName) || requested.equals(model);
    }

    public String model() {
        return model;
    }

    public Path dir() {
        return dir;
    }

    public LlavaConfig config() {
        return config;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    public PromptBuilder prompts() {
        return prompts;
    }

    public TokenBytes tokenBytes() {
        return tokenBytes;
    }

    public String revision() {
        return revision;
    }

    public String servedName() {
        return servedName;
    }

    public long created() {
        return created;
    }
}
