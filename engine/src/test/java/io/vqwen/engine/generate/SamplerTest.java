package io.vqwen.engine.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

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
    void invalidParamsAreRefusedByName() {
        assertThrows(IllegalArgumentException.class, () -> new SamplingParams(-1f, 1f, 0, 0f, 1f, null));
        assertEquals("top_p must be in (0, 1], got 0.0",
                assertThrows(IllegalArgumentException.class, () -> new SamplingParams(1f, 0f, 0, 0f, 1f, null)).getMessage());
    }
}
