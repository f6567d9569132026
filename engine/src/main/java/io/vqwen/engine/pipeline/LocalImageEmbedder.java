package io.vqwen.engine.pipeline;

import io.vqwen.engine.ImageProjector;
import io.vqwen.engine.VisionEncoder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The image embedder in process: {@link VisionEncoder} + {@link ImageProjector} + an {@link EmbeddingStore}. One
 * worker thread takes whatever images are queued (up to {@code maxBatch}) and runs them through vision and the
 * projector as one batch, as vision-service does; a batch that fails is retried image by image, so one bad file
 * fails only its own request.
 */
public final class LocalImageEmbedder implements ImageEmbedder, AutoCloseable {
    private record Job(byte[] image, CompletableFuture<EmbeddingStore.Stored> done) {
    }

    private final VisionEncoder vision;
    private final ImageProjector projector;
    private final EmbeddingStore store;
    private final int maxBatch;
    private final LinkedBlockingQueue<Job> queue = new LinkedBlockingQueue<>();
    private final Thread worker;
    private volatile boolean closed;

    public LocalImageEmbedder(VisionEncoder vision, ImageProjector projector, EmbeddingStore store, int maxBatch) {
        if (maxBatch < 1) throw new IllegalArgumentException("maxBatch must be >= 1, got " + maxBatch);
        this.vision = vision;
        this.projector = projector;
        this.store = store;
        this.maxBatch = maxBatch;
        this.worker = Thread.ofPlatform().name("vqwen-image-embedder").daemon().start(this::loop);
    }

    public EmbeddingStore store() {
        return store;
    }

    @Override
    public CompletableFuture<ImageHandle> embed(byte[] image) {
        String sha = Sha256.hex(image);
        EmbeddingStore.Lookup l = store.getOrStart(sha, () -> {
            CompletableFuture<EmbeddingStore.Stored> f = new CompletableFuture<>();
            if (closed) f.completeExceptionally(new IllegalStateException("the image embedder is closed"));
            else queue.add(new Job(image, f));
            return f;
        }, true);
        return l.future().copy().thenApply(s -> handle(sha, s, l.hit()));
    }

    @Override
    public CompletableFuture<ImageHandle> lookup(String sha256) {
        CompletableFuture<EmbeddingStore.Stored> f = store.get(sha256, true);
        if (f == null) return CompletableFuture.failedFuture(new ImageNotFoundException(sha256));
        return f.copy().thenApply(s -> handle(sha256, s, true));
    }

    @Override
    public void release(List<String> sha256s) {
        store.release(sha256s);
    }

    private static ImageHandle handle(String sha, EmbeddingStore.Stored s, boolean hit) {
        return new ImageHandle(sha, s.embeddings().rows(), s.embeddings().width(), hit ? 0 : s.encodeMs(), hit);
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
            try {
                run(batch);
            } catch (RuntimeException e) {
                if (batch.size() == 1) batch.getFirst().done.completeExceptionally(e);
                else for (Job j : batch) runAlone(j);
            }
        }
        for (Job j; (j = queue.poll()) != null; ) j.done.completeExceptionally(new IllegalStateException("the image embedder is closed"));
    }

    private void runAlone(Job j) {
        try {
            run(List.of(j));
        } catch (RuntimeException e) {
            j.done.completeExceptionally(e);
        }
    }

    private void run(List<Job> batch) {
        long t0 = System.nanoTime();
        List<VisionEncoder.EncodedImage> features = vision.encodeBatch(batch.stream().map(Job::image).toList());
        List<ImageEmbeddings> in = features.stream().map(f -> ImageEmbeddings.f32(f.features(), f.rows(), f.cols())).toList();
        List<ImageEmbeddings> out = projector.project(in);
        double ms = (System.nanoTime() - t0) / 1e6 / batch.size();
        for (int i = 0; i < batch.size(); i++) batch.get(i).done.complete(new EmbeddingStore.Stored(out.get(i), ms));
    }

    @Override
    public void close() {
        closed = true;
        worker.interrupt();
        try {
            worker.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
