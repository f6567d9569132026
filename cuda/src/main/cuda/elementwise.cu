// Elementwise ops: add, bias add, quick_gelu (CLIP), exact-erf GELU (LLaVA projector), SwiGLU's silu(gate) * up,
// dtype conversions and seeded normal weights. Grid-stride loops over 8 elements per step: one 16-byte access
// when `vec` says every pointer is 16-byte aligned, scalar otherwise and for the tail.
#include "common.cuh"

#define FOR_EACH8(n)                                                                                       \
    for (long long i = ((long long)blockIdx.x * blockDim.x + threadIdx.x) * 8; i < (n);                    \
         i += (long long)gridDim.x * blockDim.x * 8)

// out = a + b; out may alias a or b.
extern "C" __global__ void add_bf16(bf16* out, const bf16* a, const bf16* b, long long n, int vec) {
    FOR_EACH8(n) {
        if (vec && i + 8 <= n) {
            float x[8], y[8];
            load8(a + i, x);
            load8(b + i, y);
#pragma unroll
            for (int j = 0; j < 8; j++) x[j] += y[j];
            *reinterpret_cast<uint4*>(out + i) = pack8(x);
        } else {
            for (long long j = i; j < i + 8 && j < n; j++) out[j] = from_f<bf16>(to_f(a[j]) + to_f(b[j]));
        }
    }
}

// x(rows, cols) += bias(cols) broadcast over rows; vec also requires cols % 8 == 0.
extern "C" __global__ void bias_add(bf16* x, const bf16* bias, long long n, int cols, int vec) {
    FOR_EACH8(n) {
        if (vec && i + 8 <= n) {
            float v[8], b[8];
            load8(x + i, v);
            load8(bias + (int)(i % cols), b);
#pragma unroll
            for (int j = 0; j < 8; j++) v[j] += b[j];
            *reinterpret_cast<uint4*>(x + i) = pack8(v);
        } else {
            for (long long j = i; j < i + 8 && j < n; j++) x[j] = from_f<bf16>(to_f(x[j]) + to_f(bias[(int)(j % cols)]));
        }
    }
}

__device__ __forceinline__ float quick_gelu_f(float v) { return v / (1.f + expf(-1.702f * v)); }
__device__ __forceinline__ float gelu_erf_f(float v) { return 0.5f * v * (1.f + erff(v * 0.70710678118654752f)); }

// x * sigmoid(1.702 x) in place (HF quick_gelu).
extern "C" __global__ void quick_gelu(bf16* x, long long n, int vec) {
    FOR_EACH8(n) {
        if (vec && i + 8 <= n) {
            float v[8];
            load8(x + i, v);
#pragma unroll
            for (int j = 0; j < 8; j++) v[j] = quick_gelu_f(v[j]);
            *reinterpret_cast<uint4*>(x + i) = pack8(v);
        } else {
            for (long long j = i; j < i + 8 && j < n; j++) x[j] = from_f<bf16>(quick_gelu_f(to_f(x[j])));
        }
    }
}

// 0.5 x (1 + erf(x / sqrt 2)) in place (HF "gelu").
extern "C" __global__ void gelu_erf(bf16* x, long long n, int vec) {
    FOR_EACH8(n) {
        if (vec && i + 8 <= n) {
            float v[8];
            load8(x + i, v);
#pragma unroll
            for (int j = 0; j < 8; j++) v[j] = gelu_erf_f(v[j]);
            *reinterpret_cast<uint4*>(x + i) = pack8(v);
        } else {
            for (long long j = i; j < i + 8 && j < n; j++) x[j] = from_f<bf16>(gelu_erf_f(to_f(x[j])));
        }
    }
}

// out = silu(gate) * up; out may alias gate or up.
extern "C" __global__ void silu_mul(bf16* out, const bf16* gate, const bf16* up, long long n, int vec) {
    FOR_EACH8(n) {
        if (vec && i + 8 <= n) {
            float g[8], u[8];
            load8(gate + i, g);
            load8(up + i, u);
#pragma unroll
            for (int j = 0; j < 8; j++) g[j] = silu(g[j]) * u[j];
            *reinterpret_cast<uint4*>(out + i) = pack8(g);
        } else {
            for (long long j = i; j < i + 8 && j < n; j++) out[j] = from_f<bf16>(silu(to_f(gate[j])) * to_f(up[j]));
        }
    }
}

extern "C" __global__ void f32_to_bf16(bf16* out, const float* in, long long n) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        out[i] = from_f<bf16>(in[i]);
}

extern "C" __global__ void bf16_to_f32(float* out, const bf16* in, long long n) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        out[i] = to_f(in[i]);
}

// IEEE half bits -> bf16 (F16 checkpoints).
extern "C" __global__ void f16_to_bf16(bf16* out, const unsigned short* in, long long n) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        unsigned short h = in[i];
        unsigned sign = (h >> 15) & 1u, exp = (h >> 10) & 31u, man = h & 1023u;
        float f;
        if (exp == 0) f = ldexpf((float)man, -24);               // zero and subnormals
        else if (exp == 31) f = man ? NAN : INFINITY;
        else f = ldexpf((float)(man | 1024u), (int)exp - 25);
        out[i] = from_f<bf16>(sign ? -f : f);
    }
}

// SplitMix64: a counter-based hash, so element i's value depends on (seed, i) alone, whatever the launch shape.
__device__ __forceinline__ unsigned long long splitmix64(unsigned long long z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// out[i] = mean + std * N(0, 1) by Box-Muller on two 32-bit uniforms of hash(seed, i).
extern "C" __global__ void random_normal(bf16* out, long long n, unsigned long long seed, float mean, float std) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        unsigned long long h = splitmix64(seed ^ splitmix64((unsigned long long)i));
        float u1 = ((unsigned)(h >> 40) + 1u) * (1.f / 16777217.f);  // (0, 1]
        float u2 = ((unsigned)(h & 0xFFFFFFu)) * (1.f / 16777216.f);  // [0, 1)
        float z = sqrtf(-2.f * logf(u1)) * cospif(2.f * u2);
        out[i] = from_f<bf16>(mean + std * z);
    }
}
