package io.vqwen.engine.generate;

/** One alternative token with its log-softmax value. */
public record TopLogprob(int tokenId, String token, float logprob) {
}
