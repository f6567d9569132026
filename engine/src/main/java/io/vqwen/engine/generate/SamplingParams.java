package io.vqwen.engine.generate;

/**
 * Per-request sampling. temperature 0 means greedy; topP 1, topK 0, minP 0 and repetitionPenalty 1 disable those
 * filters. A null seed draws one at random.
 */
public record SamplingParams(float temperature, float topP, int topK, float minP, float repetitionPenalty, Long seed) {
    public SamplingParams {
        if (!(temperature >= 0) || Float.isInfinite(temperature)) throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
        if (topK < 0) throw new IllegalArgumentException("top_k must be >= 0, got " + topK);
        if (!(minP >= 0 && minP <= 1)) throw new IllegalArgumentException("min_p must be in [0, 1], got " + minP);
        if (!(repetitionPenalty > 0) || Float.isInfinite(repetitionPenalty)) throw new IllegalArgumentException("repetition_penalty must be > 0, got " + repetitionPenalty);
    }

    public static SamplingParams greedy() {
        return new SamplingParams(0f, 1f, 0, 0f, 1f, null);
    }

    public boolean isGreedy() {
        return temperature == 0f;
    }
}
