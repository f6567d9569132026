package io.vqwen.cuda;

/** Launchers of rows.cu: one block per row; 16-byte copies when rows are 8-element multiples and aligned. */
final class RowKernels {
    private final CudaDevice dev;

    RowKernels(CudaDevice dev) {
        this.dev = dev;
    }

    private static long vec(int d, long a, long b) {
        return d % 8 == 0 ? ElementwiseKernels.vec(a, b) : 0;
    }

    private static int threads(int d) {
        return Math.min(256, Math.max(32, (d / 8 + 31) / 32 * 32));
    }

    void embed(long out, long table, long ids, int rows, int d) {
        dev.launch("embed_rows", rows, 1, 1, threads(d), 1, 1, out, table, ids, d, vec(d, out, table));
    }

    void gather(long out, long in, long rowIdx, int rows, int d) {
        dev.launch("gather_rows", rows, 1, 1, threads(d), 1, 1, out, in, rowIdx, d, vec(d, out, in));
    }

    void scatter(long dst, long src, long rowIdx, int rows, int d) {
        dev.launch("scatter_rows", rows, 1, 1, threads(d), 1, 1, dst, src, rowIdx, d, vec(d, dst, src));
    }

    void writeKv(long kCache, long vCache, long k, long v, long slots, int rows, int width) {
        long vec = width % 8 == 0 ? ElementwiseKernels.vec(kCache, vCache, k, v) : 0;
        dev.launch("write_kv", rows, 1, 1, threads(width), 1, 1, kCache, vCache, k, v, slots, width, vec);
    }

    void patchify(long out, long images, int batch, int channels, int size, int patch) {
        int side = size / patch;
        dev.launch("patchify", side * side, batch, 1, 128, 1, 1, out, images, channels, size, patch);
    }
}
