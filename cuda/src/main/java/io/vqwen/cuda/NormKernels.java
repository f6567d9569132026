package io.vqwen.cuda;

import static io.vqwen.cuda.CudaDevice.f;

/** Launchers of norm.cu: RMSNorm (whole rows or per-head groups), RMSNorm fused with the residual add, LayerNorm. */
final class NormKernels {
    private final CudaDevice dev;

    NormKernels(CudaDevice dev) {
        this.dev = dev;
    }

    /** One block per row: enough threads to cover the row, at most 256 (a 2560-wide row is 10 elements each). */
    static int threadsFor(int d) {
        return Math.min(256, Math.max(32, (d + 31) / 32 * 32));
    }

    void rmsNorm(long out, long x, long gamma, long groups, int group, float eps) {
        dev.launch("rms_norm", Math.toIntExact(groups), 1, 1, threadsFor(group), 1, 1, out, x, gamma, group, f(eps));
    }

    void addRmsNorm(long residual, long out, long x, long gamma, int rows, int d, float eps) {
        // 16-byte path: a thread per 8 elements (up to 1024 threads of at most 4 chunks), the row held in registers
        boolean vec = d % 8 == 0 && d <= 4 * 8 * 1024 && ElementwiseKernels.vec(residual, out, x, gamma) == 1;
        int threads = vec ? Math.min(1024, Math.max(32, (d / 8 + 31) / 32 * 32)) : threadsFor(d);
        dev.launch("add_rms_norm", rows, 1, 1, threads, 1, 1, residual, out, x, gamma, d, f(eps), vec ? 1 : 0);
    }

    void layerNorm(long out, long x, long gamma, long beta, int rows, int d, float eps) {
        dev.launch("layer_norm", rows, 1, 1, threadsFor(d), 1, 1, out, x, gamma, beta, d, f(eps));
    }
}
