package io.vqwen.engine.generate;

import io.vqwen.engine.pipeline.ImageEmbeddings;
import java.util.List;

/**
 * One request to the decoder.
 *
 * @param promptIds        prompt ids with image tokens expanded
 * @param imageEmbeddings  (imageTokens, hidden), the rows for the prompt's image tokens in order, in the producer's
 *                         dtype (F32 or BF16); null when text-only
 * @param topLogprobs      alternatives per token to report (0 = none)
 * @param ignoreEos        keep going past EOS (benchmarks, as transformers' min_new_tokens)
 */
public record GenerationRequest(String requestId, int[] promptIds, ImageEmbeddings imageEmbeddings, SamplingParams sampling,
                                int maxNewTokens, List<String> stop, boolean logprobs, int topLogprobs, boolean ignoreEos) {
    public GenerationRequest {
        if (promptIds == null || promptIds.length == 0) throw new IllegalArgumentException("the prompt is empty");
        if (maxNewTokens <= 0) throw new IllegalArgumentException("max_tokens must be > 0, got " + maxNewTokens);
        if (topLogprobs < 0 || topLogprobs > 20) throw new IllegalArgumentException("top_logprobs must be in [0, 20], got " + topLogprobs);
        stop = stop == null ? List.of() : List.copyOf(stop);
        if (sampling == null) sampling = SamplingParams.greedy();
    }

    public static GenerationRequest of(String id, int[] promptIds, ImageEmbeddings imageEmbeddings, int maxNewTokens, GenerationParams p) {
        return new GenerationRequest(id, promptIds, imageEmbeddings, p.sampling(), maxNewTokens, p.stop(), p.logprobs(),
                p.topLogprobs(), p.ignoreEos());
    }

    public static GenerationRequest greedy(String id, int[] promptIds, ImageEmbeddings imageEmbeddings, int maxNewTokens) {
        return of(id, promptIds, imageEmbeddings, maxNewTokens, GenerationParams.GREEDY);
    }

    /** Everything but the prompt, the images and the token count. */
    public GenerationParams params() {
        return new GenerationParams(sampling, stop, logprobs, topLogprobs, ignoreEos);
    }
}
