package io.vqwen.engine.generate;

/** A snapshot of the decoder: batch, queue and KV cache occupancy. */
public record EngineStats(int running, int waiting, int kvBlocksUsed, int kvBlocksTotal, long stepCount, int lastBatchSize, long preemptions) {
    public double kvCacheUsage() {
        return kvBlocksTotal == 0 ? 0 : (double) kvBlocksUsed / kvBlocksTotal;
    }
}
