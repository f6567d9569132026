// Skinny matmuls for decode (n <= 8 rows of x): out(n, m) = x(n, k) . W(m, k)^T. Memory-bound: every weight
// byte is read once per step, so each warp streams one weight row with 16-byte loads, four in flight per lane,
// and keeps N float32 accumulators (one per x row); x stays in L1/L2. Requires k % 8 == 0 and 16-byte aligned
// rows (checked by the launcher; otherwise cuBLAS runs the product).
//   gemv_<out>_n<N>:  one weight, optional bias, bf16 or float32 output (logits)
//   gemv3_n<N>:       up to three weights sharing x (q, k and v projections) in one launch
//   gemv_swiglu_n<N>: gate and up rows together, writing silu(x.gate) * (x.up) (Qwen3MLP before down_proj)
#include "common.cuh"

#define GEMV_WARPS 8
#define GEMV_UNROLL 4

// acc[i] += sum over k of w[.] * x_i[.] for this lane's share of k (lane-strided 8-element chunks).
template <int N>
__device__ __forceinline__ void dot_row(const bf16* __restrict__ w, const bf16* __restrict__ x, int k, float acc[N]) {
    const int lane = threadIdx.x & 31;
    const int chunks = k >> 3;
    const uint4* w4 = reinterpret_cast<const uint4*>(w);
    int c = lane;
    for (; c + 32 * (GEMV_UNROLL - 1) < chunks; c += 32 * GEMV_UNROLL) {
        uint4 wv[GEMV_UNROLL];
#pragma unroll
        for (int u = 0; u < GEMV_UNROLL; u++) wv[u] = __ldg(w4 + c + 32 * u);
#pragma unroll
        for (int u = 0; u < GEMV_UNROLL; u++) {
            float wf[8];
            unpack8(wv[u], wf);
#pragma unroll
            for (int i = 0; i < N; i++) {
                float xf[8];
                load8(x + (size_t)i * k + (size_t)(c + 32 * u) * 8, xf);
#pragma unroll
                for (int j = 0; j < 8; j++) acc[i] = fmaf(wf[j], xf[j], acc[i]);
            }
        }
    }
    for (; c < chunks; c += 32) {
        float wf[8];
        unpack8(__ldg(w4 + c), wf);
#pragma unroll
        for (int i = 0; i < N; i++) {
            float xf[8];
            load8(x + (size_t)i * k + (size_t)c * 8, xf);
#pragma unroll
            for (int j = 0; j < 8; j++) acc[i] = fmaf(wf[j], xf[j], acc[i]);
        }
    }
}

// Same for two weight rows (gate and up) at once: twice the loads in flight.
template <int N>
__device__ __forceinline__ void dot_row2(const bf16* __restrict__ w0, const bf16* __restrict__ w1,
                                         const bf16* __restrict__ x, int k, float a0[N], float a1[N]) {
    const int lane = threadIdx.x & 31;
    const int chunks = k >> 3;
    const uint4* g4 = reinterpret_cast<const uint4*>(w0);
    const uint4* u4 = reinterpret_cast<const uint4*>(w1);
    int c = lane;
    for (; c + 32 < chunks; c += 64) {
        uint4 g[2], u[2];
#pragma unroll
        for (int r = 0; r < 2; r++) {
            g[r] = __ldg(g4 + c + 32 * r);
            u[r] = __ldg(u4 + c + 32 * r);
        }
#pragma unroll
        for (int r = 0; r < 2; r++) {
            float gf[8], uf[8];
            unpack8(g[r], gf);
            unpack8(u[r], uf);
#pragma unroll
            for (int i = 0; i < N; i++) {
                float xf[8];
                load8(x + (size_t)i * k + (size_t)(c + 32 * r) * 8, xf);
#pragma unroll
                for (int j = 0; j < 8; j++) {
                    a0[i] = fmaf(gf[j], xf[j], a0[i]);
                    a1[i] = fmaf(uf[j], xf[j], a1[i]);
                }
            }
        }
    }
    for (; c < chunks; c += 32) {
        float gf[8], uf[8];
        unpack8(__ldg(g4 + c), gf);
        unpack8(__ldg(u4 + c), uf);
#pragma unroll
        for (int i = 0; i < N; i++) {
            float xf[8];
            load8(x + (size_t)i * k + (size_t)c * 8, xf);
#pragma unroll
            for (int j = 0; j < 8; j++) {
                a0[i] = fmaf(gf[j], xf[j], a0[i]);
                a1[i] = fmaf(uf[j], xf[j], a1[i]);
            }
        }
    }
}

template <int N, typename OutT>
__device__ __forceinline__ void gemv_row(OutT* __restrict__ out, const bf16* __restrict__ x, const bf16* __restrict__ w,
                                         const bf16* __restrict__ bias, int m, int k, int row) {
    float acc[N];
#pragma unroll
    for (int i = 0; i < N; i++) acc[i] = 0.f;
    dot_row<N>(w + (size_t)row * k, x, k, acc);
    const float b = bias == nullptr ? 0.f : to_f(bias[row]);
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int i = 0; i < N; i++) {
        const float s = warp_sum(acc[i]);
        if (lane == i) out[(size_t)i * m + row] = from_f<OutT>(s + b);
    }
}

// Rows are dealt to warps grid-stride: the launcher sizes the grid to the GPU, so every multiprocessor streams
// the same share of the weights (with one block per 8 rows, a 2560-row matrix left some SMs 3 blocks, others 2).
#define FOR_EACH_ROW(total) \
    for (int row = blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5); row < (total); row += gridDim.x * GEMV_WARPS)

template <int N, typename OutT>
__device__ __forceinline__ void gemv(OutT* out, const bf16* x, const bf16* w, const bf16* bias, int m, int k) {
    FOR_EACH_ROW(m) gemv_row<N, OutT>(out, x, w, bias, m, k, row);
}

// Rows [0, m0) of w0 -> o0, the next m1 of w1 -> o1, the next m2 of w2 -> o2.
template <int N>
__device__ __forceinline__ void gemv3(bf16* o0, const bf16* w0, int m0, bf16* o1, const bf16* w1, int m1,
                                      bf16* o2, const bf16* w2, int m2, const bf16* x, int k) {
    FOR_EACH_ROW(m0 + m1 + m2) {
        if (row < m0) gemv_row<N, bf16>(o0, x, w0, nullptr, m0, k, row);
        else if (row < m0 + m1) gemv_row<N, bf16>(o1, x, w1, nullptr, m1, k, row - m0);
        else gemv_row<N, bf16>(o2, x, w2, nullptr, m2, k, row - m0 - m1);
    }
}

template <int N>
__device__ __forceinline__ void gemv_swiglu(bf16* out, const bf16* x, const bf16* gate, const bf16* up, int m, int k) {
    FOR_EACH_ROW(m) {
        float g[N], u[N];
#pragma unroll
        for (int i = 0; i < N; i++) g[i] = u[i] = 0.f;
        dot_row2<N>(gate + (size_t)row * k, up + (size_t)row * k, x, k, g, u);
        const int lane = threadIdx.x & 31;
#pragma unroll
        for (int i = 0; i < N; i++) {
            const float gs = warp_sum(g[i]);
            const float us = warp_sum(u[i]);
            if (lane == i) out[(size_t)i * m + row] = from_f<bf16>(silu(gs) * us);
        }
    }
}

#define GEMV_KERNELS(N)                                                                                             \
    extern "C" __global__ void __launch_bounds__(GEMV_WARPS * 32)                                                   \
        gemv_bf16_n##N(bf16* out, const bf16* x, const bf16* w, const bf16* bias, int m, int k) {                  \
        gemv<N, bf16>(out, x, w, bias, m, k);                                                                       \
    }                                                                                                               \
    extern "C" __global__ void __launch_bounds__(GEMV_WARPS * 32)                                                   \
        gemv_f32_n##N(float* out, const bf16* x, const bf16* w, const bf16* bias, int m, int k) {                  \
        gemv<N, float>(out, x, w, bias, m, k);                                                                      \
    }                                                                                                               \
    extern "C" __global__ void __launch_bounds__(GEMV_WARPS * 32)                                                   \
        gemv3_n##N(bf16* o0, const bf16* w0, int m0, bf16* o1, const bf16* w1, int m1, bf16* o2, const bf16* w2,   \
                   int m2, const bf16* x, int k) {                                                                  \
        gemv3<N>(o0, w0, m0, o1, w1, m1, o2, w2, m2, x, k);                                                         \
    }                                                                                                               \
    extern "C" __global__ void __launch_bounds__(GEMV_WARPS * 32)                                                   \
        gemv_swiglu_n##N(bf16* out, const bf16* x, const bf16* gate, const bf16* up, int m, int k) {               \
        gemv_swiglu<N>(out, x, gate, up, m, k);                                                                     \
    }

GEMV_KERNELS(1)
GEMV_KERNELS(2)
GEMV_KERNELS(3)
GEMV_KERNELS(4)
GEMV_KERNELS(5)
GEMV_KERNELS(6)
GEMV_KERNELS(7)
GEMV_KERNELS(8)
