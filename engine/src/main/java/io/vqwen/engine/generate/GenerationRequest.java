package io.vqwen.engine.generate;

import java.util.List;

/**
 * One request to the decoder.
 *
 * @param promptIds        prompt ids with image tokens expanded
 * @param imageEmbeddings  (imageTokens, hidden) row-major, the rows for the prompt's image tokens in order; null when text-only
 * @param topLogprobs      alternatives per token to report (0 = none)
 * @param ignoreEos        keep going past EOS (benchmarks, as transformers' min_new_tokens)
 */
public record GenerationRequest(String requestId, int[] promptIds, float[] imageEmbeddings, SamplingParams sampling,
                                int maxNewTokens, List<String> stop, boolean logprobs, int topLogprobs, boolean ignoreEos) {
    public GenerationRequest {
        if (promptIds == null || promptIds.length == 0) throw new IllegalArgumentException("the prompt is empty");
        if (maxNewTokens <= 0) throw new IllegalArgumentException("max_tokens must be > 0, got " + maxNewTokens);
        if (topLogprobs < 0 || topLogprobs > 20) throw new IllegalArgumentException("top_logprobs must be in [0, 20], got " + topLogprobs);
        stop = stop == null ? List.of() : List.copyOf(stop);
        if (sampling == null) sampling = SamplingParams.greedy();
    }

    public static GenerationRequest greedy(String id, int[] promptIds, float[] imageEmbeddings, int maxNewTokens) {
        return new GenerationRequest(id, promptIds, imageEmbeddings, SamplingParams.greedy(), maxNewTokens, List.of(), false, 0, false);
    }
}
