package io.vqwen.gateway;

import io.vqwen.engine.generate.TokenLogprob;
import java.util.List;

/** What the pipeline streams for one chat request: token deltas, then exactly one {@link Finish}. */
public sealed interface ChatEvent {
    /** Tokens since the previous delta; {@code text} never ends in half a character; logprobs empty unless asked. */
    record Delta(int[] tokenIds, String text, List<TokenLogprob> logprobs) implements ChatEvent {
    }

    /** finishReason is OpenAI's "stop" or "length". */
    record Finish(String finishReason, int promptTokens, int completionTokens, ChatTimings timings) implements ChatEvent {
    }
}
