package io.vqwen.cuda;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/** The CPU Sampler's kept set for a row, with each kept id's probability: the reference for the device's draws. */
final class SamplingReference {
    private SamplingReference() {
    }

    /** id -> probability after top-k, min-p and top-p, as io.vqwen.engine.generate.Sampler filters (in double). */
    static Map<Integer, Double> kept(float[] l, float t, int topK, float minP, float topP) {
        int n = l.length;
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> Float.compare(l[b], l[a]));
        int keep = topK > 0 && topK < n ? topK : n;
        double[] p = new double[keep];
        double sum = 0;
        for (int i = 0; i < keep; i++) sum += p[i] = Math.exp((double) l[order[i]] / t - (double) l[order[0]] / t);
        for (int i = 0; i < keep; i++) p[i] /= sum;
        if (minP > 0) {
            int k = 1;
            while (k < keep && p[k] >= minP * p[0]) k++;
            keep = k;
        }
        if (topP < 1) {
            double cum = 0;
            int k = 0;
            while (k < keep) {
                cum += p[k++];
                if (cum >= topP) break;
            }
            keep = k;
        }
        double total = 0;
        for (int i = 0; i < keep; i++) total += p[i];
        Map<Integer, Double> out = new LinkedHashMap<>();
        for (int i = 0; i < keep; i++) out.put(order[i], p[i] / total);
        return out;
    }

    /**
     * Pearson's chi-square of the observed counts against the kept probabilities, and its degrees of freedom. Ids
     * expected fewer than 5 times are pooled into one bin (the statistic is unreliable below that); an id outside
     * the kept set gives infinity.
     */
    static double[] chiSquare(int[] counts, Map<Integer, Double> kept, int draws) {
        double chi = 0, poolObserved = 0, poolExpected = 0;
        int bins = 0;
        for (int id = 0; id < counts.length; id++) {
            Double p = kept.get(id);
            if (p == null) {
                if (counts[id] > 0) return new double[] {Double.POSITIVE_INFINITY, 1};
                continue;
            }
            double e = draws * p;
            if (e < 5) {
                poolObserved += counts[id];
                poolExpected += e;
                continue;
            }
            chi += (counts[id] - e) * (counts[id] - e) / e;
            bins++;
        }
        if (poolExpected > 0) {
            chi += (poolObserved - poolExpected) * (poolObserved - poolExpected) / poolExpected;
            bins++;
        }
        return new double[] {chi, Math.max(1, bins - 1)};
    }
}
