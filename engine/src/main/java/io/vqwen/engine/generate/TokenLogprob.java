package io.vqwen.engine.generate;

import java.util.List;

/** A sampled token's log-softmax value and the top alternatives (most likely first). */
public record TokenLogprob(int tokenId, String token, float logprob, List<TopLogprob> top) {
}
