package io.vqwen.engine.backend;

/** Shape of a paged KV cache. */
public record KvCacheSpec(int numLayers, int numBlocks, int blockSize, int numKvHeads, int headDim) {
    public int numSlots() {
        return numBlocks * blockSize;
    }

    /** Bytes per token across all layers for K and V at the given element size. */
    public long bytesPerToken(int elementBytes) {
        return 2L * numLayers * numKvHeads * headDim * elementBytes;
    }
}
