package io.vqwen.engine.generate;

import java.util.List;

/**
 * How to generate: everything of a {@link GenerationRequest} but the prompt, the images and the token count. It
 * crosses the process boundary as one message (the service codec's {@code GenerateRequest} fields), never field by
 * field. The count stays apart because it has two forms: the API's optional max_tokens, and the int
 * {@link ContextWindow#maxNewTokens} turns it into once per request.
 */
public record GenerationParams(SamplingParams sampling, List<String> stop, boolean logprobs, int topLogprobs, boolean ignoreEos) {
    public static final GenerationParams GREEDY = new GenerationParams(SamplingParams.greedy(), List.of(), false, 0, false);

    public GenerationParams {
        stop = stop == null ? List.of() : List.copyOf(stop);
        if (sampling == null) sampling = SamplingParams.greedy();
        if (topLogprobs < 0 || topLogprobs > 20) throw new IllegalArgumentException("top_logprobs must be in [0, 20], got " + topLogprobs);
    }
}
