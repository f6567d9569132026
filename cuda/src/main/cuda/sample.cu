// Token choice on the device, so a decode step returns ids (4 bytes per sequence) instead of logits
// (600 KB per sequence). One block per row of logits.
//   argmax_rows: greedy; ties go to the lowest id, as torch.argmax.
//   sample_rows: a draw from softmax(logits / temperature) by the Gumbel-max trick (argmax of logits / T + Gumbel
//                noise), one pass and no sort; temperature <= 0 means greedy for that row.
#include "common.cuh"

#define SAMPLE_THREADS 1024

__device__ __forceinline__ void better(float& bv, int& bi, float v, int i) {
    if (v > bv || (v == bv && i < bi)) {
        bv = v;
        bi = i;
    }
}

// Block-wide (value, index) max; every thread returns the winning index.
__device__ __forceinline__ int block_argmax(float bv, int bi) {
    __shared__ float sv[32];
    __shared__ int si[32];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(FULL_MASK, bv, o);
        const int oi = __shfl_xor_sync(FULL_MASK, bi, o);
        better(bv, bi, ov, oi);
    }
    if ((threadIdx.x & 31) == 0) {
        sv[threadIdx.x >> 5] = bv;
        si[threadIdx.x >> 5] = bi;
    }
    __syncthreads();
    float v = sv[0];
    int idx = si[0];
    for (int w = 1; w < (int)(blockDim.x >> 5); w++) better(v, idx, sv[w], si[w]);
    return idx;
}

template <typename T>
__device__ __forceinline__ void argmax_row(int* out, const T* logits, int vocab) {
    const T* row = logits + (size_t)blockIdx.x * vocab;
    float bv = -INFINITY;
    int bi = 0x7fffffff;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) better(bv, bi, to_f(row[i]), i);
    const int idx = block_argmax(bv, bi);
    if (threadIdx.x == 0) out[blockIdx.x] = idx;
}

extern "C" __global__ void argmax_rows_f32(int* out, const float* logits, int vocab) { argmax_row<float>(out, logits, vocab); }
extern "C" __global__ void argmax_rows_bf16(int* out, const bf16* logits, int vocab) { argmax_row<bf16>(out, logits, vocab); }

__device__ __forceinline__ unsigned long long mix64(unsigned long long z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// seeds[row] keys the row's noise (the caller advances it every step).
extern "C" __global__ void sample_rows_f32(int* out, const float* logits, int vocab, const float* temperature,
                                           const unsigned long long* seeds) {
    const float* row = logits + (size_t)blockIdx.x * vocab;
    const float t = temperature[blockIdx.x];
    const unsigned long long seed = seeds[blockIdx.x];
    float bv = -INFINITY;
    int bi = 0x7fffffff;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        float v = row[i];
        if (t > 0.f) {
            const unsigned long long h = mix64(seed ^ mix64((unsigned long long)i));
            const float u = ((unsigned)(h >> 40) + 1u) * (1.f / 16777217.f);  // (0, 1)
            v = v / t - logf(-logf(u));
        }
        better(bv, bi, v, i);
    }
    const int idx = block_argmax(bv, bi);
    if (threadIdx.x == 0) out[blockIdx.x] = idx;
}
