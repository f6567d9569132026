package io.vqwen.engine.generate;

/**
 * @param maxRunning         sequences decoded together at most
 * @param maxModelLen        prompt + output tokens per sequence at most
 * @param kvBlocks           KV cache blocks
 * @param blockSize          tokens per KV block
 * @param prefillTokenBudget tokens per step at most, so running streams keep flowing during a long prefill
 * @param maxWaiting         queued requests at most before submissions are refused
 */
public record DecoderOptions(int maxRunning, int maxModelLen, int kvBlocks, int blockSize, int prefillTokenBudget, int maxWaiting) {
    /** Enough cache for maxRunning full-length sequences, capped for a small machine. */
    public static DecoderOptions defaults(int maxModelLen) {
        int blockSize = 16;
        int maxRunning = 64;
        int blocks = Math.min(maxRunning * ((maxModelLen + blockSize - 1) / blockSize), 8192);
        return new DecoderOptions(maxRunning, maxModelLen, blocks, blockSize, 512, 256);
    }
}
