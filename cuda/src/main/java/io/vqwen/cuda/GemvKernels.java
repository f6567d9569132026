package io.vqwen.cuda;

/**
 * Launchers of gemv.cu, the decode-time products for n <= 8 rows: one warp per weight row, 8 rows per block.
 * {@link #fits} says when they apply (k a multiple of 8, 16-byte aligned operands); otherwise cuBLAS runs.
 */
final class GemvKernels {
    // Each warp reads the weight row once but x once per row of x (from L1): past 4 rows L1 limits, and cuBLAS wins.
    static final int MAX_ROWS = 4;
    private static final int WARPS = 8;
    private final CudaDevice dev;

    private final int maxBlocks;

    GemvKernels(CudaDevice dev) {
        this.dev = dev;
        this.maxBlocks = dev.multiprocessors * 4; // 4 blocks of 8 warps per SM; the kernels loop over the rest
    }

    static boolean fits(int n, int k, long... addresses) {
        return n >= 1 && n <= MAX_ROWS && k % 8 == 0 && ElementwiseKernels.vec(addresses) == 1;
    }

    private int blocks(long rows) {
        return (int) Math.min((rows + WARPS - 1) / WARPS, maxBlocks);
    }

    /** out(n, m) = x(n, k) . w(m, k)^T + bias; out bf16, or float32 when f32Out. */
    void gemv(long out, boolean f32Out, long x, long w, long bias, int n, int m, int k) {
        dev.launch((f32Out ? "gemv_f32_n" : "gemv_bf16_n") + n, blocks(m), 1, 1, WARPS * 32, 1, 1, out, x, w, bias, m, k);
    }

    /** Up to three weights sharing x (unused ones with m = 0). */
    void gemv3(long o0, long w0, int m0, long o1, long w1, int m1, long o2, long w2, int m2, long x, int n, int k) {
        dev.launch("gemv3_n" + n, blocks((long) m0 + m1 + m2), 1, 1, WARPS * 32, 1, 1, o0, w0, m0, o1, w1, m1, o2, w2, m2, x, k);
    }

    /** out(n, m) = silu(x . gate^T) * (x . up^T). */
    void swiglu(long out, long x, long gate, long up, int n, int m, int k) {
        dev.launch("gemv_swiglu_n" + n, blocks(m), 1, 1, WARPS * 32, 1, 1, out, x, gate, up, m, k);
    }
}
