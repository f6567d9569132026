package io.vqwen.service;

import io.vqwen.engine.backend.Backend;
import io.vqwen.engine.backend.Backends;
import io.vqwen.engine.model.Checkpoint;
import io.vqwen.engine.model.ModelSources;
import io.vqwen.engine.model.WeightSource;
import jakarta.enterprise.context.ApplicationScoped;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/** The model and backend a service runs: {@code vqwen.model}, {@code vqwen.backend}, {@code vqwen.device}. */
@ApplicationScoped
public class EngineSettings {
    /** The bundled fixture, found from the repository root or any directory below it. */
    public static final String BUNDLED_MODEL = "testdata/tiny-llava";

    /** A model directory, a Hub id org/name[@revision], or synthetic:NAME. */
    @ConfigProperty(name = "vqwen.model", defaultValue = BUNDLED_MODEL)
    String model;

    /** cpu or cuda. */
    @ConfigProperty(name = "vqwen.backend", defaultValue = "cpu")
    String backend;

    /**
     * Where a synthetic model takes its tokenizer, processor and generation config from (its weights have no
     * directory): the bundled fixture, whose tokenizer is the real Qwen3 one.
     */
    @ConfigProperty(name = "vqwen.synthetic.files-from", defaultValue = BUNDLED_MODEL)
    String syntheticFiles;

    /** CUDA device ordinal. */
    @ConfigProperty(name = "vqwen.device", defaultValue = "0")
    int device;

    public String backendName() {
        return backend;
    }

    public int device() {
        return device;
    }

    /**
     * What to hand to the engine's model loader: an absolute directory where one is found (a relative path is also
     * looked up from the parent directories, so the default works from a module directory, as in quarkus:dev), else
     * the configured string (Hub id, synthetic:NAME).
     */
    public String model() {
        return locate(model);
    }

    /**
     * The checkpoint directory (processor and tokenizer files); a Hub id resolves through the HF cache, a synthetic
     * model borrows {@code vqwen.synthetic.files-from}.
     */
    public Path modelDir() throws IOException {
        String m = model();
        return ModelSources.directoryOf(m.startsWith("synthetic:") ? locate(syntheticFiles) : m);
    }

    /** Maps only the given parts of the checkpoint: each service its own weights. */
    public WeightSource openWeights(Set<Checkpoint.Part> parts) throws IOException {
        return ModelSources.open(model(), parts);
    }

    public Backend createBackend() {
        return Backends.create(backend, device);
    }

    public boolean synthetic() {
        return model.startsWith("synthetic:");
    }

    static String locate(String configured) {
        if (configured.startsWith("synthetic:")) return configured;
        Path p = Path.of(configured);
        if (Files.isDirectory(p)) return p.toAbsolutePath().normalize().toString();
        if (!p.isAbsolute()) {
            for (Path dir = Path.of("").toAbsolutePath().getParent(); dir != null; dir = dir.getParent()) {
                Path candidate = dir.resolve(p);
                if (Files.isDirectory(candidate)) return candidate.normalize().toString();
            }
        }
        return configured;
    }
}
