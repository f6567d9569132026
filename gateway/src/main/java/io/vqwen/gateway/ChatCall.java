package io.vqwen.gateway;

import io.vqwen.engine.generate.SamplingParams;
import java.util.List;
import java.util.Map;

/**
 * A validated {@code /v1/chat/completions} request.
 *
 * @param templateMessages messages as the chat template takes them: image parts replaced by {@code {"type":"image"}}
 * @param images           the request's images in prompt order
 * @param maxTokens        new tokens to generate; null means the rest of the context, as vLLM does
 * @param topLogprobs      alternatives per token (0..20), only with {@code logprobs}
 * @param tokensAsIds      vLLM's {@code return_tokens_as_token_ids}: logprob tokens read {@code token_id:<id>}
 */
public record ChatCall(String model, List<Map<String, Object>> templateMessages, List<ImageInput> images,
                       Map<String, Object> templateKwargs, Integer maxTokens, SamplingParams sampling,
                       List<String> stop, boolean stream, boolean includeUsage, boolean logprobs, int topLogprobs,
                       boolean ignoreEos, boolean tokensAsIds) {
}
