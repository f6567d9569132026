// Row movement: token embedding gather, image-embedding scatter into the prompt, logit-row gather, the KV write of
// one step, and CLIP's patch rows. One block per row, 16-byte copies when the row width allows.
#include "common.cuh"

__device__ __forceinline__ void copy_row(bf16* __restrict__ dst, const bf16* __restrict__ src, int d, int vec) {
    if (vec) {
        const uint4* s = reinterpret_cast<const uint4*>(src);
        uint4* t = reinterpret_cast<uint4*>(dst);
        for (int j = threadIdx.x; j < d / 8; j += blockDim.x) t[j] = s[j];
    } else {
        for (int j = threadIdx.x; j < d; j += blockDim.x) dst[j] = src[j];
    }
}

// out[i] = table[ids[i]] (ids were range-checked on the host).
extern "C" __global__ void embed_rows(bf16* out, const bf16* table, const int* ids, int d, int vec) {
    const int i = blockIdx.x;
    copy_row(out + (size_t)i * d, table + (size_t)ids[i] * d, d, vec);
}

// out[i] = in[rows[i]].
extern "C" __global__ void gather_rows(bf16* out, const bf16* in, const int* rows, int d, int vec) {
    const int i = blockIdx.x;
    copy_row(out + (size_t)i * d, in + (size_t)rows[i] * d, d, vec);
}

// dst[rows[i]] = src[i].
extern "C" __global__ void scatter_rows(bf16* dst, const bf16* src, const int* rows, int d, int vec) {
    const int i = blockIdx.x;
    copy_row(dst + (size_t)rows[i] * d, src + (size_t)i * d, d, vec);
}

// kcache/vcache (slots, width) at slots[i] = k/v row i; a negative slot (batch padding) is skipped.
extern "C" __global__ void write_kv(bf16* kcache, bf16* vcache, const bf16* k, const bf16* v, const int* slots, int width, int vec) {
    const int i = blockIdx.x;
    const int slot = slots[i];
    if (slot < 0) return;
    copy_row(kcache + (size_t)slot * width, k + (size_t)i * width, width, vec);
    copy_row(vcache + (size_t)slot * width, v + (size_t)i * width, width, vec);
}

// CLIP's patch embedding input: images (batch, C, size, size) bf16 -> rows (batch * side^2, C * p * p), each patch
// flattened in (channel, row, col) order like the Conv2d weight. grid (side^2, batch).
extern "C" __global__ void patchify(bf16* out, const bf16* images, int channels, int size, int p) {
    const int side = size / p, patch = blockIdx.x, b = blockIdx.y;
    const int py = patch / side, px = patch % side, len = channels * p * p;
    const bf16* img = images + (size_t)b * channels * size * size;
    bf16* o = out + ((size_t)b * side * side + patch) * len;
    for (int i = threadIdx.x; i < len; i += blockDim.x) {
        const int c = i / (p * p), ky = (i / p) % p, kx = i % p;
        o[i] = img[((size_t)c * size + py * p + ky) * size + px * p + kx];
    }
}
