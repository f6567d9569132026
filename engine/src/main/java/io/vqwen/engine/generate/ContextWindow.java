package io.vqwen.engine.generate;

/**
 * vLLM's context rule, in one place: the prompt plus max_tokens must fit max_model_len, and a request without
 * max_tokens gets the rest of the context. The gateway (and any orchestrator) applies it before a request leaves;
 * the decoder applies it again defensively, through the same code, for gRPC clients that call it directly.
 */
public final class ContextWindow {
    private ContextWindow() {
    }

    /** A request that cannot fit; the fields let each front end word its own message. */
    public static final class ContextLengthException extends IllegalArgumentException {
        public final int promptTokens;
        /** The max_tokens asked for, or null when the prompt alone leaves no room. */
        public final Integer asked;
        public final int maxModelLen;

        ContextLengthException(String message, int promptTokens, Integer asked, int maxModelLen) {
            super(message);
            this.promptTokens = promptTokens;
            this.asked = asked;
            this.maxModelLen = maxModelLen;
        }

        /** True when the prompt alone fills the context (no max_tokens could help). */
        public boolean promptTooLong() {
            return asked == null;
        }
    }

    /** The new tokens a request may generate: {@code asked}, or the rest of the context when null. */
    public static int maxNewTokens(int promptTokens, Integer asked, int maxModelLen) {
        if (promptTokens >= maxModelLen) {
            throw new ContextLengthException("the prompt has " + promptTokens + " tokens, over the maximum context length of " + maxModelLen
                    + " tokens", promptTokens, null, maxModelLen);
        }
        if (asked == null) return maxModelLen - promptTokens;
        if (asked <= 0) throw new IllegalArgumentException("max_tokens must be > 0, got " + asked);
        if (promptTokens + (long) asked > maxModelLen) {
            throw new ContextLengthException("prompt of " + promptTokens + " tokens + max_tokens " + asked
                    + " exceeds the maximum context length of " + maxModelLen + " tokens", promptTokens, asked, maxModelLen);
        }
        return asked;
    }
}
