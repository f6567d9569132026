package io.vqwen.cuda;

import io.vqwen.engine.backend.BatchLayout;
import io.vqwen.engine.backend.StepBatch;
import jcuda.Pointer;

/**
 * A {@link BatchLayout} in device memory: every int array packed into one buffer, uploaded with one copy.
 * Besides the layout it holds the prefill tiles (64 rows of one sequence each) the flash kernel runs over, and
 * the split counters of decode attention. A decode graph keeps one of these and rewrites it before each replay.
 */
final class CudaStep implements StepBatch {
    private final CudaDevice dev;
    private final DevicePool pool;
    BatchLayout layout;
    final boolean decode;       // one query row per sequence
    final int tableStride;      // ints per block-table row
    final int numTiles;
    int maxContext;
    final boolean forGraph;     // decode splits must not depend on the (changing) context length
    private final DevicePool.Buffer data;
    private final int[] packed;
    final long tokenIds, positions, slots, queryStart, contextLens, logitRows, tables, tileSeq, tileRow;
    private DevicePool.Buffer counters;
    private int counterCapacity;
    int vocab;                  // rows of the embedding table seen by embed(), checked before graph replays

    CudaStep(CudaDevice dev, DevicePool pool, BatchLayout layout, int tableStride, boolean forGraph) {
        this.dev = dev;
        this.pool = pool;
        this.layout = layout;
        this.tableStride = Math.max(1, tableStride);
        this.forGraph = forGraph;
        int n = layout.numTokens(), s = layout.numSeqs();
        boolean oneEach = n == s;
        for (int i = 0; oneEach && i < s; i++) oneEach = layout.queryStart()[i + 1] - layout.queryStart()[i] == 1;
        this.decode = oneEach;
        int tiles = 0;
        for (int i = 0; i < s; i++) {
            tiles += (layout.queryStart()[i + 1] - layout.queryStart()[i] + AttentionKernels.PREFILL_ROWS - 1) / AttentionKernels.PREFILL_ROWS;
        }
        this.numTiles = tiles;
        int L = layout.logitRows().length;
        int total = 3 * n + (s + 1) + s + L + s * this.tableStride + 2 * tiles;
        packed = new int[Math.max(total, 1)];
        data = pool.take(packed.length * 4L);
        long base = data.address;
        int off = 0;
        tokenIds = base + 4L * off;
        off += n;
        positions = base + 4L * off;
        off += n;
        slots = base + 4L * off;
        off += n;
        queryStart = base + 4L * off;
        off += s + 1;
        contextLens = base + 4L * off;
        off += s;
        logitRows = base + 4L * off;
        off += L;
        tables = base + 4L * off;
        off += s * this.tableStride;
        tileSeq = base + 4L * off;
        off += tiles;
        tileRow = base + 4L * off;
        write(layout);
    }

    /** Packs and uploads a layout of the same shape (graph replays). */
    void write(BatchLayout l) {
        this.layout = l;
        int n = l.numTokens(), s = l.numSeqs(), L = l.logitRows().length;
        int off = 0;
        System.arraycopy(l.tokenIds(), 0, packed, off, n);
        off += n;
        System.arraycopy(l.positions(), 0, packed, off, n);
        off += n;
        System.arraycopy(l.slotMapping(), 0, packed, off, n);
        off += n;
        System.arraycopy(l.queryStart(), 0, packed, off, s + 1);
        off += s + 1;
        System.arraycopy(l.contextLens(), 0, packed, off, s);
        off += s;
        System.arraycopy(l.logitRows(), 0, packed, off, L);
        off += L;
        int max = 0;
        for (int i = 0; i < s; i++) {
            int[] t = l.blockTables()[i];
            if (t.length > tableStride) throw new IllegalArgumentException("block table of " + t.length + " entries exceeds " + tableStride);
            System.arraycopy(t, 0, packed, off + i * tableStride, t.length);
            java.util.Arrays.fill(packed, off + i * tableStride + t.length, off + (i + 1) * tableStride, -1);
            max = Math.max(max, l.contextLens()[i]);
        }
        maxContext = max;
        off += s * tableStride;
        int ti = 0;
        for (int i = 0; i < s; i++) {
            for (int r = l.queryStart()[i]; r < l.queryStart()[i + 1]; r += AttentionKernels.PREFILL_ROWS) {
                packed[off + ti] = i;
                packed[off + numTiles + ti] = r;
                ti++;
            }
        }
        dev.upload(data.ptr, Pointer.to(packed), packed.length * 4L);
    }

    /** Zeroed split counters for (sequence, KV head) pairs; the decode kernel leaves them at zero. */
    long counters(int needed) {
        if (counters == null || counterCapacity < needed) {
            if (counters != null) counters.pool.give(counters);
            counters = pool.take(needed * 4L);
            counterCapacity = needed;
            dev.zero(counters.ptr, needed * 4L);
        }
        return counters.address;
    }

    /**
     * Context splits for decode attention: about two blocks per SM, at most one split per 32 tokens and at most 16
     * (the kernel's MAX_SPLITS). Run 4 tried four per SM: batch 1 was the same (16 splits), batch 64 slower.
     */
    int decodeSplits(int numSeqs, int numKv, int sms) {
        int want = (2 * sms + numSeqs * numKv - 1) / (numSeqs * numKv);
        if (!forGraph) want = Math.min(want, (maxContext + 31) / 32);
        return Math.max(1, Math.min(want, 16));
    }

    void release() {
        data.pool.give(data);
        if (counters != null) counters.pool.give(counters);
        counters = null;
    }

    @Override
    public BatchLayout layout() {
        return layout;
    }
}
