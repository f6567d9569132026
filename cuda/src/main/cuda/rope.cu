// Qwen3Attention's prologue in one launch: per-head RMSNorm of q and k (q_norm, k_norm), NeoX rotate-half RoPE
// at each token's position, and the write of k and v into the paged cache. One warp per (head, token); each lane
// holds pairs (p, p + headDim/2), the two halves RoPE rotates together.
#include "common.cuh"

#define MAX_PAIRS_PER_LANE 4  // head_dim <= 256

// grid (numHeads + numKvHeads, numTokens), block 32. q (tokens, numHeads * hd), k and v (tokens, numKv * hd).
// doNorm = 0 skips the RMSNorm (plain RoPE); kcache = null skips the KV write. Rows whose slot is negative are
// batch padding: they are rotated but not written.
// invFreq (hd / 2): 1 / theta^(2p / hd) rounded to float32 once on the host, as HF's inv_freq.
extern "C" __global__ void qk_norm_rope_kv(bf16* q, bf16* k, const bf16* v, const bf16* qw, const bf16* kw,
                                           const int* positions, const int* slots, bf16* kcache, bf16* vcache,
                                           const float* invFreq, int numHeads, int numKv, int hd, float eps, int doNorm) {
    const int h = blockIdx.x, t = blockIdx.y, lane = threadIdx.x, half = hd / 2;
    const bool isQ = h < numHeads;
    const int kvh = h - numHeads;
    bf16* x = isQ ? q + ((size_t)t * numHeads + h) * hd : k + ((size_t)t * numKv + kvh) * hd;
    const bf16* w = isQ ? qw : kw;
    float a[MAX_PAIRS_PER_LANE], b[MAX_PAIRS_PER_LANE];
    float ss = 0.f;
#pragma unroll
    for (int i = 0; i < MAX_PAIRS_PER_LANE; i++) {
        const int p = lane + 32 * i;
        a[i] = b[i] = 0.f;
        if (p < half) {
            a[i] = to_f(x[p]);
            b[i] = to_f(x[p + half]);
            ss += a[i] * a[i] + b[i] * b[i];
        }
    }
    if (doNorm) {
        ss = warp_sum(ss);
        const float inv = rsqrtf(ss / hd + eps);
#pragma unroll
        for (int i = 0; i < MAX_PAIRS_PER_LANE; i++) {
            const int p = lane + 32 * i;
            if (p < half) {
                a[i] = to_f(w[p]) * (a[i] * inv);
                b[i] = to_f(w[p + half]) * (b[i] * inv);
            }
        }
    }
    const float pos = (float)positions[t];
    const int slot = slots == nullptr ? -1 : slots[t];
#pragma unroll
    for (int i = 0; i < MAX_PAIRS_PER_LANE; i++) {
        const int p = lane + 32 * i;
        if (p < half) {
            // HF: freqs = pos * inv_freq in float32; sinf/cosf reduce large arguments exactly.
            const float f = pos * invFreq[p];
            const float s = sinf(f), c = cosf(f);
            const bf16 ra = from_f<bf16>(a[i] * c - b[i] * s);
            const bf16 rb = from_f<bf16>(b[i] * c + a[i] * s);
            x[p] = ra;
            x[p + half] = rb;
            if (!isQ && kcache != nullptr && slot >= 0) {
                const size_t dst = ((size_t)slot * numKv + kvh) * hd;
                const size_t src = ((size_t)t * numKv + kvh) * hd;
                kcache[dst + p] = ra;
                kcache[dst + p + half] = rb;
                vcache[dst + p] = v[src + p];
                vcache[dst + p + half] = v[src + p + half];
            }
        }
    }
}
