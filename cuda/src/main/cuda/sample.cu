// Token choice on the device, so a decode step returns ids (4 bytes per sequence) instead of logits
// (600 KB per sequence). One block per row of logits.
//   argmax_rows: greedy; ties go to the lowest id, as torch.argmax.
//   sample_rows: a draw from softmax(logits / temperature) by the Gumbel-max trick (argmax of logits / T + Gumbel
//                noise), one pass and no sort; temperature <= 0 means greedy for that row.
//   sample_full_f32: Backend.sample, every parameter: log-probs of the raw row, HF's repetition penalty, then
//                top-k / min-p / top-p as thresholds on the logit (bisection, no sort), then Gumbel-max over the
//                survivors. See the comment above it for where it can differ from the CPU's Sampler.
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

// ---- sample_full_f32 ---------------------------------------------------------------------------------------------
// One block per row. Where it can differ from the CPU's Sampler (which sorts the row):
//  - ties at a threshold: top-k keeps every token whose logit equals the k-th largest (the CPU keeps exactly k,
//    lower ids first); top-p keeps every token tied with the last one it needs;
//  - top-p's probability mass is summed in float here, in double on the CPU: a token whose cumulative mass lies
//    within ~1e-6 of top_p can be in one set and not the other;
//  - the random stream: Gumbel noise keyed by (seed, draws) here, SplittableRandom on the CPU. A seeded request is
//    deterministic on the device (the same ids on every run and in any batch), but not the CPU's ids.
// The kept set is otherwise the CPU's: min-p keeps l >= max + T * log(min_p), i.e. p >= min_p * p_max; top-p's mass
// is relative to the top-k set, as the CPU normalises over it before min-p and top-p.

#define SAMPLE_MAX_TOP 20
#define SAMPLE_OUT_WORDS (2 + 2 * SAMPLE_MAX_TOP)  // id, logprob, top ids, top logprobs (floats as bits)

// Packed by SampleKernels.pack: 10 32-bit words a row.
struct SampleRowParams {
    float temperature, top_p, min_p, penalty;
    int top_k;
    int top_n;  // -1: no log-probs; 0..20: the chosen id's log-prob and top_n alternatives
    int hist_start, hist_len;
    unsigned long long key;  // seed + draws * golden gamma: this draw's noise
};

// A float's bits as an int that orders like the float.
__device__ __forceinline__ int ordered_key(float v) {
    const int b = __float_as_int(v);
    return b ^ ((b >> 31) & 0x7fffffff);
}

// Block-wide reductions; every thread gets the same result (each sums the warps in the same order), and the
// trailing barrier lets the next reduction reuse the shared slots.
__device__ __forceinline__ float block_sum_f(float v) {
    __shared__ float s[32];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    if ((threadIdx.x & 31) == 0) s[threadIdx.x >> 5] = v;
    __syncthreads();
    float t = 0.f;
    for (int w = 0; w < (int)(blockDim.x >> 5); w++) t += s[w];
    __syncthreads();
    return t;
}

__device__ __forceinline__ float block_max_f(float v) {
    __shared__ float s[32];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, o));
    if ((threadIdx.x & 31) == 0) s[threadIdx.x >> 5] = v;
    __syncthreads();
    float t = -INFINITY;
    for (int w = 0; w < (int)(blockDim.x >> 5); w++) t = fmaxf(t, s[w]);
    __syncthreads();
    return t;
}

__device__ __forceinline__ int block_count(int v) {
    __shared__ int s[32];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    if ((threadIdx.x & 31) == 0) s[threadIdx.x >> 5] = v;
    __syncthreads();
    int t = 0;
    for (int w = 0; w < (int)(blockDim.x >> 5); w++) t += s[w];
    __syncthreads();
    return t;
}

__device__ __forceinline__ int block_argmax_sync(float bv, int bi) {
    const int idx = block_argmax(bv, bi);
    __syncthreads();
    return idx;
}

// log-softmax of the raw row: lse, then the top_n ids by repeated block argmax, each below the previous in
// (value desc, id asc) order.
__device__ float row_logprobs(const float* row, int vocab, int top_n, int* o) {
    float m = -INFINITY;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) m = fmaxf(m, row[i]);
    m = block_max_f(m);
    float s = 0.f;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) s += expf(row[i] - m);
    const float lse = m + logf(block_sum_f(s));
    float pv = INFINITY;
    int pi = -1;
    for (int k = 0; k < top_n; k++) {
        float bv = -INFINITY;
        int bi = 0x7fffffff;
        for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
            const float v = row[i];
            if (v < pv || (v == pv && i > pi)) better(bv, bi, v, i);
        }
        const int idx = block_argmax_sync(bv, bi);
        pv = row[idx];
        pi = idx;
        if (threadIdx.x == 0) {
            o[2 + k] = idx;
            o[2 + SAMPLE_MAX_TOP + k] = __float_as_int(pv - lse);
        }
    }
    return lse;
}

// The largest key K in [lo, hi] with count(key >= K) >= k (the k-th largest logit's key); lo when none.
__device__ int topk_threshold(const float* row, int vocab, int k, int lo, int hi) {
    long long a = lo, b = hi;
    int c = 0;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) c += ordered_key(row[i]) >= hi;
    if (block_count(c) >= k) return hi;
    while (b - a > 1) {  // count(a) >= k > count(b)
        const int mid = (int)(a + (b - a) / 2);
        c = 0;
        for (int i = threadIdx.x; i < vocab; i += blockDim.x) c += ordered_key(row[i]) >= mid;
        if (block_count(c) >= k) a = mid;
        else b = mid;
    }
    return (int)a;
}

// Probability mass (unnormalised, relative to the max m) of the tokens whose key is >= K.
__device__ __forceinline__ float mass_above(const float* row, int vocab, int K, float m, float inv_t) {
    float s = 0.f;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        const float v = row[i];
        if (ordered_key(v) >= K) s += expf((v - m) * inv_t);
    }
    return block_sum_f(s);
}

// The largest key K in [lo, hi] whose mass reaches target; lo when even lo's does not (top-p keeps the min-p set).
__device__ int topp_threshold(const float* row, int vocab, float target, int lo, int hi, float m, float inv_t) {
    if (mass_above(row, vocab, hi, m, inv_t) >= target) return hi;
    long long a = lo, b = hi;
    while (b - a > 1) {
        const int mid = (int)(a + (b - a) / 2);
        if (mass_above(row, vocab, mid, m, inv_t) >= target) a = mid;
        else b = mid;
    }
    return (int)a;
}

// HF RepetitionPenaltyLogitsProcessor: gather every history id's raw logit, barrier, then scatter the penalised
// value, so a repeated id is penalised once (its copies write the same value). hist_raw keeps the raw values.
__device__ void apply_penalty(float* row, int vocab, const int* hist, float* hist_raw, int n, float p) {
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        const int id = hist[j];
        hist_raw[j] = id >= 0 && id < vocab ? row[id] : 0.f;
    }
    __syncthreads();
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        const int id = hist[j];
        const float v = hist_raw[j];
        if (id >= 0 && id < vocab) row[id] = v < 0.f ? v * p : v / p;
    }
    __syncthreads();
}

// out: SAMPLE_OUT_WORDS ints a row. logits are float32 and may be overwritten by the penalty. hist_raw: scratch
// of the history's length.
extern "C" __global__ void sample_full_f32(int* out, float* logits, int vocab, const SampleRowParams* params,
                                           const int* hist, float* hist_raw) {
    float* row = logits + (size_t)blockIdx.x * vocab;
    const SampleRowParams P = params[blockIdx.x];
    int* o = out + (size_t)blockIdx.x * SAMPLE_OUT_WORDS;
    float lse = 0.f;
    if (P.top_n >= 0) lse = row_logprobs(row, vocab, P.top_n, o);
    const int* h = hist + P.hist_start;
    float* hr = hist_raw + P.hist_start;
    if (P.penalty != 1.f) apply_penalty(row, vocab, h, hr, P.hist_len, P.penalty);

    float bv = -INFINITY;
    int bi = 0x7fffffff;
    if (P.temperature <= 0.f) {
        for (int i = threadIdx.x; i < vocab; i += blockDim.x) better(bv, bi, row[i], i);
    } else {
        const float inv_t = 1.f / P.temperature;
        float m = -INFINITY, lo = INFINITY;
        for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
            m = fmaxf(m, row[i]);
            lo = fminf(lo, row[i]);
        }
        m = block_max_f(m);
        lo = -block_max_f(-lo);
        const int hi_key = ordered_key(m);
        int kt = ordered_key(lo);  // every token kept
        if (P.top_k > 0 && P.top_k < vocab) kt = topk_threshold(row, vocab, P.top_k, kt, hi_key);
        const float zk = P.top_p < 1.f ? mass_above(row, vocab, kt, m, inv_t) : 0.f;
        if (P.min_p > 0.f) {
            const int mk = ordered_key(m + P.temperature * logf(P.min_p));
            kt = mk > kt ? (mk < hi_key ? mk : hi_key) : kt;
        }
        if (P.top_p < 1.f) kt = topp_threshold(row, vocab, P.top_p * zk, kt, hi_key, m, inv_t);
        const unsigned long long seed = mix64(P.key);
        for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
            const float v = row[i];
            if (ordered_key(v) < kt) continue;
            const unsigned long long r = mix64(seed ^ mix64((unsigned long long)i));
            const float u = ((unsigned)(r >> 40) + 1u) * (1.f / 16777217.f);  // (0, 1)
            better(bv, bi, v * inv_t - logf(-logf(u)), i);
        }
    }
    const int idx = block_argmax_sync(bv, bi);
    if (P.top_n >= 0) {
        // The chosen id's raw logit: the penalty may have overwritten it.
        __shared__ float chosen;
        if (threadIdx.x == 0) chosen = row[idx];
        __syncthreads();
        if (P.penalty != 1.f)
            for (int j = threadIdx.x; j < P.hist_len; j += blockDim.x)
                if (h[j] == idx) chosen = hr[j];
        __syncthreads();
        if (threadIdx.x == 0) o[1] = __float_as_int(chosen - lse);
    }
    if (threadIdx.x == 0) o[0] = idx;
}
