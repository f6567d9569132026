package io.vqwen.cuda.bench;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongSupplier;

/**
 * The scheduler's decode phase in a burst of N streams submitted at once: from the moment the last stream gets its
 * first token (every prompt prefilled, N running, no prefill left) to the first stream's finish (the batch starts to
 * shrink). Its step rate, against the raw batch-N step rate, is what the scheduler and the host work around each
 * step cost. Fed from the engine's listener callbacks (its step thread); the step count comes from the engine's stats.
 */
final class DecodePhaseProbe {
    private final int streams;
    private final LongSupplier stepCount;
    private final LongSupplier nanoClock;
    private final AtomicInteger started = new AtomicInteger();
    private final AtomicBoolean ended = new AtomicBoolean();
    private volatile long startNanos = -1, startStep, endNanos = -1, endStep;

    DecodePhaseProbe(int streams, LongSupplier stepCount, LongSupplier nanoClock) {
        if (streams < 1) throw new IllegalArgumentException("streams must be >= 1, got " + streams);
        this.streams = streams;
        this.stepCount = stepCount;
        this.nanoClock = nanoClock;
    }

    /** A stream's first token. */
    void firstToken() {
        if (started.incrementAndGet() == streams) {
            startStep = stepCount.getAsLong();
            startNanos = nanoClock.getAsLong();
        }
    }

    /** A stream finished (or failed). */
    void finished() {
        if (ended.compareAndSet(false, true)) {
            endStep = stepCount.getAsLong();
            endNanos = nanoClock.getAsLong();
        }
    }

    /** Steps inside the decode phase; 0 when a stream finished before the last one's first token (no such phase). */
    long steps() {
        return startNanos < 0 || endNanos < 0 || endNanos < startNanos ? 0 : endStep - startStep;
    }

    /** Steps per second in the decode phase; throws when there was none to measure. */
    double stepsPerSecond() {
        long steps = steps();
        if (steps <= 0) {
            throw new IllegalStateException(startNanos < 0 ? "only " + started.get() + " of " + streams + " streams got a first token"
                    : "no decode phase: a stream finished before the last of " + streams + " got its first token (raise --new-tokens)");
        }
        return steps / ((endNanos - startNanos) / 1e9);
    }
}
