package io.vqwen.cuda;

import static io.vqwen.cuda.CudaDevice.f;

/** Launchers of elementwise.cu: grid-stride loops over 8 elements per thread step. */
final class ElementwiseKernels {
    private static final int THREADS = 256;
    private final CudaDevice dev;
    private final int maxBlocks;

    ElementwiseKernels(CudaDevice dev) {
        this.dev = dev;
        this.maxBlocks = dev.multiprocessors * 16;
    }

    private int blocks(long n, int perThread) {
        long b = (n + (long) THREADS * perThread - 1) / ((long) THREADS * perThread);
        return (int) Math.max(1, Math.min(b, maxBlocks));
    }

    /** 1 when every address is 16-byte aligned: the kernels then move 8 bf16 per access. */
    static long vec(long... addresses) {
        for (long a : addresses) if ((a & 15) != 0) return 0;
        return 1;
    }

    void add(long out, long a, long b, long n) {
        dev.launch("add_bf16", blocks(n, 8), 1, 1, THREADS, 1, 1, out, a, b, n, vec(out, a, b));
    }

    void biasAdd(long x, long bias, long n, int cols) {
        long v = cols % 8 == 0 ? vec(x, bias) : 0;
        dev.launch("bias_add", blocks(n, 8), 1, 1, THREADS, 1, 1, x, bias, n, cols, v);
    }

    void quickGelu(long x, long n) {
        dev.launch("quick_gelu", blocks(n, 8), 1, 1, THREADS, 1, 1, x, n, vec(x));
    }

    void gelu(long x, long n) {
        dev.launch("gelu_erf", blocks(n, 8), 1, 1, THREADS, 1, 1, x, n, vec(x));
    }

    void siluMul(long out, long gate, long up, long n) {
        dev.launch("silu_mul", blocks(n, 8), 1, 1, THREADS, 1, 1, out, gate, up, n, vec(out, gate, up));
    }

    void f32ToBf16(long out, long in, long n) {
        dev.launch("f32_to_bf16", blocks(n, 1), 1, 1, THREADS, 1, 1, out, in, n);
    }

    void bf16ToF32(long out, long in, long n) {
        dev.launch("bf16_to_f32", blocks(n, 1), 1, 1, THREADS, 1, 1, out, in, n);
    }

    void f16ToBf16(long out, long in, long n) {
        dev.launch("f16_to_bf16", blocks(n, 1), 1, 1, THREADS, 1, 1, out, in, n);
    }

    void randomNormal(long out, long n, long seed, float mean, float std) {
        dev.launch("random_normal", blocks(n, 4), 1, 1, THREADS, 1, 1, out, n, seed, f(mean), f(std));
    }
}
