package io.vqwen.engine.generate;

import io.vqwen.engine.backend.SampledToken;
import io.vqwen.engine.backend.SamplingRow;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Picks the next token from one row of logits: repetition penalty (HF's: divide positive logits, multiply
 * negative ones), then greedy argmax, or temperature, top-k, top-p and min-p followed by a draw from the request's
 * own seeded random stream. The host implementation of {@code Backend.sample}.
 */
public final class Sampler {
    /** SplittableRandom's increment: a stream seeded s after k draws is the stream seeded s + k * GAMMA. */
    private static final long GAMMA = 0x9e3779b97f4a7c15L;

    private final SamplingParams params;
    private final SplittableRandom random;

    public Sampler(SamplingParams params) {
        this(params, params.seed() != null ? params.seed() : System.nanoTime() ^ Thread.currentThread().threadId(), 0);
    }

    /** The sampler of a request seeded {@code seed} that has already drawn {@code draws} times. */
    public Sampler(SamplingParams params, long seed, long draws) {
        this.params = params;
        this.random = new SplittableRandom(seed + draws * GAMMA);
    }

    /** {@code logits} are modified in place. {@code history} holds prompt + generated ids for the penalty. */
    public int sample(float[] logits, List<Integer> history) {
        return sample(logits, 0, logits.length, history.stream().mapToInt(Integer::intValue).toArray());
    }

    /** Samples from logits[off, off + n), modified in place by the penalty; {@code history} may be null without one. */
    public int sample(float[] logits, int off, int n, int[] history) {
        if (params.repetitionPenalty() != 1f) penalize(logits, off, n, history, params.repetitionPenalty());
        if (params.isGreedy()) return argmax(logits, off, n);

        float inv = 1f / params.temperature();
        int keep = n;
        if (params.topK() > 0 && params.topK() < n) keep = params.topK();
        long[] order = sortedDescending(logits, off, n);
        double max = logits[off + index(order[0])] * inv;
        double[] probs = new double[keep];
        double sum = 0;
        for (int i = 0; i < keep; i++) {
            probs[i] = Math.exp(logits[off + index(order[i])] * inv - max);
            sum += probs[i];
        }
        for (int i = 0; i < keep; i++) probs[i] /= sum;
        if (params.minP() > 0) {
            double floor = params.minP() * probs[0];
            int k = 1;
            while (k < keep && probs[k] >= floor) k++;
            keep = k;
        }
        if (params.topP() < 1f) {
            double cum = 0;
            int k = 0;
            while (k < keep) {
                cum += probs[k++];
                if (cum >= params.topP()) break;
            }
            keep = k;
        }
        double total = 0;
        for (int i = 0; i < keep; i++) total += probs[i];
        double r = random.nextDouble() * total;
        for (int i = 0; i < keep; i++) {
            r -= probs[i];
            if (r <= 0) return index(order[i]);
        }
        return index(order[keep - 1]);
    }

    /** HF RepetitionPenaltyLogitsProcessor: each distinct id once. */
    static void penalize(float[] logits, int off, int n, int[] history, float p) {
        boolean[] seen = new boolean[n];
        for (int id : history) {
            if (id >= 0 && id < n && !seen[id]) {
                seen[id] = true;
                float v = logits[off + id];
                logits[off + id] = v < 0 ? v * p : v / p;
            }
        }
    }

    /**
     * Ids by logit, largest first, ties lower id first (the order a stable sort by Float.compare gives), as
     * (descending-order key << 32 | id): a primitive sort instead of a boxed Integer[] of the vocabulary.
     */
    private static long[] sortedDescending(float[] logits, int off, int n) {
        long[] keys = new long[n];
        for (int i = 0; i < n; i++) {
            int bits = Float.floatToIntBits(logits[off + i]);
            int ordered = bits ^ ((bits >> 31) & 0x7fffffff); // ascending as Float.compare
            keys[i] = ((long) ~ordered << 32) | i;
        }
        Arrays.sort(keys);
        return keys;
    }

    private static int index(long key) {
        return (int) key;
    }

    /** Samples every row of {@code all} (rows.length x vocab) with a sampler per row: Backend.sample on the host. */
    public static SampledToken[] sampleRows(float[] all, int vocab, SamplingRow[] rows) {
        if (all.length != (long) rows.length * vocab) {
            throw new IllegalArgumentException("sample: " + rows.length + " rows of " + vocab + " logits, got " + all.length + " values");
        }
        SampledToken[] out = new SampledToken[rows.length];
        for (int r = 0; r < rows.length; r++) out[r] = sampleRow(all, r * vocab, vocab, rows[r]);
        return out;
    }

    private static SampledToken sampleRow(float[] all, int off, int vocab, SamplingRow row) {
        SamplingParams p = new SamplingParams(row.temperature(), row.topP(), row.topK(), row.minP(), row.repetitionPenalty(), row.seed());
        if (!row.wantsLogprobs()) return SampledToken.idOnly(new Sampler(p, row.seed(), row.draws()).sample(all, off, vocab, row.history()));
        // Log-probabilities come from the raw logits, before the penalty (which writes the row).
        float[] raw = row.repetitionPenalty() != 1f ? Arrays.copyOfRange(all, off, off + vocab) : null;
        int token = new Sampler(p, row.seed(), row.draws()).sample(all, off, vocab, row.history());
        float[] src = raw != null ? raw : all;
        int srcOff = raw != null ? 0 : off;
        double lse = logSumExp(src, srcOff, vocab);
        int[] top = topK(src, srcOff, vocab, row.topLogprobs());
        float[] topLp = new float[top.length];
        for (int i = 0; i < top.length; i++) topLp[i] = (float) (src[srcOff + top[i]] - lse);
        return new SampledToken(token, (float) (src[srcOff + token] - lse), top, topLp);
    }

    /** The first index of the largest value, as torch.argmax. */
    public static int argmax(float[] v) {
        return argmax(v, 0, v.length);
    }

    static int argmax(float[] v, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (v[off + i] > v[off + best]) best = i;
        return best;
    }

    /** log(sum(exp(v))) in double precision. */
    public static double logSumExp(float[] v) {
        return logSumExp(v, 0, v.length);
    }

    static double logSumExp(float[] v, int off, int n) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) max = Math.max(max, v[off + i]);
        double s = 0;
        for (int i = 0; i < n; i++) s += Math.exp(v[off + i] - max);
        return max + Math.log(s);
    }

    /** Indices of the k largest values, largest first (ties: lower index first). */
    public static int[] topK(float[] v, int k) {
        return topK(v, 0, v.length, k);
    }

    static int[] topK(float[] v, int off, int n, int k) {
        k = Math.min(k, n);
        if (k <= 0) return new int[0];
        int[] idx = new int[k];
        int size = 0;
        for (int i = 0; i < n; i++) {
            if (size == k && v[off + i] <= v[off + idx[size - 1]]) continue;
            int pos = size < k ? size++ : size - 1;
            while (pos > 0 && v[off + idx[pos - 1]] < v[off + i]) {
                idx[pos] = idx[pos - 1];
                pos--;
            }
            idx[pos] = i;
        }
        return idx;
    }
}
