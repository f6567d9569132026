package io.vqwen.cuda;

import static io.vqwen.cuda.CudaDevice.f;

/** Launchers of attention.cu: paged decode (split context), paged flash prefill, and CLIP's dense softmax. */
final class AttentionKernels {
    static final int MAX_GROUP = 8;
    static final int MAX_SPLITS = 16;
    static final int PREFILL_ROWS = 64;
    private final CudaDevice dev;

    AttentionKernels(CudaDevice dev) {
        this.dev = dev;
    }

    static void checkShape(int numHeads, int numKv, int headDim) {
        if (headDim != 8 && headDim != 16 && headDim != 32 && headDim != 64 && headDim != 128) {
            throw new IllegalArgumentException("attention: head_dim " + headDim + " is not supported (8, 16, 32, 64 or 128)");
        }
        if (numKv <= 0 || numHeads % numKv != 0 || numHeads / numKv > MAX_GROUP) {
            throw new IllegalArgumentException("attention: " + numHeads + " query heads over " + numKv
                    + " KV heads (the group must divide evenly and be at most " + MAX_GROUP + ")");
        }
    }

    void decode(long out, long q, long kCache, long vCache, long ctxLens, long tables, int tableStride, long partO, long partML,
                long counters, int numSeqs, int numHeads, int numKv, int headDim, int blockSize, int splits) {
        checkShape(numHeads, numKv, headDim);
        if (splits < 1 || splits > MAX_SPLITS) throw new IllegalArgumentException("decode attention: " + splits + " splits (1 to " + MAX_SPLITS + ")");
        dev.launch("decode_attn_hd" + headDim, splits, numKv, numSeqs, 128, 1, 1, out, q, kCache, vCache, ctxLens, tables, tableStride,
                partO, partML, counters, numHeads, numKv, blockSize, f((float) (1.0 / Math.sqrt(headDim))));
    }

    void prefill(long out, long q, long kCache, long vCache, long tileSeq, long tileRow, long queryStart, long positions, long tables,
                 int tableStride, int numTiles, int numHeads, int numKv, int headDim, int blockSize) {
        checkShape(numHeads, numKv, headDim);
        dev.launch("prefill_attn_hd" + headDim, numTiles, numHeads, 1, 128, 1, 1, out, q, kCache, vCache, tileSeq, tileRow, queryStart,
                positions, tables, tableStride, numHeads, numKv, blockSize, f((float) (1.0 / Math.sqrt(headDim))));
    }

    /** Head sizes the tensor-core flash kernel takes (others go through cuBLAS and a softmax). */
    static boolean flashFits(int headDim) {
        return headDim == 16 || headDim == 32 || headDim == 64 || headDim == 128;
    }

    void denseFlash(long out, long q, long k, long v, int batch, int seq, int heads, int headDim) {
        dev.launch("dense_flash_attn_hd" + headDim, (seq + 127) / 128, batch * heads, 1, 256, 1, 1, out, q, k, v, seq, heads,
                f((float) (1.0 / Math.sqrt(headDim))));
    }

    void denseAttnPtrs(long ptrs, long q, long k, long v, long s, long p, long o, int batch, int heads, int seq, int headDim, int ld) {
        int n = batch * heads;
        dev.launch("dense_attn_ptrs", (n + 127) / 128, 1, 1, 128, 1, 1, ptrs, q, k, v, s, p, o, batch, heads, seq, headDim, ld);
    }

    void softmaxRows(long p, long s, int n, int ld, long rows) {
        dev.launch("softmax_rows", Math.toIntExact((rows + 7) / 8), 1, 1, 256, 1, 1, p, s, n, ld, rows);
    }
}
