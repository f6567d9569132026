package io.vqwen.cuda;

import io.vqwen.engine.backend.Tensor;
import io.vqwen.engine.safetensors.DType;
import io.vqwen.engine.safetensors.TensorView;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Assumptions;

/** Test helpers: a CUDA backend or an explicit skip, bf16-exact random data, and error measures. */
final class Gpu {
    private Gpu() {
    }

    /** Why no GPU could be opened (null once one was). */
    static volatile String missing;
    /** The last backend opened (null when none could be). */
    static volatile CudaBackend current;

    /** Opens the device, or returns null and records why (CI has no GPU); tests then skip with {@link #require}. */
    static CudaBackend open(boolean graphs) {
        try {
            CudaBackend b = new CudaBackend(Integer.getInteger("vqwen.cuda.device", 0), graphs);
            missing = null;
            current = b;
            return b;
        } catch (Throwable t) {
            // JCuda's link errors span several lines; the last one names what is missing (e.g. libcuda.so.1).
            // (A second attempt in the same JVM only sees "Could not initialize class": keep the first reason.)
            if (missing == null) {
                missing = t.toString().lines().filter(l -> l.contains("Error") && !l.startsWith("\t") && !l.startsWith("---"))
                        .reduce((a, b) -> b).orElse(t.toString());
            }
            System.out.println("GPU tests skipped: no CUDA device: " + missing);
            current = null;
            return null;
        }
    }

    /** Skips the calling test, with the reason, when there is no GPU. */
    static void require(CudaBackend gpu) {
        Assumptions.assumeTrue(gpu != null, () -> "no CUDA device: " + missing);
    }

    /** Values rounded to bf16, so the bf16 GPU and the float32 CPU start from identical inputs. */
    static float[] randn(SplittableRandom rnd, int n, float std, float mean) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            double u = 1.0 - rnd.nextDouble(), w = rnd.nextDouble();
            float x = (float) (mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * w));
            v[i] = bf16(x);
        }
        return v;
    }

    static float bf16(float x) {
        int bits = Float.floatToRawIntBits(x);
        bits += 0x7fff + ((bits >>> 16) & 1); // round to nearest even
        return Float.intBitsToFloat(bits & 0xffff0000);
    }

    private static final Arena ARENA = Arena.ofShared();

    /** A bf16 checkpoint tensor in memory, as the safetensors reader would hand it over. */
    static TensorView bf16View(String name, float[] data, long... shape) {
        MemorySegment seg = ARENA.allocate(data.length * 2L, 16);
        ValueLayout.OfShort le = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < data.length; i++) seg.set(le, i * 2L, (short) (Float.floatToRawIntBits(bf16(data[i])) >>> 16));
        return new TensorView(name, DType.BF16, shape, seg);
    }

    static double relL2(float[] out, float[] ref) {
        if (out.length != ref.length) throw new AssertionError("length " + out.length + " != " + ref.length);
        double num = 0, den = 0;
        for (int i = 0; i < ref.length; i++) {
            if (Float.isNaN(out[i])) return Double.NaN;
            double d = out[i] - ref[i];
            num += d * d;
            den += (double) ref[i] * ref[i];
        }
        return Math.sqrt(num / Math.max(den, 1e-30));
    }

    static Path repoRoot() {
        Path p = Path.of("").toAbsolutePath();
        while (p != null && !Files.isDirectory(p.resolve("testdata"))) p = p.getParent();
        if (p == null) throw new IllegalStateException("testdata/ not found above " + Path.of("").toAbsolutePath());
        return p;
    }

    static void free(io.vqwen.engine.backend.Backend b, Tensor... ts) {
        for (Tensor t : ts) b.free(t);
    }
}
