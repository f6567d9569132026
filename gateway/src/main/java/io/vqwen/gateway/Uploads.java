package io.vqwen.gateway;

import io.vqwen.engine.pipeline.ImageHandle;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * What this gateway knows of its own {@code POST /v1/images} uploads: whether each is still encoding, or why it
 * failed. Metadata only, bounded LRU: the embeddings themselves live on the projector, which is asked whether a
 * finished upload is still there.
 */
public final class Uploads {
    /** An upload as the API reports it: state "encoding", "ready" or "failed", and the failure's text. */
    public record Status(String state, String error) {
    }

    /** A started upload: its handle-to-be; {@code knownReady} when an earlier upload of the same bytes finished here. */
    public record Upload(String sha256, CompletableFuture<ImageHandle> future, boolean knownReady) {
    }

    private final LinkedHashMap<String, CompletableFuture<ImageHandle>> map;

    public Uploads(int capacity) {
        if (capacity < 1) throw new IllegalArgumentException("vqwen.gateway.embedding-cache-entries must be >= 1, got " + capacity);
        this.map = new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, CompletableFuture<ImageHandle>> eldest) {
                return size() > capacity;
            }
        };
    }

    public synchronized Upload started(String sha256, CompletableFuture<ImageHandle> future) {
        CompletableFuture<ImageHandle> before = map.get(sha256);
        boolean ready = before != null && before.isDone() && !before.isCompletedExceptionally();
        // A repeat keeps the finished future until its own answers, so the state never goes back to "encoding".
        map.put(sha256, ready ? before : future);
        if (ready) future.whenComplete((h, err) -> replace(sha256, before, future));
        return new Upload(sha256, future, ready);
    }

    private synchronized void replace(String sha256, CompletableFuture<ImageHandle> old, CompletableFuture<ImageHandle> now) {
        map.replace(sha256, old, now);
    }

    /** This gateway's view of an upload, or null when it never saw one (or forgot it). */
    public synchronized Status status(String sha256) {
        CompletableFuture<ImageHandle> f = map.get(sha256);
        if (f == null) return null;
        if (!f.isDone()) return new Status("encoding", null);
        if (!f.isCompletedExceptionally()) return new Status("ready", null);
        Throwable t = f.exceptionNow();
        while (t instanceof CompletionException && t.getCause() != null) t = t.getCause();
        return new Status("failed", t.getMessage());
    }
}
