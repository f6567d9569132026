package io.vqwen.gateway;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * An answer against the transformers goldens, with the fixture README's float32 tolerances: per-step top
 * log-probabilities ({@code value - logsumexp}) within 1e-4; top ids identical, except that two ids whose reference
 * values lie within 1e-4 of each other may swap.
 */
public final class GoldenCheck {
    public static final double TOL = 1e-4;

    private GoldenCheck() {
    }

    /** Asserts and returns the largest log-probability deviation seen. */
    public static double assertMatches(Fixture.Run g, Api.Answer a, int topK) {
        assertEquals(200, a.status(), () -> "error: " + a.error());
        assertArrayEquals(g.ids(), a.tokenIds(), g.name() + ": generated ids");
        double worst = 0;
        for (int step = 0; step < g.ids().length; step++) {
            JsonNode item = a.logprobs().get(step);
            // Greedy: the sampled token is the reference top-1.
            worst = Math.max(worst, check(g, step, 0, item.get("logprob").asDouble(), g.ids()[step]));
            JsonNode top = item.get("top_logprobs");
            assertEquals(topK, top.size(), g.name() + " step " + step + ": top_logprobs count");
            for (int k = 0; k < topK; k++) {
                JsonNode t = top.get(k);
                worst = Math.max(worst, check(g, step, k, t.get("logprob").asDouble(), Api.tokenId(t.get("token").asText())));
            }
        }
        return worst;
    }

    private static double check(Fixture.Run g, int step, int rank, double logprob, int id) {
        double ref = g.topLogprobs()[step][rank];
        double dev = Math.abs(logprob - ref);
        assertTrue(dev <= TOL, g.name() + " step " + step + " rank " + rank + ": logprob " + logprob + " vs reference " + ref);
        int refId = g.topIds()[step][rank];
        if (id != refId) {
            int j = indexOf(g.topIds()[step], id);
            assertTrue(j >= 0 && Math.abs(g.topLogprobs()[step][j] - ref) <= TOL, g.name() + " step " + step + " rank " + rank
                    + ": id " + id + " where the reference has " + refId + ", and they are not a near-tie");
        }
        return dev;
    }

    private static int indexOf(int[] a, int v) {
        for (int i = 0; i < a.length; i++) if (a[i] == v) return i;
        return -1;
    }
}
