package io.vqwen.worker;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/** A job's release signal: set once, observed by the running chat call and by backoff waits. */
public final class Cancel {
    private final CountDownLatch latch = new CountDownLatch(1);
    private volatile Runnable onCancel = () -> { };

    public void cancel() {
        if (latch.getCount() == 0) return;
        latch.countDown();
        onCancel.run();
    }

    public boolean isCancelled() {
        return latch.getCount() == 0;
    }

    /** Runs {@code r} on cancel (at once if already cancelled); replaces an earlier hook. */
    public void onCancel(Runnable r) {
        onCancel = r;
        if (isCancelled()) r.run();
    }

    /** Sleeps for {@code d}, or less when cancelled; returns whether it was cancelled. */
    public boolean sleep(Duration d) {
        try {
            return latch.await(d.toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return true;
        }
    }
}
