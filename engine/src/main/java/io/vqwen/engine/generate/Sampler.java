package io.vqwen.engine.generate;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Picks the next token from one row of logits: repetition penalty (HF's: divide positive logits, multiply
 * negative ones), then greedy argmax, or temperature, top-k, top-p and min-p followed by a draw from the request's
 * own seeded random stream.
 */
public final class Sampler {
    private final SamplingParams params;
    private final SplittableRandom random;

    public Sampler(SamplingParams params) {
        this.params = params;
        this.random = new SplittableRandom(params.seed() != null ? params.seed() : System.nanoTime() ^ Thread.currentThread().threadId());
    }

    /** {@code logits} are modified in place. {@code history} holds prompt + generated ids for the penalty. */
    public int sample(float[] logits, List<Integer> history) {
        if (params.repetitionPenalty() != 1f) {
            float p = params.repetitionPenalty();
            boolean[] seen = new boolean[logits.length];
            for (int id : history) {
                if (id >= 0 && id < logits.length && !seen[id]) {
                    seen[id] = true;
                    logits[id] = logits[id] < 0 ? logits[id] * p : logits[id] / p;
                }
            }
        }
        if (params.isGreedy()) return argmax(logits);

        int n = logits.length;
        float inv = 1f / params.temperature();
        Integer[] order = null;
        int keep = n;
        if (params.topK() > 0 && params.topK() < n) keep = params.topK();
        // Candidates sorted by logit; only the top few thousand matter in practice, but sort all for exactness.
        order = new Integer[n];
        for (int i = 0; i < n; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> Float.compare(logits[b], logits[a]));
        double max = logits[order[0]] * inv;
        double[] probs = new double[keep];
        double sum = 0;
        for (int i = 0; i < keep; i++) {
            probs[i] = Math.exp(logits[order[i]] * inv - max);
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
            if (r <= 0) return order[i];
        }
        return order[keep - 1];
    }

    /** The first index of the largest value, as torch.argmax. */
    public static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    /** log(sum(exp(v))) in double precision. */
    public static double logSumExp(float[] v) {
        double max = Double.NEGATIVE_INFINITY;
        for (float x : v) max = Math.max(max, x);
        double s = 0;
        for (float x : v) s += Math.exp(x - max);
        return max + Math.log(s);
    }

    /** Indices of the k largest values, largest first (ties: lower index first). */
    public static int[] topK(float[] v, int k) {
        k = Math.min(k, v.length);
        if (k <= 0) return new int[0];
        int[] idx = new int[k];
        int size = 0;
        for (int i = 0; i < v.length; i++) {
            if (size == k && v[i] <= v[idx[size - 1]]) continue;
            int pos = size < k ? size++ : size - 1;
            while (pos > 0 && v[idx[pos - 1]] < v[i]) {
                idx[pos] = idx[pos - 1];
                pos--;
            }
            idx[pos] = i;
        }
        return idx;
    }
}
