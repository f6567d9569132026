package io.vqwen.engine;

import io.vqwen.engine.backend.Backend;
import io.vqwen.engine.config.GenerationConfig;
import io.vqwen.engine.generate.Collector;
import io.vqwen.engine.generate.Completion;
import io.vqwen.engine.generate.DecoderEngine;
import io.vqwen.engine.generate.DecoderOptions;
import io.vqwen.engine.generate.GenerationRequest;
import io.vqwen.engine.generate.SamplingParams;
import io.vqwen.engine.generate.TokenLogprob;
import io.vqwen.engine.image.ImageProcessorConfig;
import io.vqwen.engine.model.WeightSource;
import io.vqwen.engine.template.ChatTemplate;
import io.vqwen.engine.text.Prompt;
import io.vqwen.engine.text.PromptBuilder;
import io.vqwen.engine.text.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.function.Consumer;

/**
 * The whole pipeline in one process, one orchestrating class per hop: messages -> prompt ids; image bytes ->
 * {@link VisionEncoder} -> {@link ImageProjector} -> embeddings; then the {@link DecoderEngine} streams tokens.
 * The CLI uses it; the services run the same pieces apart.
 */
public final class LlavaEngine implements AutoCloseable {
    /** A finished generation, in the CLI's --json field names. */
    public record Result(String text, int[] tokenIds, int promptTokens, String finishReason, List<TokenLogprob> logprobs,
                         double encodeMs, Completion completion) {
    }

    /** What to generate: everything of a {@link GenerationRequest} but the prompt. */
    public record Params(SamplingParams sampling, int maxNewTokens, List<String> stop, boolean logprobs, int topLogprobs,
                         boolean ignoreEos) {
        public static Params greedy(int maxNewTokens) {
            return new Params(SamplingParams.greedy(), maxNewTokens, List.of(), false, 0, false);
        }
    }

    private final WeightSource weights;
    private final Tokenizer tokenizer;
    private final PromptBuilder prompts;
    private final VisionEncoder vision;
    private final ImageProjector projector;
    private final DecoderEngine decoder;

    public LlavaEngine(WeightSource weights, Path modelDir, Backend backend, DecoderOptions options, long maxPixels) throws IOException {
        this.weights = weights;
        this.tokenizer = Tokenizer.load(modelDir);
        this.prompts = new PromptBuilder(ChatTemplate.load(modelDir), tokenizer, weights.config());
        this.vision = new VisionEncoder(weights, ImageProcessorConfig.load(modelDir), backend, maxPixels);
        this.projector = new ImageProjector(weights, backend);
        this.decoder = new DecoderEngine(weights, backend, tokenizer, GenerationConfig.load(modelDir, weights.config().textConfig()), options);
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

    /** Embeddings for the prompt's images, in order: (images * tokensPerImage, hidden), or null for none. */
    public float[] embedImages(List<byte[]> images) {
        if (images.isEmpty()) return null;
        List<VisionEncoder.EncodedImage> features = vision.encodeBatch(images);
        int per = vision.tokensPerImage() * projector.outWidth();
        float[] out = new float[images.size() * per];
        for (int i = 0; i < features.size(); i++) {
            VisionEncoder.EncodedImage f = features.get(i);
            System.arraycopy(projector.project(f.features(), f.rows()), 0, out, i * per, per);
        }
        return out;
    }

    /**
     * Runs one request to the end. {@code messages} use template parts ({"type":"image"} / {"type":"text"});
     * {@code images} are the image files for the image parts, in order. Text deltas go to {@code onText}.
     */
    public Result generate(List<?> messages, Map<String, ?> templateKwargs, List<byte[]> images, Params params,
                           Consumer<String> onText) {
        Prompt prompt = prompts.build(messages, templateKwargs);
        if (prompt.imageCount() != images.size()) {
            throw new IllegalArgumentException("the prompt has " + prompt.imageCount() + " image parts but " + images.size() + " images were given");
        }
        long t0 = System.nanoTime();
        float[] embeddings = embedImages(images);
        double encodeMs = images.isEmpty() ? 0 : (System.nanoTime() - t0) / 1e6;
        GenerationRequest req = new GenerationRequest(java.util.UUID.randomUUID().toString(), prompt.ids(), embeddings, params.sampling(),
                params.maxNewTokens(), params.stop(), params.logprobs(), params.topLogprobs(), params.ignoreEos());
        Collector collector = new Collector(onText);
        decoder.submit(req, collector);
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
        return new Result(g.text(), g.tokenIds(), c.promptTokens(), c.finishReason(), g.logprobs(), encodeMs, c);
    }

    /** Stops the decoder; the weights and the backend belong to the caller. */
    @Override
    public void close() {
        decoder.close();
        tokenizer.close();
    }
}
