// Normalisations: RMSNorm (HF Qwen3RMSNorm), RMSNorm fused with the residual add of the pre-norm stream, and
// LayerNorm (CLIP). One block per row (or per group for per-head norms); float32 statistics.
#include "common.cuh"

// out = gamma * x * rsqrt(mean(x^2) + eps) over each group of `group` elements; out may be x.
extern "C" __global__ void rms_norm(bf16* out, const bf16* x, const bf16* gamma, int group, float eps) {
    const size_t base = (size_t)blockIdx.x * group;
    float ss = 0.f;
    for (int j = threadIdx.x; j < group; j += blockDim.x) {
        float v = to_f(x[base + j]);
        ss += v * v;
    }
    ss = block_sum(ss);
    const float inv = rsqrtf(ss / group + eps);
    for (int j = threadIdx.x; j < group; j += blockDim.x) {
        out[base + j] = from_f<bf16>(to_f(gamma[j]) * (to_f(x[base + j]) * inv));
    }
}

// residual += x (rounded to bf16, as the bf16 model stores it); out = RMSNorm(residual). With vec (d % 8 == 0,
// rows 16-byte aligned) each thread moves 8 elements per 16-byte access and keeps its up to 4 chunks in registers
// between the two passes, so a decode-sized row costs three dependent memory round trips, not a loop of them.
#define ARN_CHUNKS 4
extern "C" __global__ void add_rms_norm(bf16* residual, bf16* out, const bf16* x, const bf16* gamma, int d, float eps, int vec) {
    const size_t base = (size_t)blockIdx.x * d;
    if (vec) {
        float v[ARN_CHUNKS][8];
        float ss = 0.f;
#pragma unroll
        for (int i = 0; i < ARN_CHUNKS; i++) {
            const int c = (threadIdx.x + i * blockDim.x) * 8;
            if (c < d) {
                float r[8], a[8];
                load8(residual + base + c, r);
                load8(x + base + c, a);
#pragma unroll
                for (int e = 0; e < 8; e++) r[e] += a[e];
                const uint4 packed = pack8(r);
                *reinterpret_cast<uint4*>(residual + base + c) = packed;
                unpack8(packed, v[i]);
#pragma unroll
                for (int e = 0; e < 8; e++) ss += v[i][e] * v[i][e];
            }
        }
        ss = block_sum(ss);
        const float inv = rsqrtf(ss / d + eps);
#pragma unroll
        for (int i = 0; i < ARN_CHUNKS; i++) {
            const int c = (threadIdx.x + i * blockDim.x) * 8;
            if (c < d) {
                float g[8];
                load8(gamma + c, g);
#pragma unroll
                for (int e = 0; e < 8; e++) g[e] *= v[i][e] * inv;
                *reinterpret_cast<uint4*>(out + base + c) = pack8(g);
            }
        }
        return;
    }
    float ss = 0.f;
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        bf16 r = from_f<bf16>(to_f(residual[base + j]) + to_f(x[base + j]));
        residual[base + j] = r;
        float v = to_f(r);
        ss += v * v;
    }
    ss = block_sum(ss);
    const float inv = rsqrtf(ss / d + eps);
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        out[base + j] = from_f<bf16>(to_f(gamma[j]) * (to_f(residual[base + j]) * inv));
    }
}

// out = (x - mean) / sqrt(var + eps) * gamma + beta per row (two-pass statistics); out may be x.
extern "C" __global__ void layer_norm(bf16* out, const bf16* x, const bf16* gamma, const bf16* beta, int d, float eps) {
    const size_t base = (size_t)blockIdx.x * d;
    float s = 0.f;
    for (int j = threadIdx.x; j < d; j += blockDim.x) s += to_f(x[base + j]);
    const float mean = block_sum(s) / d;
    float v = 0.f;
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        float t = to_f(x[base + j]) - mean;
        v += t * t;
    }
    const float inv = rsqrtf(block_sum(v) / d + eps);
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        out[base + j] = from_f<bf16>((to_f(x[base + j]) - mean) * inv * to_f(gamma[j]) + to_f(beta[j]));
    }
}
