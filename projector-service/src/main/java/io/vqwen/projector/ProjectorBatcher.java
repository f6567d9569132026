package io.vqwen.projector;

import io.vqwen.engine.ImageProjector;
import io.vqwen.engine.pipeline.ImageEmbeddings;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * The projector on one worker thread, batched as vision is: the worker takes whatever feature sets are queued (up
 * to {@code maxBatch}) and projects them in one forward, so 64 images arriving together cost a few large matmuls
 * rather than 64 small ones. A full queue refuses at once (RESOURCE_EXHAUSTED) instead of growing.
 */
final class ProjectorBatcher implements AutoCloseable {
    private record Job(ImageEmbeddings features, long queuedNanos, CompletableFuture<Projected> done) {
    }

    /** One image's embeddings and its share of the batch's forward time. */
    record Projected(ImageEmbeddings embeddings, double projectMs, double queueMs) {
    }

    private final ImageProjector projector;
    private final int maxBatch;
    private final ArrayBlockingQueue<Job> queue;
    private final Thread worker;
    private volatile boolean closed;

    ProjectorBatcher(ImageProjector projector, int maxBatch, int maxWaiting) {
        this.projector = projector;
        this.maxBatch = maxBatch;
        this.queue = new ArrayBlockingQueue<>(maxWaiting);
        this.worker = Thread.ofPlatform().name("vqwen-projector").daemon().start(this::loop);
    }

    CompletableFuture<Projected> submit(ImageEmbeddings features) {
        if (features.width() != projector.inWidth()) {
            return CompletableFuture.failedFuture(new IllegalArgumentException("features: expected shape (N, " + projector.inWidth()
                    + "), got [" + features.rows() + ", " + features.width() + "]"));
        }
        CompletableFuture<Projected> f = new CompletableFuture<>();
        if (closed || !queue.offer(new Job(features, System.nanoTime(), f))) {
            return CompletableFuture.failedFuture(new RejectedExecutionException("the projector's queue is full (" + queue.size() + " waiting)"));
        }
        return f;
    }

    private void loop() {
        while (!closed) {
            List<Job> batch = new ArrayList<>();
            try {
                Job first = queue.poll(100, TimeUnit.MILLISECONDS);
                if (first == null) continue;
                batch.add(first);
                queue.drainTo(batch, maxBatch - 1);
            } catch (InterruptedException e) {
                break;
            }
            long t0 = System.nanoTime();
            try {
                List<ImageEmbeddings> out = projector.project(batch.stream().map(Job::features).toList());
                double ms = (System.nanoTime() - t0) / 1e6 / batch.size();
                for (int i = 0; i < batch.size(); i++) {
                    Job j = batch.get(i);
                    j.done.complete(new Projected(out.get(i), ms, (t0 - j.queuedNanos) / 1e6));
                }
            } catch (RuntimeException e) {
                for (Job j : batch) j.done.completeExceptionally(e);
            }
        }
        for (Job j; (j = queue.poll()) != null; ) j.done.completeExceptionally(new IllegalStateException("the projector is shutting down"));
    }

    @Override
    public void close() {
        closed = true;
        worker.interrupt();
    }
}
