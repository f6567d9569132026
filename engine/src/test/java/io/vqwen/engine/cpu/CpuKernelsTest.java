package io.vqwen.engine.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The Vector API fast paths against the scalar references, on fresh random data of awkward lengths. */
class CpuKernelsTest {
    final SplittableRandom rnd = new SplittableRandom();

    float[] random(int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (rnd.nextDouble() * 2 - 1);
        return a;
    }

    @Test
    void vectorDotMatchesScalar() {
        for (int n : new int[] {1, 7, 16, 33, 129, 1000, 4099}) {
            float[] a = random(n + 3), b = random(n + 5);
            float v = CpuKernels.dotVector(a, 3, b, 5, n), s = CpuKernels.dotScalar(a, 3, b, 5, n);
            assertEquals(s, v, 1e-5 * Math.sqrt(n), "n=" + n);
        }
    }

    @Test
    void bf16DotAndWidenMatchScalar() {
        try (Arena arena = Arena.ofConfined()) {
            for (int n : new int[] {1, 9, 32, 77, 2560}) {
                MemorySegment w = arena.allocate(2L * (n + 4));
                for (int i = 0; i < n + 4; i++) w.set(CpuKernels.SHORT_LE, 2L * i, (short) (Float.floatToIntBits((float) rnd.nextGaussian()) >>> 16));
                float[] x = random(n + 2);
                assertEquals(CpuKernels.dotBf16Scalar(x, 2, w, 4, n), CpuKernels.dotBf16Vector(x, 2, w, 4, n), 1e-4 * Math.sqrt(n));
                float[] wide = new float[n];
                CpuKernels.widen(w, io.vqwen.engine.safetensors.DType.BF16, 4, wide, n);
                for (int i = 0; i < n; i++) assertEquals(CpuKernels.bf16(w.get(CpuKernels.SHORT_LE, 2L * (4 + i))), wide[i]);
            }
        }
    }

    @Test
    void dot4MatchesFourScalarDots() {
        for (int k : new int[] {1, 5, 16, 67, 2560}) {
            float[] w = random(k + 2), x = random(4 * k + 1), out = new float[4 * 3 + 1];
            CpuKernels.dot4(w, 2, x, 1, k, out, 1, 3);
            for (int r = 0; r < 4; r++) {
                assertEquals(CpuKernels.dotScalar(w, 2, x, 1 + r * k, k), out[1 + r * 3], 1e-5 * Math.sqrt(k), "k=" + k + " r=" + r);
                // Bit-identical to the single-row kernel: a row's logits must not depend on its batch neighbours.
                assertEquals(CpuKernels.dot(x, 1 + r * k, w, 2, k), out[1 + r * 3], 0f, "k=" + k + " r=" + r + " vs dot");
            }
        }
    }

    @Test
    void erfMatchesKnownValues() {
        // Values from mpmath at 17 digits.
        assertEquals(0.5204998778130465, CpuKernels.erf(0.5), 1e-15);
        assertEquals(0.8427007929497149, CpuKernels.erf(1.0), 1e-15);
        assertEquals(0.9661051464753108, CpuKernels.erf(1.5), 1e-15);
        assertEquals(-0.9953222650189527, CpuKernels.erf(-2.0), 1e-14);
        assertEquals(0.9999779095030014, CpuKernels.erf(3.0), 1e-15);
        assertEquals(0.9999999999984626, CpuKernels.erf(5.0), 1e-15);
    }
}
