package io.vqwen.cuda;

import static io.vqwen.cuda.CudaDevice.f;

/** Launcher of rope.cu: q/k per-head RMSNorm + NeoX RoPE + KV write in one launch, or RoPE alone. */
final class RopeKernels {
    private final CudaDevice dev;

    RopeKernels(CudaDevice dev) {
        this.dev = dev;
    }

    private static void checkHeadDim(int headDim) {
        if (headDim % 2 != 0 || headDim > 256) throw new IllegalArgumentException("rope: head_dim " + headDim + " must be even and at most 256");
    }

    /** kCache = 0 skips the cache write. */
    void qkNormRopeKv(long q, long k, long v, long qNorm, long kNorm, long positions, long slots, long kCache, long vCache,
                      int tokens, int numHeads, int numKv, int headDim, float eps, float theta) {
        checkHeadDim(headDim);
        dev.launch("qk_norm_rope_kv", numHeads + numKv, tokens, 1, 32, 1, 1, q, k, v, qNorm, kNorm, positions, slots, kCache, vCache,
                numHeads, numKv, headDim, f(eps), f(theta), 1);
    }

    void rope(long x, long positions, int tokens, int heads, int headDim, float theta) {
        checkHeadDim(headDim);
        dev.launch("qk_norm_rope_kv", heads, tokens, 1, 32, 1, 1, x, 0, 0, 0, 0, positions, 0, 0, 0, heads, 0, headDim, f(0f), f(theta), 0);
    }
}
