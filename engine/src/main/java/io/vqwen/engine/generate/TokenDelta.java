package io.vqwen.engine.generate;

import java.util.List;

/** Tokens generated in one step for one request, the text they complete, and their log-probabilities if asked. */
public record TokenDelta(int[] tokenIds, String text, List<TokenLogprob> logprobs) {
}
