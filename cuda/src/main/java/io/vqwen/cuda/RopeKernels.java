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
    /** kCache = 0 skips the cache write; invFreq is {@link #invFreq}'s table on the device. */
    void qkNormRopeKv(long q, long k, long v, long qNorm, long kNorm, long positions, long slots, long kCache, long vCache, long invFreq,
                      int tokens, int numHeads, int numKv, int headDim, float eps) {
        checkHeadDim(headDim);
        dev.launch("qk_norm_rope_kv", numHeads + numKv, tokens, 1, 32, 1, 1, q, k, v, qNorm, kNorm, positions, slots, kCache, vCache,
                invFreq, numHeads, numKv, headDim, f(eps), 1);
    }

    void rope(long x, long positions, long invFreq, int tokens, int heads, int headDim) {
        checkHeadDim(headDim);
        dev.launch("qk_norm_rope_kv", heads, tokens, 1, 32, 1, 1, x, 0, 0, 0, 0, positions, 0, 0, 0, invFreq, heads, 0, headDim, f(0f), 0);
    }

    /** HF's inv_freq = 1 / theta^(2p / hd) for p < hd / 2, each rounded to float32 (as the CPU backend computes it). */
    static float[] invFreq(float theta, int headDim) {
        float[] f = new float[headDim / 2];
        for (int p = 0; p < f.length; p++) f[p] = (float) (1.0 / Math.pow(theta, (float) (2 * p) / (float) headDim));
        return f;
    }
}
