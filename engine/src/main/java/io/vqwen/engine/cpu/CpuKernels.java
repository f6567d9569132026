package io.vqwen.engine.cpu;

import io.vqwen.engine.safetensors.DType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The inner loops of the CPU backend: a Vector API fast path for each, and the plain scalar reference it is
 * tested against (llama3.java's vectorDot / scalarDot). Accumulation is always float32.
 */
final class CpuKernels {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, VectorShape.forBitSize(F.vectorBitSize()));
    static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final boolean VECTOR = !Boolean.getBoolean("vqwen.cpu.scalar");

    private CpuKernels() {
    }

    // ---- dot products --------------------------------------------------------------------------------------

    static float dot(float[] a, int ao, float[] b, int bo, int n) {
        return VECTOR ? dotVector(a, ao, b, bo, n) : dotScalar(a, ao, b, bo, n);
    }

    static float dotScalar(float[] a, int ao, float[] b, int bo, int n) {
        float s = 0;
        for (int i = 0; i < n; i++) s += a[ao + i] * b[bo + i];
        return s;
    }

    static float dotVector(float[] a, int ao, float[] b, int bo, int n) {
        int L = F.length();
        int upper = F.loopBound(n);
        FloatVector acc0 = FloatVector.zero(F), acc1 = FloatVector.zero(F);
        int i = 0;
        for (; i + 2 * L <= upper; i += 2 * L) {
            acc0 = FloatVector.fromArray(F, a, ao + i).fma(FloatVector.fromArray(F, b, bo + i), acc0);
            acc1 = FloatVector.fromArray(F, a, ao + i + L).fma(FloatVector.fromArray(F, b, bo + i + L), acc1);
        }
        for (; i < upper; i += L) {
            acc0 = FloatVector.fromArray(F, a, ao + i).fma(FloatVector.fromArray(F, b, bo + i), acc0);
        }
        float s = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) s += a[ao + i] * b[bo + i];
        return s;
    }

    /**
     * Four dot products sharing one weight row: w · x_r for rows r0..r0+3 of x (row stride k). Each weight vector is
     * loaded once for four FMAs, which is what makes prefill compute-bound rather than load-bound. Every row is
     * summed in exactly {@link #dotVector}'s order (two accumulators over alternating blocks, then the tail), so a
     * row's result does not depend on which rows share its batch: batched and alone agree to the bit.
     */
    static void dot4(float[] w, int wo, float[] x, int xo, int k, float[] out, int oo, int ostride) {
        if (!VECTOR) {
            for (int r = 0; r < 4; r++) out[oo + r * ostride] = dotScalar(x, xo + r * k, w, wo, k);
            return;
        }
        int L = F.length(), upper = F.loopBound(k);
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        FloatVector b0 = FloatVector.zero(F), b1 = FloatVector.zero(F), b2 = FloatVector.zero(F), b3 = FloatVector.zero(F);
        int i = 0;
        for (; i + 2 * L <= upper; i += 2 * L) {
            FloatVector w0 = FloatVector.fromArray(F, w, wo + i), w1 = FloatVector.fromArray(F, w, wo + i + L);
            a0 = FloatVector.fromArray(F, x, xo + i).fma(w0, a0);
            b0 = FloatVector.fromArray(F, x, xo + i + L).fma(w1, b0);
            a1 = FloatVector.fromArray(F, x, xo + k + i).fma(w0, a1);
            b1 = FloatVector.fromArray(F, x, xo + k + i + L).fma(w1, b1);
            a2 = FloatVector.fromArray(F, x, xo + 2 * k + i).fma(w0, a2);
            b2 = FloatVector.fromArray(F, x, xo + 2 * k + i + L).fma(w1, b2);
            a3 = FloatVector.fromArray(F, x, xo + 3 * k + i).fma(w0, a3);
            b3 = FloatVector.fromArray(F, x, xo + 3 * k + i + L).fma(w1, b3);
        }
        for (; i < upper; i += L) {
            FloatVector w0 = FloatVector.fromArray(F, w, wo + i);
            a0 = FloatVector.fromArray(F, x, xo + i).fma(w0, a0);
            a1 = FloatVector.fromArray(F, x, xo + k + i).fma(w0, a1);
            a2 = FloatVector.fromArray(F, x, xo + 2 * k + i).fma(w0, a2);
            a3 = FloatVector.fromArray(F, x, xo + 3 * k + i).fma(w0, a3);
        }
        float s0 = a0.add(b0).reduceLanes(VectorOperators.ADD), s1 = a1.add(b1).reduceLanes(VectorOperators.ADD);
        float s2 = a2.add(b2).reduceLanes(VectorOperators.ADD), s3 = a3.add(b3).reduceLanes(VectorOperators.ADD);
        for (; i < k; i++) {
            float wi = w[wo + i];
            s0 += x[xo + i] * wi;
            s1 += x[xo + k + i] * wi;
            s2 += x[xo + 2 * k + i] * wi;
            s3 += x[xo + 3 * k + i] * wi;
        }
        out[oo] = s0;
        out[oo + ostride] = s1;
        out[oo + 2 * ostride] = s2;
        out[oo + 3 * ostride] = s3;
    }

    /** x(n) · w[elem .. elem + n) where w is bf16 in a segment. */
    static float dotBf16(float[] x, int xo, MemorySegment w, long elem, int n) {
        return VECTOR ? dotBf16Vector(x, xo, w, elem, n) : dotBf16Scalar(x, xo, w, elem, n);
    }

    static float dotBf16Scalar(float[] x, int xo, MemorySegment w, long elem, int n) {
        float s = 0;
        for (int i = 0; i < n; i++) s += x[xo + i] * bf16(w.get(SHORT_LE, (elem + i) * 2));
        return s;
    }

    static float dotBf16Vector(float[] x, int xo, MemorySegment w, long elem, int n) {
        int L = F.length();
        int upper = F.loopBound(n);
        FloatVector acc0 = FloatVector.zero(F), acc1 = FloatVector.zero(F);
        long base = elem * 2;
        int i = 0;
        for (; i + 2 * L <= upper; i += 2 * L) {
            acc0 = widenBf16(w, base + i * 2L).fma(FloatVector.fromArray(F, x, xo + i), acc0);
            acc1 = widenBf16(w, base + (i + L) * 2L).fma(FloatVector.fromArray(F, x, xo + i + L), acc1);
        }
        for (; i < upper; i += L) {
            acc0 = widenBf16(w, base + i * 2L).fma(FloatVector.fromArray(F, x, xo + i), acc0);
        }
        float s = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) s += x[xo + i] * bf16(w.get(SHORT_LE, (elem + i) * 2));
        return s;
    }

    private static FloatVector widenBf16(MemorySegment w, long byteOffset) {
        ShortVector s = ShortVector.fromMemorySegment(S, w, byteOffset, ByteOrder.LITTLE_ENDIAN);
        IntVector i = (IntVector) s.convertShape(VectorOperators.S2I, I, 0);
        return i.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    static float bf16(short bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    /** Widens n elements of a BF16/F16/F32 segment starting at element {@code elem} into dst. */
    static void widen(MemorySegment w, DType type, long elem, float[] dst, int n) {
        switch (type) {
            case BF16 -> {
                int i = 0;
                if (VECTOR) {
                    int upper = F.loopBound(n);
                    for (; i < upper; i += F.length()) widenBf16(w, (elem + i) * 2).intoArray(dst, i);
                }
                for (; i < n; i++) dst[i] = bf16(w.get(SHORT_LE, (elem + i) * 2));
            }
            case F16 -> {
                for (int i = 0; i < n; i++) dst[i] = Float.float16ToFloat(w.get(SHORT_LE, (elem + i) * 2));
            }
            case F32 -> MemorySegment.copy(w, FLOAT_LE, elem * 4, dst, 0, n);
            default -> throw new IllegalArgumentException("not a float weight: " + type);
        }
    }

    // ---- elementwise ---------------------------------------------------------------------------------------

    /** y[i] += a * x[i]. */
    static void axpy(float a, float[] x, int xo, float[] y, int yo, int n) {
        int i = 0;
        if (VECTOR) {
            int upper = F.loopBound(n);
            FloatVector va = FloatVector.broadcast(F, a);
            for (; i < upper; i += F.length()) {
                FloatVector.fromArray(F, x, xo + i).fma(va, FloatVector.fromArray(F, y, yo + i)).intoArray(y, yo + i);
            }
        }
        for (; i < n; i++) y[yo + i] += a * x[xo + i];
    }

    /**
     * erf in double precision (Java has none): the Maclaurin series below 3, where its terms stay small enough
     * for cancellation to cost under 1e-13, and erfc's continued fraction above.
     */
    static double erf(double x) {
        double ax = Math.abs(x);
        double r;
        if (ax < 3.0) {
            double term = ax, sum = ax, x2 = ax * ax;
            for (int n = 1; n < 100 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
                term *= -x2 / n;
                sum += term / (2 * n + 1);
            }
            r = 2.0 / Math.sqrt(Math.PI) * sum;
        } else {
            double t = ax;
            for (int k = 60; k >= 1; k--) t = ax + (k / 2.0) / t;
            r = 1.0 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / t;
        }
        return x < 0 ? -r : r;
    }
}
