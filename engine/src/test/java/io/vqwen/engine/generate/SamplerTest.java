package io.vqwen.engine.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vqwen.engine.backend.SampledToken;
import io.vqwen.engine.backend.SamplingRow;
import java.util.List;
import org.junit.jupiter.api.Test;

class SamplerTest {
    @Test
    void topKOrdersLargestFirstAndTakesZero() {
        float[] v = {0.5f, 3f, -1f, 3f, 2f};
        assertArrayEquals(new int[] {1, 3, 4}, Sampler.topK(v, 3), "ties keep the lower index first");
        assertArrayEquals(new int[0], Sampler.topK(v, 0), "logprobs without alternatives ask for none");
        assertArrayEquals(new int[] {1, 3, 4, 0, 2}, Sampler.topK(v, 99));
    }

    @Test
    void greedyIsTheFirstMaximumAndPenaltyDividesPositiveLogits() {
        assertEquals(1, Sampler.argmax(new float[] {1f, 4f, 4f}));
        Sampler penalised = new Sampler(new SamplingParams(0f, 1f, 0, 0f, 2f, null));
        // 4/2 = 2 < 3: the penalty moves greedy off a token already seen.
        assertEquals(2, penalised.sample(new float[] {1f, 4f, 3f}, List.of(1)));
    }

    @Test
    void theSameSeedSamplesTheSameTokensAndTopKOneIsGreedy() {
        float[] logits = new float[1000];
        for (int i = 0; i < logits.length; i++) logits[i] = (float) Math.sin(i * 0.37);
        SamplingParams p = new SamplingParams(1.0f, 0.95f, 0, 0f, 1f, 42L);
        Sampler a = new Sampler(p), b = new Sampler(p), c = new Sampler(new SamplingParams(1.0f, 0.95f, 0, 0f, 1f, 43L));
        int[] sa = new int[20], sb = new int[20], sc = new int[20];
        for (int i = 0; i < 20; i++) {
            sa[i] = a.sample(logits.clone(), List.of());
            sb[i] = b.sample(logits.clone(), List.of());
            sc[i] = c.sample(logits.clone(), List.of());
        }
        assertArrayEquals(sa, sb);
        assertNotEquals(java.util.Arrays.toString(sa), java.util.Arrays.toString(sc));
        Sampler k1 = new Sampler(new SamplingParams(1.5f, 1f, 1, 0f, 1f, 7L));
        assertEquals(Sampler.argmax(logits), k1.sample(logits.clone(), List.of()));
    }

    @Test
    void aSamplerRebuiltFromSeedAndDrawCountContinuesTheSameStream() {
        float[] logits = new float[500];
        for (int i = 0; i < logits.length; i++) logits[i] = (float) Math.cos(i * 0.11) * 3;
        SamplingParams p = new SamplingParams(0.8f, 0.9f, 50, 0.01f, 1f, 5L);
        Sampler stateful = new Sampler(p);
        for (int k = 0; k < 30; k++) {
            int expected = stateful.sample(logits.clone(), List.of());
            assertEquals(expected, new Sampler(p, 5L, k).sample(logits.clone(), 0, logits.length, null), "draw " + k);
        }
    }

    @Test
    void sampleRowsPenalisesThenSamplesAndReportsRawLogprobs() {
        int vocab = 6;
        float[] all = {1f, 4f, 3f, 0f, -1f, 2f, /* row 2 */ 0.5f, 0.1f, 2f, 2f, -3f, 1f};
        float[] raw = all.clone();
        SamplingRow penalisedGreedy = new SamplingRow(0f, 1f, 0, 0f, 2f, 1L, 0, new int[] {1, 1, 7}, true, 2);
        SamplingRow seeded = new SamplingRow(1f, 1f, 0, 0f, 1f, 9L, 3, null, false, 0);
        SampledToken[] out = Sampler.sampleRows(all, vocab, new SamplingRow[] {penalisedGreedy, seeded});
        // 4/2 = 2 < 3: greedy moves to id 2; an id outside the vocabulary in the history is ignored.
        assertEquals(2, out[0].tokenId());
        double lse = Sampler.logSumExp(java.util.Arrays.copyOfRange(raw, 0, vocab));
        assertEquals(raw[2] - lse, out[0].logprob(), 1e-6, "from the raw logits, before the penalty");
        assertArrayEquals(new int[] {1, 2}, out[0].topIds());
        assertEquals(raw[1] - lse, out[0].topLogprobs()[0], 1e-6);
        int expected = new Sampler(new SamplingParams(1f, 1f, 0, 0f, 1f, 9L), 9L, 3).sample(java.util.Arrays.copyOfRange(raw, vocab, 2 * vocab), List.of());
        assertEquals(expected, out[1].tokenId());
        assertTrue(Float.isNaN(out[1].logprob()) && out[1].topIds().length == 0, "nothing asked, nothing reported");
        assertThrows(IllegalArgumentException.class, () -> Sampler.sampleRows(new float[5], vocab, new SamplingRow[] {seeded}));
    }

    @Test
    void sortedSamplingKeepsTiesInIdOrder() {
        // Equal logits: top_k 2 keeps ids 1 and 3 (the lower ids of the tie), never id 4.
        float[] logits = {0f, 5f, -2f, 5f, 5f};
        for (long seed = 0; seed < 40; seed++) {
            int id = new Sampler(new SamplingParams(1f, 1f, 2, 0f, 1f, seed)).sample(logits.clone(), List.of());
            assertTrue(id == 1 || id == 3, "seed " + seed + " gave " + id);
        }
    }

    @Test
    void invalidParamsAreRefusedByName() {
        assertThrows(IllegalArgumentException.class, () -> new SamplingParams(-1f, 1f, 0, 0f, 1f, null));
        assertEquals("top_p must be in (0, 1], got 0.0",
                assertThrows(IllegalArgumentException.class, () -> new SamplingParams(1f, 0f, 0, 0f, 1f, null)).getMessage());
    }
}
