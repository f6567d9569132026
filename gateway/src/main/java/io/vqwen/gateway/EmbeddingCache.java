package io.vqwen.gateway;

import io.vqwen.proto.v1.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

/**
 * A bounded LRU of image embeddings keyed by the SHA-256 of the image bytes, so a repeated image skips vision and
 * projector. Entries are futures: a request for an image whose encode is still running (an upload through
 * {@code POST /v1/images}, or a concurrent request) waits for that encode instead of starting another. A failed
 * encode leaves the cache, so the next request tries again.
 */
public final class EmbeddingCache {
    /** One image's projected embeddings: (rows, hidden), and what producing them cost. */
    public record Embedding(Tensor tensor, int rows, double encodeMs) {
    }

    /** hit: the entry was there (done or in flight) and this caller started no encode. */
    public record Lookup(CompletableFuture<Embedding> future, boolean hit) {
    }

    private final int capacity;
    private final LinkedHashMap<String, CompletableFuture<Embedding>> map;
    /** Why recent encodes failed, so a chat naming a failed upload hears the reason rather than "re-upload". */
    private final LinkedHashMap<String, Throwable> failures;

    public EmbeddingCache(int capacity) {
        if (capacity < 1) throw new IllegalArgumentException("vqwen.gateway.embedding-cache-entries must be >= 1, got " + capacity);
        this.capacity = capacity;
        this.map = new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, CompletableFuture<Embedding>> eldest) {
                return size() > EmbeddingCache.this.capacity;
            }
        };
        this.failures = new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, Throwable> eldest) {
                return size() > EmbeddingCache.this.capacity;
            }
        };
    }

    /** Why the last encode of {@code sha256} failed, if it did and nothing replaced it since. */
    public synchronized Throwable failure(String sha256) {
        return failures.get(sha256);
    }

    /** The entry for {@code sha256}, or null: never uploaded, or evicted. */
    public synchronized CompletableFuture<Embedding> get(String sha256) {
        return map.get(sha256);
    }

    /** The entry for {@code sha256}, or a new one filled by {@code encode} (called outside the lock). */
    public Lookup getOrStart(String sha256, Supplier<CompletableFuture<Embedding>> encode) {
        CompletableFuture<Embedding> entry;
        synchronized (this) {
            CompletableFuture<Embedding> existing = map.get(sha256);
            if (existing != null) return new Lookup(existing, true);
            entry = new CompletableFuture<>();
            map.put(sha256, entry);
            failures.remove(sha256);
        }
        CompletableFuture<Embedding> started;
        try {
            started = encode.get();
        } catch (RuntimeException e) {
            started = CompletableFuture.failedFuture(e);
        }
        started.whenComplete((v, err) -> {
            if (err != null) {
                synchronized (this) {
                    if (map.remove(sha256, entry)) failures.put(sha256, err);
                }
                entry.completeExceptionally(err);
            } else {
                entry.complete(v);
            }
        });
        return new Lookup(entry, false);
    }

    /** Whether the entry is present and its embeddings are ready. */
    public synchronized boolean isReady(String sha256) {
        CompletableFuture<Embedding> f = map.get(sha256);
        return f != null && f.isDone() && !f.isCompletedExceptionally();
    }

    public synchronized int size() {
        return map.size();
    }

    public int capacity() {
        return capacity;
    }
}
