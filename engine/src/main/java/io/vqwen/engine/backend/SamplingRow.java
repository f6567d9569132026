package io.vqwen.engine.backend;

/**
 * One row of {@link Backend#sample}: a request's sampling parameters and what it wants back.
 *
 * @param temperature       0 means greedy (after the penalty)
 * @param topP              1 disables
 * @param topK              0 disables
 * @param minP              0 disables
 * @param repetitionPenalty 1 disables; HF's rule on every id of {@code history}
 * @param seed              the request's seed
 * @param draws             draws this request made before (its generated tokens so far): with {@code seed} it keys
 *                          this draw, so a row is sampled the same way in any batch and after a preemption
 * @param history           prompt + generated ids for the penalty; null when the penalty is off
 * @param logprobs          report the chosen token's log-probability
 * @param topLogprobs       alternatives to report, 0 to 20
 */
public record SamplingRow(float temperature, float topP, int topK, float minP, float repetitionPenalty, long seed, long draws,
                          int[] history, boolean logprobs, int topLogprobs) {
    public static final int MAX_TOP_LOGPROBS = 20;

    public SamplingRow {
        if (topLogprobs < 0 || topLogprobs > MAX_TOP_LOGPROBS) {
            throw new IllegalArgumentException("top_logprobs must be in [0, " + MAX_TOP_LOGPROBS + "], got " + topLogprobs);
        }
        if (repetitionPenalty != 1f && history == null) throw new IllegalArgumentException("a repetition penalty needs the row's history");
    }

    /** Whether any log-probability comes back for this row. */
    public boolean wantsLogprobs() {
        return logprobs || topLogprobs > 0;
    }
}
