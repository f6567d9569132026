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

    /** Exact-erf GELU. Java has no erf; W. J. Cody's rational approximation, accurate to double precision. */
    static double erf(double x) {
        double ax = Math.abs(x);
        double r;
        if (ax < 0.5) {
            double t = x * x;
            double top = (((0.185777706184603153 * t + 3.16112374387056560) * t + 113.864154151050156) * t
                    + 377.485237685302021) * t + 3209.37758913846947;
            double bot = (((t + 23.6012909523441209) * t + 244.024637934444173) * t + 1282.61652607737228) * t
                    + 2844.23683343917062;
            return x * top / bot;
        } else if (ax < 4.0) {
            double top = (((((((5.64188496988670089e-1 * ax + 8.88314979438837594) * ax + 66.1191906371416295) * ax
                    + 298.635138197400131) * ax + 881.952221241769090) * ax + 1712.04761263407058) * ax
                    + 2051.07837782607147) * ax + 1230.33935479799725) * ax + 2.15311535474403846e-8;
            double bot = (((((((ax + 15.7449261107098347) * ax + 117.693950891312499) * ax + 537.181101862009858) * ax
                    + 1621.38957456669019) * ax + 3290.79923573345963) * ax + 4362.61909014324716) * ax
                    + 3439.36767414372164) * ax + 1230.33935479795157;
            r = Math.exp(-ax * ax) * top / bot;
        } else {
            double z = 1.0 / (ax * ax);
            double top = ((((1.63153871373020978e-2 * z + 3.05326634961232344e-1) * z + 3.60344899949804439e-1) * z
                    + 1.25781726111229246e-1) * z + 1.60837851487422766e-2) * z + 6.58749161529837803e-4;
            double bot = ((((z + 2.56852019228982242) * z + 1.87295284992346725) * z + 5.27905102951428412e-1) * z
                    + 6.05183413124413191e-2) * z + 2.33520497626869185e-3;
            r = Math.exp(-ax * ax) / ax * (0.5641895835477563 - z * top / bot);
        }
        return x < 0 ? r - 1.0 : 1.0 - r;
    }
}
