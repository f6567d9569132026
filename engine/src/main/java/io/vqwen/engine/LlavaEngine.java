package io.vqwen.engine;

import io.vqwen.engine.backend.Backend;
import io.vqwen.engine.config.GenerationConfig;
import io.vqwen.engine.generate.Collector;
import io.vqwen.engine.generate.Completion;
import io.vqwen.engine.generate.DecoderEngine;
import io.vqwen.engine.generate.DecoderOptions;
import io.vqwen.engine.generate.GenerationParams;
import io.vqwen.engine.generate.TokenDelta;
import io.vqwen.engine.generate.TokenLogprob;
import io.vqwen.engine.image.ImageProcessorConfig;
import io.vqwen.engine.model.WeightSource;
import io.vqwen.engine.pipeline.EmbeddingStore;
import io.vqwen.engine.pipeline.ImageHandle;
import io.vqwen.engine.pipeline.LocalGenerator;
import io.vqwen.engine.pipeline.LocalImageEmbedder;
import io.vqwen.engine.pipeline.Orchestrator;
import io.vqwen.engine.template.ChatTemplate;
import io.vqwen.engine.text.Prompt;
import io.vqwen.engine.text.PromptBuilder;
import io.vqwen.engine.text.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.function.Consumer;

/**
 * The in-process assembly of the pipeline's parts: {@link LocalImageEmbedder} (vision + projector + embedding
 * store) and {@link LocalGenerator} (the decoder) under the one {@link Orchestrator} the mesh also runs. The CLI
 * uses it; the services run the same parts apart.
 */
public final class LlavaEngine implements AutoCloseable {
    /** A finished generation, in the CLI's --json field names. */
    public record Result(String text, int[] tokenIds, int promptTokens, String finishReason, List<TokenLogprob> logprobs,
                         double encodeMs, Completion completion) {
    }

    private static final int STORE_ENTRIES = 64;

    private final Tokenizer tokenizer;
    private final PromptBuilder prompts;
    private final VisionEncoder vision;
    private final ImageProjector projector;
    private final DecoderEngine decoder;
    private final LocalImageEmbedder embedder;
    private final Orchestrator orchestrator;

    public LlavaEngine(WeightSource weights, Path modelDir, Backend backend, DecoderOptions options, long maxPixels) throws IOException {
        this.tokenizer = Tokenizer.load(modelDir);
        this.prompts = new PromptBuilder(ChatTemplate.load(modelDir), tokenizer, weights.config());
        this.vision = new VisionEncoder(weights, ImageProcessorConfig.load(modelDir), backend, maxPixels);
        this.projector = new ImageProjector(weights, backend);
        this.decoder = new DecoderEngine(weights, backend, tokenizer, GenerationConfig.load(modelDir, weights.config().textConfig()), options);
        // A CLI run holds few images; the lease only matters for a caller that never generates.
        EmbeddingStore store = new EmbeddingStore(STORE_ENTRIES, Duration.ofMinutes(10));
        this.embedder = new LocalImageEmbedder(vision, projector, store, 32);
        this.orchestrator = new Orchestrator(embedder, new LocalGenerator(decoder, store));
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    public PromptBuilder prompts() {
        return prompts;
    }

    public VisionEncoder vision() {
        return vision;
    }

    public ImageProjector projector() {
        return projector;
    }

    public DecoderEngine decoder() {
        return decoder;
    }

    public Orchestrator orchestrator() {
        return orchestrator;
    }

    /**
     * Runs one request to the end. {@code messages} use template parts ({"type":"image"} / {"type":"text"});
     * {@code images} are the image files for the image parts, in order; {@code maxTokens} null = the rest of the
     * context. Text deltas go to {@code onText}.
     */
    public Result generate(List<?> messages, Map<String, ?> templateKwargs, List<byte[]> images, Integer maxTokens, GenerationParams params,
                           Consumer<String> onText) {
        Prompt prompt = prompts.build(messages, templateKwargs);
        if (prompt.imageCount() != images.size()) {
            throw new IllegalArgumentException("the prompt has " + prompt.imageCount() + " image parts but " + images.size() + " images were given");
        }
        double[] encodeMs = {0};
        Collector collector = new Collector(onText);
        Orchestrator.Listener listener = new Orchestrator.Listener() {
            @Override
            public void onImages(List<ImageHandle> handles, double embedMs) {
                encodeMs[0] = handles.isEmpty() ? 0 : embedMs;
            }

            @Override
            public void onDelta(TokenDelta d) {
                collector.onDelta(d);
            }

            @Override
            public void onFinish(Completion c) {
                collector.onFinish(c);
            }

            @Override
            public void onError(Throwable t) {
                collector.onError(t);
            }
        };
        List<Orchestrator.ImageInput> inputs = images.stream().<Orchestrator.ImageInput>map(Orchestrator.ImageInput.Bytes::new).toList();
        orchestrator.run(UUID.randomUUID().toString(), prompt.ids(), inputs, maxTokens, params, listener);
        Collector.Generation g;
        try {
            g = collector.result().get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof RuntimeException re ? re : new IllegalStateException(e.getCause());
        }
        Completion c = g.completion();
        return new Result(g.text(), g.tokenIds(), c.promptTokens(), c.finishReason(), g.logprobs(), encodeMs[0], c);
    }

    /** Stops the decoder and the embedder; the weights and the backend belong to the caller. */
    @Override
    public void close() {
        embedder.close();
        decoder.close();
        tokenizer.close();
    }
}
