package io.vqwen.engine.generate;

/** Where a request's time went, in milliseconds (the CLI's --json and the services' field names). */
public record Timings(double queueMs, double prefillMs, double decodeMs, double ttftMs, double tokensPerS) {
}
