package io.vqwen.engine.cpu;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.RecursiveAction;

/** Splits index ranges over the CPU cores. */
final class Parallel {
    interface RangeBody {
        void run(int from, int to);
    }

    private final ForkJoinPool pool;
    private final int threads;

    Parallel(int threads) {
        this.threads = Math.max(1, threads);
        this.pool = this.threads == 1 ? null : new ForkJoinPool(this.threads);
    }

    int threads() {
        return threads;
    }

    /** Runs body over [0, n) in chunks of at least {@code grain} indices. */
    void forRange(int n, int grain, RangeBody body) {
        if (n <= 0) return;
        int chunks = Math.min(threads * 4, Math.max(1, n / Math.max(1, grain)));
        if (pool == null || chunks <= 1) {
            body.run(0, n);
            return;
        }
        pool.invoke(new Split(0, n, (n + chunks - 1) / chunks, body));
    }

    void close() {
        if (pool != null) pool.shutdownNow();
    }

    private static final class Split extends RecursiveAction {
        final int from, to, chunk;
        final RangeBody body;

        Split(int from, int to, int chunk, RangeBody body) {
            this.from = from;
            this.to = to;
            this.chunk = chunk;
            this.body = body;
        }

        @Override
        protected void compute() {
            if (to - from <= chunk) {
                body.run(from, to);
                return;
            }
            int mid = from + ((to - from) / chunk / 2) * chunk;
            if (mid == from) mid = from + chunk;
            invokeAll(new Split(from, mid, chunk, body), new Split(mid, to, chunk, body));
        }
    }
}
