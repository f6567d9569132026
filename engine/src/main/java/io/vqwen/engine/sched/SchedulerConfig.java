package io.vqwen.engine.sched;

/**
 * @param maxRunning         sequences in the running batch at most
 * @param tokenBudget        tokens per step at most (decode tokens first, then prefill chunks: chunked prefill)
 * @param maxWaiting         queued sequences at most; beyond it submissions are refused
 * @param blockSize          tokens per KV block
 * @param numBlocks          KV blocks in the cache
 * @param maxModelLen        prompt + output tokens per sequence at most
 */
public record SchedulerConfig(int maxRunning, int tokenBudget, int maxWaiting, int blockSize, int numBlocks, int maxModelLen) {
    public SchedulerConfig {
        if (maxRunning <= 0 || tokenBudget <= 0 || blockSize <= 0 || numBlocks <= 0 || maxModelLen <= 0 || maxWaiting < 0) {
            throw new IllegalArgumentException("scheduler config must be positive: " + this);
        }
    }
}
