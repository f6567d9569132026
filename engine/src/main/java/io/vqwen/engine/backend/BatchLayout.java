package io.vqwen.engine.backend;

/**
 * One forward step of the decoder over a flattened batch (vLLM v1 layout): the tokens of every scheduled sequence
 * are concatenated, a prefill chunk or a single decode token per sequence. Plain host data; a backend turns it into
 * a {@link StepBatch} (device buffers on the GPU) with {@link Backend#prepare(BatchLayout)}.
 *
 * @param tokenIds     (numTokens) token id per row; image rows carry the image token and are overwritten
 * @param positions    (numTokens) RoPE position of each row
 * @param slotMapping  (numTokens) KV cache slot (block * blockSize + offset) each row's K/V is written to
 * @param queryStart   (numSeqs + 1) first row of each sequence; the last entry is numTokens
 * @param contextLens  (numSeqs) tokens in the cache for each sequence after this step (cached + new)
 * @param blockTables  (numSeqs, maxBlocks) KV block ids per sequence, -1 padded
 * @param logitRows    (numLogits) rows whose logits are wanted (the last row of each sequence that samples)
 */
public record BatchLayout(int[] tokenIds, int[] positions, int[] slotMapping, int[] queryStart, int[] contextLens,
                          int[][] blockTables, int[] logitRows) {
    public int numTokens() {
        return tokenIds.length;
    }

    public int numSeqs() {
        return contextLens.length;
    }

    /** Single-sequence layout helper: tokens [start, start+ids.length) of one sequence whose blocks are given. */
    public static BatchLayout single(int[] ids, int start, int[] blockTable, int blockSize, boolean wantLogits) {
        int n = ids.length;
        int[] pos = new int[n];
        int[] slots = new int[n];
        for (int i = 0; i < n; i++) {
            pos[i] = start + i;
            slots[i] = blockTable[pos[i] / blockSize] * blockSize + pos[i] % blockSize;
        }
        return new BatchLayout(ids, pos, slots, new int[] {0, n}, new int[] {start + n}, new int[][] {blockTable},
                wantLogits ? new int[] {n - 1} : new int[0]);
    }
}
