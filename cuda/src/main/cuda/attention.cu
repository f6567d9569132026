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
#define MAX_SPLITS 16 // context splits of decode attention

template <int HD>
__device__ __forceinline__ void decode_attn(bf16* out, const bf16* __restrict__ q, const bf16* __restrict__ kc,
                                            const bf16* __restrict__ vc, const int* __restrict__ ctxLens,
                                            const int* __restrict__ tables, int tableStride, float* partO,
                                            float* partML, int* counters, int numHeads, int numKv, int blockSize,
                                            float scale) {
    constexpr int T = DEC_THREADS;
    constexpr int DC = HD / 8;        // 16-byte chunks of a V row
    constexpr int TG = T / DC;        // token groups in P.V: thread = (token group, chunk)
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
    const int tg = tid / DC, dc = tid % DC;  // P.V: tokens tg, tg + TG, ...; dims dc*8 .. dc*8+7

    for (int i = tid; i < G * HD; i += T) {
        qs[i / HD][i % HD] = to_f(q[((size_t)seq * numHeads + kvh * G + i / HD) * HD + i % HD]) * scale;
    }
    if (tid < MAX_GROUP) {
        mrun[tid] = -INFINITY;
        lrun[tid] = 0.f;
    }
    float acc[MAX_GROUP][8];
#pragma unroll
    for (int g = 0; g < MAX_GROUP; g++)
#pragma unroll
        for (int e = 0; e < 8; e++) acc[g][e] = 0.f;
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
        for (int g = 0; g < MAX_GROUP; g++) {
            const float a = g < G ? alpha[g] : 0.f;
#pragma unroll
            for (int e = 0; e < 8; e++) acc[g][e] *= a;
        }
        // P.V with 16-byte V loads: this thread's tokens of the round, its 8 dims, every head of the group.
        const int nt = min(T, end - base);
#pragma unroll 4
        for (int j = tg; j < nt; j += TG) {
            float vf[8];
            load8(vc + rowOff[j] + dc * 8, vf);
#pragma unroll
            for (int g = 0; g < MAX_GROUP; g++) {
                if (g < G) {
                    const float p = ps[g][j];
#pragma unroll
                    for (int e = 0; e < 8; e++) acc[g][e] = fmaf(p, vf[e], acc[g][e]);
                }
            }
        }
        __syncthreads();
    }

    // Sum the token groups: thread (tg, dc) holds acc for dims dc*8..+8 of every head; all heads in one pass.
    const bool single = S == 1;
    const size_t outRow = (size_t)seq * numHeads + (size_t)kvh * G;
    const size_t pBase = ((size_t)seq * numKv + kvh) * S;
    __shared__ float rows[TG][MAX_GROUP * HD]; // each token group's partial rows (TG * HD is 1024 for every HD)
#pragma unroll
    for (int g = 0; g < MAX_GROUP; g++) {
        if (g < G) {
#pragma unroll
            for (int e = 0; e < 8; e++) rows[tg][g * HD + dc * 8 + e] = acc[g][e];
        }
    }
    __syncthreads();
    for (int i = tid; i < G * HD; i += T) {
        const int g = i / HD;
        float o = 0.f;
        for (int w = 0; w < TG; w++) o += rows[w][i];
        if (single) out[(outRow + g) * HD + i % HD] = from_f<bf16>(lrun[g] > 0.f ? o / lrun[g] : 0.f);
        else partO[((pBase + split) * G + g) * HD + i % HD] = o;
    }
    if (single) return;
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
    // The last split to finish combines all of them: O = sum_s e^(m_s - M) o_s / sum_s e^(m_s - M) l_s. Every
    // split's statistics are loaded at once (independent loads in flight), not one dependent round trip each.
    for (int i = tid; i < G * HD; i += T) {
        const int g = i / HD, d = i % HD;
        float ms[MAX_SPLITS], ls[MAX_SPLITS], os[MAX_SPLITS];
#pragma unroll
        for (int s = 0; s < MAX_SPLITS; s++) {
            if (s < S) {
                ms[s] = __ldcg(&partML[((pBase + s) * G + g) * 2]);
                ls[s] = __ldcg(&partML[((pBase + s) * G + g) * 2 + 1]);
                os[s] = __ldcg(&partO[((pBase + s) * G + g) * HD + d]);
            }
        }
        float M = -INFINITY;
#pragma unroll
        for (int s = 0; s < MAX_SPLITS; s++)
            if (s < S) M = fmaxf(M, ms[s]);
        float L = 0.f, O = 0.f;
#pragma unroll
        for (int s = 0; s < MAX_SPLITS; s++) {
            if (s < S && ls[s] > 0.f) {
                const float f = __expf(ms[s] - M);
                L += ls[s] * f;
                O += os[s] * f;
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
DECODE_KERNEL(8)
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
#pragma unroll
            for (int e = 0; e < 8; e++) {
                const int col = c * 8 + e;
                const int at = (col / H2) * (H2 + PAD) + col % H2;  // which half, and where in it
                ks[j][at] = kf[e];
                vs[j][at] = vf[e];
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
PREFILL_KERNEL(8)
PREFILL_KERNEL(16)
PREFILL_KERNEL(32)
PREFILL_KERNEL(64)
PREFILL_KERNEL(128)

// dense_flash_attn_hd<D>: CLIP's bidirectional attention, flash style on the tensor cores (mma.sync m16n8k16,
// bf16 in, float32 accumulate). grid (ceil(seq / 128), batch * heads), 256 threads: each warp owns 16 query rows,
// keeps Q as A fragments, and for every tile of 64 keys computes S = Q K^T, the online softmax in registers, and
// O += P V with P reused from S's accumulators as A fragments (FlashAttention-2). K and V^T tiles sit in shared
// memory, rows padded by 16 bytes so the fragment loads of a warp hit 32 different banks.
#define FA_ROWS 128
#define FA_THREADS 256
#define FA_KEYS 64

template <int HD>
__device__ __forceinline__ void dense_flash_attn(bf16* out, const bf16* __restrict__ q, const bf16* __restrict__ k,
                                                 const bf16* __restrict__ v, int seq, int heads, float scale) {
    constexpr int KS = HD / 16;       // k-steps of Q K^T
    constexpr int NT = FA_KEYS / 8;   // 8-key tiles of S
    constexpr int OT = HD / 8;        // 8-column tiles of O
    constexpr int PAD = 8;
    __shared__ __align__(16) bf16 ks[FA_KEYS][HD + PAD];
    __shared__ __align__(16) bf16 vt[HD][FA_KEYS + PAD];

    const int bh = blockIdx.y, b = bh / heads, h = bh % heads;
    const int width = heads * HD;
    const size_t base = (size_t)b * seq * width + (size_t)h * HD;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, gq = lane >> 2, tq = lane & 3;
    const int q0 = blockIdx.x * FA_ROWS + warp * 16;

    uint32_t qa[KS][4];
#pragma unroll
    for (int kk = 0; kk < KS; kk++)
#pragma unroll
        for (int r = 0; r < 4; r++) {
            const int row = q0 + gq + 8 * (r % 2), col = kk * 16 + 2 * tq + 8 * (r / 2);
            qa[kk][r] = row < seq ? *reinterpret_cast<const uint32_t*>(q + base + (size_t)row * width + col) : 0u;
        }
    float o[OT][4];
#pragma unroll
    for (int t = 0; t < OT; t++) o[t][0] = o[t][1] = o[t][2] = o[t][3] = 0.f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;  // rows gq and gq + 8 of this warp

    for (int k0 = 0; k0 < seq; k0 += FA_KEYS) {
        __syncthreads();  // the previous tiles are no longer read
        // K rows as they are; V transposed, two keys at a time so each store is one 32-bit (key, key + 1) pair.
        for (int i = threadIdx.x; i < (FA_KEYS / 2) * (HD / 8); i += blockDim.x) {
            const int j = 2 * (i / (HD / 8)), c = (i % (HD / 8)) * 8, key = k0 + j;
            uint4 ka = make_uint4(0, 0, 0, 0), kb = ka, va = ka, vb = ka;
            if (key < seq) {
                ka = *reinterpret_cast<const uint4*>(k + base + (size_t)key * width + c);
                va = *reinterpret_cast<const uint4*>(v + base + (size_t)key * width + c);
            }
            if (key + 1 < seq) {
                kb = *reinterpret_cast<const uint4*>(k + base + (size_t)(key + 1) * width + c);
                vb = *reinterpret_cast<const uint4*>(v + base + (size_t)(key + 1) * width + c);
            }
            *reinterpret_cast<uint4*>(&ks[j][c]) = ka;
            *reinterpret_cast<uint4*>(&ks[j + 1][c]) = kb;
            const unsigned short* ea = reinterpret_cast<const unsigned short*>(&va);
            const unsigned short* eb = reinterpret_cast<const unsigned short*>(&vb);
#pragma unroll
            for (int e = 0; e < 8; e++) *reinterpret_cast<uint32_t*>(&vt[c + e][j]) = (uint32_t)ea[e] | ((uint32_t)eb[e] << 16);
        }
        __syncthreads();

        float s[NT][4];
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
            s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.f;
#pragma unroll
            for (int kk = 0; kk < KS; kk++) {
                const uint32_t b0 = *reinterpret_cast<const uint32_t*>(&ks[nt * 8 + gq][kk * 16 + 2 * tq]);
                const uint32_t b1 = *reinterpret_cast<const uint32_t*>(&ks[nt * 8 + gq][kk * 16 + 8 + 2 * tq]);
                mma_bf16_16816(s[nt], qa[kk], b0, b1);
            }
        }
        float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < NT; nt++)
#pragma unroll
            for (int r = 0; r < 4; r++) {
                const int key = k0 + nt * 8 + 2 * tq + (r % 2);
                s[nt][r] = key < seq ? s[nt][r] * scale : -INFINITY;
                if (r < 2) mx0 = fmaxf(mx0, s[nt][r]);
                else mx1 = fmaxf(mx1, s[nt][r]);
            }
        mx0 = fmaxf(mx0, __shfl_xor_sync(FULL_MASK, mx0, 1));
        mx0 = fmaxf(mx0, __shfl_xor_sync(FULL_MASK, mx0, 2));
        mx1 = fmaxf(mx1, __shfl_xor_sync(FULL_MASK, mx1, 1));
        mx1 = fmaxf(mx1, __shfl_xor_sync(FULL_MASK, mx1, 2));
        const float n0 = fmaxf(m0, mx0), n1 = fmaxf(m1, mx1);  // finite: every tile has a key below seq
        const float a0 = m0 == -INFINITY ? 0.f : __expf(m0 - n0), a1 = m1 == -INFINITY ? 0.f : __expf(m1 - n1);
        m0 = n0;
        m1 = n1;
        l0 *= a0;
        l1 *= a1;
#pragma unroll
        for (int t = 0; t < OT; t++) {
            o[t][0] *= a0;
            o[t][1] *= a0;
            o[t][2] *= a1;
            o[t][3] *= a1;
        }
        uint32_t pa[FA_KEYS / 16][4];
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
            const float p0 = __expf(s[nt][0] - n0), p1 = __expf(s[nt][1] - n0);
            const float p2 = __expf(s[nt][2] - n1), p3 = __expf(s[nt][3] - n1);
            l0 += p0 + p1;
            l1 += p2 + p3;
            pa[nt / 2][(nt % 2) * 2] = pack_bf16x2(p0, p1);
            pa[nt / 2][(nt % 2) * 2 + 1] = pack_bf16x2(p2, p3);
        }
#pragma unroll
        for (int t = 0; t < OT; t++)
#pragma unroll
            for (int kk = 0; kk < FA_KEYS / 16; kk++) {
                const uint32_t b0 = *reinterpret_cast<const uint32_t*>(&vt[t * 8 + gq][kk * 16 + 2 * tq]);
                const uint32_t b1 = *reinterpret_cast<const uint32_t*>(&vt[t * 8 + gq][kk * 16 + 8 + 2 * tq]);
                mma_bf16_16816(o[t], pa[kk], b0, b1);
            }
    }
    l0 += __shfl_xor_sync(FULL_MASK, l0, 1);
    l0 += __shfl_xor_sync(FULL_MASK, l0, 2);
    l1 += __shfl_xor_sync(FULL_MASK, l1, 1);
    l1 += __shfl_xor_sync(FULL_MASK, l1, 2);
    const float i0 = 1.f / l0, i1 = 1.f / l1;
    const int r0 = q0 + gq, r1 = q0 + gq + 8;
#pragma unroll
    for (int t = 0; t < OT; t++) {
        const int col = t * 8 + 2 * tq;
        if (r0 < seq) *reinterpret_cast<uint32_t*>(out + base + (size_t)r0 * width + col) = pack_bf16x2(o[t][0] * i0, o[t][1] * i0);
        if (r1 < seq) *reinterpret_cast<uint32_t*>(out + base + (size_t)r1 * width + col) = pack_bf16x2(o[t][2] * i1, o[t][3] * i1);
    }
}

#define DENSE_FLASH_KERNEL(HD)                                                                                      \
    extern "C" __global__ void __launch_bounds__(FA_THREADS)                                                        \
        dense_flash_attn_hd##HD(bf16* out, const bf16* q, const bf16* k, const bf16* v, int seq, int heads, float scale) { \
        dense_flash_attn<HD>(out, q, k, v, seq, heads, scale);                                                      \
    }
DENSE_FLASH_KERNEL(16)
DENSE_FLASH_KERNEL(32)
DENSE_FLASH_KERNEL(64)
DENSE_FLASH_KERNEL(128)

// Other head sizes: CLIP attention as two batched cuBLAS products around this softmax. The pointer arrays of both products
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
