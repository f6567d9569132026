// Attention over the paged KV cache (Qwen3, causal, GQA) and the row softmax of CLIP's dense attention.
//
// decode_attn_hd<D>: one query row per sequence. grid (splits, numKv, numSeqs), 128 threads. Each block takes one
// KV head (all numHeads/numKv query heads that share it, so K/V are read once) over one slice of the context
// (flash-decoding): 128 tokens per round, one token per thread for the scores (its K row read with 16-byte
// loads), an online softmax per head, then one head-dim element per thread for P.V (V rows read coalesced).
// The context length comes from device memory, so a captured CUDA graph replays with any length. With several
// splits each block writes a partial (m, l, o) and the last block of the (sequence, head) to finish combines them;
// it resets the counter, so counters stay zero between launches.
//
// prefill_attn_hd<D>: flash attention for chunks of prompt rows (or any mix). grid (tiles, numHeads), 128
// threads = 64 query rows x 2 threads, each owning half the head dims in registers; K/V tiles of 32 tokens are
// staged in shared memory as float. Rows see keys [0, position], so chunked prefill reads earlier chunks from
// the cache.
#include "common.cuh"

#define DEC_THREADS 128
#define MAX_GROUP 8  // query heads per KV head

template <int HD>
__device__ __forceinline__ void decode_attn(bf16* out, const bf16* __restrict__ q, const bf16* __restrict__ kc,
                                            const bf16* __restrict__ vc, const int* __restrict__ ctxLens,
                                            const int* __restrict__ tables, int tableStride, float* partO,
                                            float* partML, int* counters, int numHeads, int numKv, int blockSize,
                                            float scale) {
    constexpr int T = DEC_THREADS;
    constexpr int GSTEP = T / HD;                         // heads covered by one pass of the block over HD dims
    constexpr int NG = (MAX_GROUP + GSTEP - 1) / GSTEP;   // heads per thread in P.V
    __shared__ float qs[MAX_GROUP][HD];
    __shared__ float ps[MAX_GROUP][T];
    __shared__ long long rowOff[T];
    __shared__ float mrun[MAX_GROUP], lrun[MAX_GROUP], alpha[MAX_GROUP];
    __shared__ int isLast;

    const int split = blockIdx.x, kvh = blockIdx.y, seq = blockIdx.z, S = gridDim.x;
    const int G = numHeads / numKv;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int ctx = ctxLens[seq];
    const int chunk = (ctx + S - 1) / S;
    const int start = min(ctx, split * chunk), end = min(ctx, start + chunk);
    const int d = tid % HD, g0 = tid / HD;

    for (int i = tid; i < G * HD; i += T) {
        qs[i / HD][i % HD] = to_f(q[((size_t)seq * numHeads + kvh * G + i / HD) * HD + i % HD]) * scale;
    }
    if (tid < MAX_GROUP) {
        mrun[tid] = -INFINITY;
        lrun[tid] = 0.f;
    }
    float acc[NG];
#pragma unroll
    for (int i = 0; i < NG; i++) acc[i] = 0.f;
    __syncthreads();

    const int* table = tables + (size_t)seq * tableStride;
    for (int base = start; base < end; base += T) {
        const int t = base + tid;
        if (t < end) {
            const int blk = table[t / blockSize];
            const long long off = ((long long)blk * blockSize + t % blockSize) * numKv * HD + (long long)kvh * HD;
            rowOff[tid] = off;
            float s[MAX_GROUP];
#pragma unroll
            for (int g = 0; g < MAX_GROUP; g++) s[g] = 0.f;
            const bf16* kr = kc + off;
#pragma unroll
            for (int c = 0; c < HD / 8; c++) {
                float kf[8];
                load8(kr + c * 8, kf);
#pragma unroll
                for (int g = 0; g < MAX_GROUP; g++) {
                    if (g < G) {
#pragma unroll
                        for (int j = 0; j < 8; j++) s[g] = fmaf(qs[g][c * 8 + j], kf[j], s[g]);
                    }
                }
            }
#pragma unroll
            for (int g = 0; g < MAX_GROUP; g++)
                if (g < G) ps[g][tid] = s[g];
        } else {
            rowOff[tid] = 0;
            for (int g = 0; g < G; g++) ps[g][tid] = -INFINITY;
        }
        __syncthreads();
        // Online softmax statistics, one warp per head.
        for (int g = warp; g < G; g += T / 32) {
            float mx = -INFINITY;
            for (int i = lane; i < T; i += 32) mx = fmaxf(mx, ps[g][i]);
            mx = warp_max(mx);
            const float mnew = fmaxf(mrun[g], mx);
            float sum = 0.f;
            for (int i = lane; i < T; i += 32) {
                const float p = ps[g][i] == -INFINITY ? 0.f : __expf(ps[g][i] - mnew);
                ps[g][i] = p;
                sum += p;
            }
            sum = warp_sum(sum);
            if (lane == 0) {
                const float a = mrun[g] == -INFINITY ? 0.f : __expf(mrun[g] - mnew);
                alpha[g] = a;
                lrun[g] = lrun[g] * a + sum;
                mrun[g] = mnew;
            }
        }
        __syncthreads();
#pragma unroll
        for (int i = 0; i < NG; i++) {
            const int g = g0 + i * GSTEP;
            if (g < G) acc[i] *= alpha[g];
        }
        const int nt = min(T, end - base);
#pragma unroll 4
        for (int j = 0; j < nt; j++) {
            const float vv = to_f(vc[rowOff[j] + d]);
#pragma unroll
            for (int i = 0; i < NG; i++) {
                const int g = g0 + i * GSTEP;
                if (g < G) acc[i] = fmaf(ps[g][j], vv, acc[i]);
            }
        }
        __syncthreads();
    }

    const size_t outRow = (size_t)seq * numHeads + (size_t)kvh * G;
    if (S == 1) {
#pragma unroll
        for (int i = 0; i < NG; i++) {
            const int g = g0 + i * GSTEP;
            if (g < G) out[(outRow + g) * HD + d] = from_f<bf16>(lrun[g] > 0.f ? acc[i] / lrun[g] : 0.f);
        }
        return;
    }
    // Partial results of this split: o unnormalised, with its running max and sum.
    const size_t pBase = ((size_t)seq * numKv + kvh) * S;
#pragma unroll
    for (int i = 0; i < NG; i++) {
        const int g = g0 + i * GSTEP;
        if (g < G) partO[((pBase + split) * G + g) * HD + d] = acc[i];
    }
    if (tid < G) {
        partML[((pBase + split) * G + tid) * 2] = mrun[tid];
        partML[((pBase + split) * G + tid) * 2 + 1] = lrun[tid];
    }
    __threadfence();
    __syncthreads();
    if (tid == 0) {
        const int prev = atomicAdd(&counters[seq * numKv + kvh], 1);
        isLast = prev == S - 1;
    }
    __syncthreads();
    if (!isLast) return;
    __threadfence();
#pragma unroll
    for (int i = 0; i < NG; i++) {
        const int g = g0 + i * GSTEP;
        if (g >= G) continue;
        float M = -INFINITY;
        for (int s = 0; s < S; s++) M = fmaxf(M, __ldcg(&partML[((pBase + s) * G + g) * 2]));
        float L = 0.f, O = 0.f;
        for (int s = 0; s < S; s++) {
            const float l = __ldcg(&partML[((pBase + s) * G + g) * 2 + 1]);
            if (l > 0.f) {
                const float f = __expf(__ldcg(&partML[((pBase + s) * G + g) * 2]) - M);
                L += l * f;
                O += __ldcg(&partO[((pBase + s) * G + g) * HD + d]) * f;
            }
        }
        out[(outRow + g) * HD + d] = from_f<bf16>(L > 0.f ? O / L : 0.f);
    }
    if (tid == 0) counters[seq * numKv + kvh] = 0;
}

#define DECODE_KERNEL(HD)                                                                                          \
    extern "C" __global__ void __launch_bounds__(DEC_THREADS)                                                      \
        decode_attn_hd##HD(bf16* out, const bf16* q, const bf16* kc, const bf16* vc, const int* ctxLens,           \
                           const int* tables, int tableStride, float* partO, float* partML, int* counters,         \
                           int numHeads, int numKv, int blockSize, float scale) {                                  \
        decode_attn<HD>(out, q, kc, vc, ctxLens, tables, tableStride, partO, partML, counters, numHeads, numKv,    \
                        blockSize, scale);                                                                         \
    }
DECODE_KERNEL(16)
DECODE_KERNEL(32)
DECODE_KERNEL(64)
DECODE_KERNEL(128)

#define PF_ROWS 64
#define PF_KEYS 32
#define PF_THREADS 128

template <int HD>
__device__ __forceinline__ void prefill_attn(bf16* out, const bf16* __restrict__ q, const bf16* __restrict__ kc,
                                             const bf16* __restrict__ vc, const int* __restrict__ tileSeq,
                                             const int* __restrict__ tileRow, const int* __restrict__ queryStart,
                                             const int* __restrict__ positions, const int* __restrict__ tables,
                                             int tableStride, int numHeads, int numKv, int blockSize, float scale) {
    constexpr int H2 = HD / 2;
    constexpr int PAD = 4;  // the two halves of a K/V row land in different banks
    __shared__ float ks[PF_KEYS][2 * (H2 + PAD)];
    __shared__ float vs[PF_KEYS][2 * (H2 + PAD)];

    const int tile = blockIdx.x, h = blockIdx.y, kvh = h / (numHeads / numKv);
    const int tid = threadIdx.x, half = tid & 1;
    const int seq = tileSeq[tile];
    const int r0 = tileRow[tile];
    const int rEnd = min(r0 + PF_ROWS, queryStart[seq + 1]);
    const int r = r0 + (tid >> 1);
    const bool valid = r < rEnd;
    const int pos = valid ? positions[r] : -1;
    const int maxPos = positions[rEnd - 1];
    const int* table = tables + (size_t)seq * tableStride;
    const int qw = numHeads * HD;

    float qv[H2], o[H2];
#pragma unroll
    for (int i = 0; i < H2; i++) {
        qv[i] = valid ? to_f(q[(size_t)r * qw + h * HD + half * H2 + i]) * scale : 0.f;
        o[i] = 0.f;
    }
    float m = -INFINITY, l = 0.f;

    for (int kb = 0; kb <= maxPos; kb += PF_KEYS) {
        __syncthreads();  // the previous tile is no longer read
        for (int i = tid; i < PF_KEYS * (HD / 8); i += PF_THREADS) {
            const int j = i / (HD / 8), c = i % (HD / 8);
            const int t = kb + j;
            float kf[8], vf[8];
            if (t <= maxPos) {
                const int blk = table[t / blockSize];
                const size_t off = ((size_t)blk * blockSize + t % blockSize) * numKv * HD + (size_t)kvh * HD + c * 8;
                load8(kc + off, kf);
                load8(vc + off, vf);
            } else {
#pragma unroll
                for (int e = 0; e < 8; e++) kf[e] = vf[e] = 0.f;
            }
            const int col = c * 8;
            const int hIdx = col / H2, within = col % H2;  // 8 | H2, so a chunk never straddles the halves
#pragma unroll
            for (int e = 0; e < 8; e++) {
                ks[j][hIdx * (H2 + PAD) + within + e] = kf[e];
                vs[j][hIdx * (H2 + PAD) + within + e] = vf[e];
            }
        }
        __syncthreads();
        float s[PF_KEYS];
        float mx = -INFINITY;
#pragma unroll
        for (int j = 0; j < PF_KEYS; j++) {
            const float* kr = &ks[j][half * (H2 + PAD)];
            float p = 0.f;
#pragma unroll
            for (int i = 0; i < H2; i++) p = fmaf(qv[i], kr[i], p);
            p += __shfl_xor_sync(FULL_MASK, p, 1);
            s[j] = kb + j <= pos ? p : -INFINITY;
            mx = fmaxf(mx, s[j]);
        }
        const float mnew = fmaxf(m, mx);
        if (mnew == -INFINITY) continue;  // nothing visible yet (only padding rows)
        const float a = m == -INFINITY ? 0.f : __expf(m - mnew);
        l *= a;
#pragma unroll
        for (int i = 0; i < H2; i++) o[i] *= a;
#pragma unroll
        for (int j = 0; j < PF_KEYS; j++) {
            const float p = s[j] == -INFINITY ? 0.f : __expf(s[j] - mnew);
            l += p;
            const float* vr = &vs[j][half * (H2 + PAD)];
#pragma unroll
            for (int i = 0; i < H2; i++) o[i] = fmaf(p, vr[i], o[i]);
        }
        m = mnew;
    }
    if (valid) {
        const float inv = l > 0.f ? 1.f / l : 0.f;
#pragma unroll
        for (int i = 0; i < H2; i++) out[(size_t)r * qw + h * HD + half * H2 + i] = from_f<bf16>(o[i] * inv);
    }
}

#define PREFILL_KERNEL(HD)                                                                                         \
    extern "C" __global__ void __launch_bounds__(PF_THREADS)                                                       \
        prefill_attn_hd##HD(bf16* out, const bf16* q, const bf16* kc, const bf16* vc, const int* tileSeq,          \
                            const int* tileRow, const int* queryStart, const int* positions, const int* tables,    \
                            int tableStride, int numHeads, int numKv, int blockSize, float scale) {                \
        prefill_attn<HD>(out, q, kc, vc, tileSeq, tileRow, queryStart, positions, tables, tableStride, numHeads,   \
                         numKv, blockSize, scale);                                                                 \
    }
PREFILL_KERNEL(16)
PREFILL_KERNEL(32)
PREFILL_KERNEL(64)
PREFILL_KERNEL(128)

// CLIP attention runs as two batched cuBLAS products around this softmax. The pointer arrays of both products
// for every (image, head): ptrs[0..6) x (batch * heads) = K, Q, S (scores) then V, P (probabilities), O.
// S and P rows are ld elements apart (seq rounded up to 8, so every row starts 16-byte aligned).
extern "C" __global__ void dense_attn_ptrs(unsigned long long* ptrs, const bf16* q, const bf16* k, const bf16* v,
                                           const float* s, const bf16* p, bf16* o, int batch, int heads, int seq,
                                           int hd, int ld) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    const int n = batch * heads;
    if (i >= n) return;
    const int b = i / heads, h = i % heads;
    const size_t x = (size_t)b * seq * heads * hd + (size_t)h * hd;  // element offset of (b, h) in q/k/v/o
    const size_t sp = (size_t)i * seq * ld;
    ptrs[0 * n + i] = (unsigned long long)(k + x);
    ptrs[1 * n + i] = (unsigned long long)(q + x);
    ptrs[2 * n + i] = (unsigned long long)(s + sp);
    ptrs[3 * n + i] = (unsigned long long)(v + x);
    ptrs[4 * n + i] = (unsigned long long)(p + sp);
    ptrs[5 * n + i] = (unsigned long long)(o + x);
}

// p = softmax(s) over the first n elements of each row (rows ld apart), float32 in, bf16 out. One warp per row.
extern "C" __global__ void softmax_rows(bf16* p, const float* s, int n, int ld, long long rows) {
    const long long row = (long long)blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5);
    if (row >= rows) return;
    const int lane = threadIdx.x & 31;
    const float* sr = s + row * ld;
    float mx = -INFINITY;
    for (int j = lane; j < n; j += 32) mx = fmaxf(mx, sr[j]);
    mx = warp_max(mx);
    float sum = 0.f;
    for (int j = lane; j < n; j += 32) sum += __expf(sr[j] - mx);
    sum = warp_sum(sum);
    const float inv = 1.f / sum;
    bf16* pr = p + row * ld;
    for (int j = lane; j < n; j += 32) pr[j] = from_f<bf16>(__expf(sr[j] - mx) * inv);
}
