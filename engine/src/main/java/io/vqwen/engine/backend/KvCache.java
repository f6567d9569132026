package io.vqwen.engine.backend;

/**
 * The paged KV cache of the decoder, owned by a backend: for each layer, K and V of
 * (numBlocks, blockSize, numKvHeads, headDim). Block ids are handed out by the scheduler's block allocator.
 */
public interface KvCache extends AutoCloseable {
    KvCacheSpec spec();

    @Override
    void close();
}
