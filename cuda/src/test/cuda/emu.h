// A CPU emulation of the CUDA C++ subset the vqwen kernels use, for testing them on a machine without a GPU.
// Blocks run one after another; the threads of a block run as real std::threads with real barriers, so a
// missing __syncthreads, a wrong index or a shuffle outside converged code shows up (as a wrong result or a hang)
// instead of passing by luck. Shared memory is `static`, which is right because blocks never run concurrently.
#pragma once
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>
#include <vector_types.h>
#include <vector_functions.h>
#include <cuda_bf16.h>

#undef __shared__
#define __shared__ static
#undef __global__
#define __global__
#undef __device__
#define __device__
#undef __forceinline__
#define __forceinline__ inline
#define __launch_bounds__(...)

namespace emu {
struct Warp {
    std::barrier<> bar;
    uint64_t slot[32];
    uint32_t mmaA[32][4], mmaB[32][2];
    int size;
    explicit Warp(int n) : bar(n), slot{}, size(n) {}
};
inline thread_local Warp* tw = nullptr;
inline thread_local int tlane = 0;
inline thread_local std::barrier<>* tblock = nullptr;
}  // namespace emu

inline thread_local uint3 threadIdx;
inline thread_local uint3 blockIdx;
inline thread_local dim3 blockDim;
inline thread_local dim3 gridDim;

inline void __syncthreads() { emu::tblock->arrive_and_wait(); }
inline void __syncwarp(unsigned = 0xffffffffu) { emu::tw->bar.arrive_and_wait(); }
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }

template <class T> inline T emu_exchange(T v, int src) {
    static_assert(sizeof(T) <= 8, "shuffle of at most 8 bytes");
    emu::Warp* w = emu::tw;
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    w->slot[emu::tlane] = bits;
    w->bar.arrive_and_wait();
    if (src < 0 || src >= w->size) src = emu::tlane;
    uint64_t got = w->slot[src];
    w->bar.arrive_and_wait();
    T r;
    std::memcpy(&r, &got, sizeof(T));
    return r;
}
template <class T> inline T __shfl_xor_sync(unsigned, T v, int mask, int width = 32) {
    int lane = emu::tlane;
    int src = (lane & ~(width - 1)) | ((lane ^ mask) & (width - 1));
    return emu_exchange(v, src);
}
template <class T> inline T __shfl_sync(unsigned, T v, int srcLane, int width = 32) {
    int lane = emu::tlane;
    return emu_exchange(v, (lane & ~(width - 1)) + (srcLane & (width - 1)));
}
template <class T> inline T __shfl_down_sync(unsigned, T v, unsigned delta, int width = 32) {
    int lane = emu::tlane;
    int src = lane + (int)delta;
    if ((src & ~(width - 1)) != (lane & ~(width - 1))) src = lane;
    return emu_exchange(v, src);
}

inline float __uint_as_float(unsigned x);
// mma.sync.m16n8k16 bf16 -> f32 on the whole warp, from each lane's fragments (layout in common.cuh).
inline void emu_mma_bf16_16816(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
    emu::Warp* w = emu::tw;
    const int lane = emu::tlane;
    for (int i = 0; i < 4; i++) w->mmaA[lane][i] = a[i];
    w->mmaB[lane][0] = b0;
    w->mmaB[lane][1] = b1;
    w->bar.arrive_and_wait();
    auto lo = [](uint32_t x) { return __uint_as_float(x << 16); };
    auto hi = [](uint32_t x) { return __uint_as_float(x & 0xffff0000u); };
    float A[16][16], B[16][8];
    for (int l = 0; l < 32; l++) {
        const int g = l / 4, t = l % 4;
        for (int r = 0; r < 4; r++) {
            const int row = g + 8 * (r % 2), k = 2 * t + 8 * (r / 2);
            A[row][k] = lo(w->mmaA[l][r]);
            A[row][k + 1] = hi(w->mmaA[l][r]);
        }
        for (int r = 0; r < 2; r++) {
            const int k = 2 * t + 8 * r;
            B[k][g] = lo(w->mmaB[l][r]);
            B[k + 1][g] = hi(w->mmaB[l][r]);
        }
    }
    const int g = lane / 4, t = lane % 4;
    for (int r = 0; r < 4; r++) {
        const int row = g + 8 * (r / 2), col = 2 * t + r % 2;
        float acc = 0.f;
        for (int k = 0; k < 16; k++) acc += A[row][k] * B[k][col];
        c[r] += acc;
    }
    w->bar.arrive_and_wait();
}

inline int atomicAdd(int* p, int v) { return std::atomic_ref<int>(*p).fetch_add(v); }
inline unsigned atomicAdd(unsigned* p, unsigned v) { return std::atomic_ref<unsigned>(*p).fetch_add(v); }
inline float atomicAdd(float* p, float v) {
    std::atomic_ref<float> a(*p);
    float old = a.load();
    while (!a.compare_exchange_weak(old, old + v)) {
    }
    return old;
}

template <class T> inline T __ldg(const T* p) { return *p; }
template <class T> inline T __ldcg(const T* p) { return *p; }
inline float rsqrtf(float x) { return 1.f / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __int_as_float(int x) { float f; std::memcpy(&f, &x, 4); return f; }
inline int __float_as_int(float f) { int x; std::memcpy(&x, &f, 4); return x; }
inline unsigned __float_as_uint(float f) { unsigned x; std::memcpy(&x, &f, 4); return x; }
inline float __uint_as_float(unsigned x) { float f; std::memcpy(&f, &x, 4); return f; }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned umin(unsigned a, unsigned b) { return a < b ? a : b; }

namespace emu {
// Runs body once per thread of every block of the grid.
inline void launch(dim3 grid, dim3 block, const std::function<void()>& body) {
    const int threads = block.x * block.y * block.z;
    for (unsigned bz = 0; bz < grid.z; bz++)
        for (unsigned by = 0; by < grid.y; by++)
            for (unsigned bx = 0; bx < grid.x; bx++) {
                std::barrier<> blockBar(threads);
                std::vector<std::unique_ptr<Warp>> warps;
                for (int w = 0; w < (threads + 31) / 32; w++) warps.emplace_back(new Warp(std::min(32, threads - 32 * w)));
                std::vector<std::thread> ts;
                ts.reserve(threads);
                for (int t = 0; t < threads; t++) {
                    ts.emplace_back([&, t] {
                        threadIdx = make_uint3(t % block.x, (t / block.x) % block.y, t / (block.x * block.y));
                        blockIdx = make_uint3(bx, by, bz);
                        blockDim = block;
                        gridDim = grid;
                        tw = warps[t / 32].get();
                        tlane = t % 32;
                        tblock = &blockBar;
                        body();
                        // An exited thread no longer takes part in barriers, as on the device.
                        tw->bar.arrive_and_drop();
                        blockBar.arrive_and_drop();
                    });
                }
                for (auto& th : ts) th.join();
            }
}
}  // namespace emu

inline float cospif(float x) { return (float)std::cos(M_PI * (double)x); }
