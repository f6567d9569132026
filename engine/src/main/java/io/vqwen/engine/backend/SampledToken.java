package io.vqwen.engine.backend;

/**
 * A row's sampled id and, when its {@link SamplingRow} asked, log-softmax values of the raw logits (before the
 * penalty and temperature): the chosen id's and the top alternatives' (most likely first, ties: lower id first).
 * {@code logprob} is NaN and the arrays are empty when not asked.
 */
public record SampledToken(int tokenId, float logprob, int[] topIds, float[] topLogprobs) {
    private static final int[] NO_IDS = new int[0];
    private static final float[] NO_VALUES = new float[0];

    public static SampledToken idOnly(int tokenId) {
        return new SampledToken(tokenId, Float.NaN, NO_IDS, NO_VALUES);
    }
}
