package io.vqwen.engine.generate;

/** How a request ended: finishReason is "stop", "length" or "cancelled". */
public record Completion(String finishReason, int promptTokens, int completionTokens, Timings timings) {
}
