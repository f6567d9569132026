package io.vqwen.engine.pipeline;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * The embeddings of recent images, keyed by the SHA-256 of the image bytes: a bounded LRU whose entries are
 * futures, so a second request for an image whose encode is running waits for it instead of starting another.
 * Pins keep an entry from eviction while a request that holds its handle has not prefilled: each
 * {@link #getOrStart}/{@link #get} with {@code pin} adds one, {@link #fetch} with {@code release} and
 * {@link #release} take one back. A pin also carries a lease ({@code leaseTimeout} after the last pin): a caller
 * that died between embed and fetch cannot hold an entry forever. When every entry is pinned or still encoding
 * the store runs over capacity rather than break a request; it shrinks back as pins go.
 */
public final class EmbeddingStore implements EmbeddingSource {
    /** One image's embeddings and what producing them cost. */
    public record Stored(ImageEmbeddings embeddings, double encodeMs) {
    }

    /** hit: the entry was there (ready or in flight) and this caller started no encode. */
    public record Lookup(CompletableFuture<Stored> future, boolean hit) {
    }

    private static final class Entry {
        final CompletableFuture<Stored> future = new CompletableFuture<>();
        int pins;
        long leaseEnd;
    }

    private final int capacity;
    private final long leaseNanos;
    private final LongSupplier clock;
    private final LinkedHashMap<String, Entry> map = new LinkedHashMap<>(16, 0.75f, true);
    /** Why recent encodes failed, so a request naming a failed upload hears the reason rather than "re-upload". */
    private final LinkedHashMap<String, Throwable> failures;

    public EmbeddingStore(int capacity, Duration leaseTimeout) {
        this(capacity, leaseTimeout, System::nanoTime);
    }

    /** {@code clock} in nanoseconds (tests move it by hand). */
    public EmbeddingStore(int capacity, Duration leaseTimeout, LongSupplier clock) {
        if (capacity < 1) throw new IllegalArgumentException("the embedding store needs >= 1 entries, got " + capacity);
        this.capacity = capacity;
        this.leaseNanos = leaseTimeout.toNanos();
        this.clock = clock;
        this.failures = new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, Throwable> eldest) {
                return size() > EmbeddingStore.this.capacity;
            }
        };
    }

    /** The entry for {@code sha256}, or a new one filled by {@code encode} (called outside the lock). */
    public Lookup getOrStart(String sha256, Supplier<CompletableFuture<Stored>> encode, boolean pin) {
        Entry entry;
        synchronized (this) {
            Entry existing = map.get(sha256);
            if (existing != null) {
                if (pin) pin(existing);
                return new Lookup(existing.future, true);
            }
            entry = new Entry();
            if (pin) pin(entry);
            map.put(sha256, entry);
            failures.remove(sha256);
            evict();
        }
        CompletableFuture<Stored> started;
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
                entry.future.completeExceptionally(err);
            } else {
                entry.future.complete(v);
                synchronized (this) {
                    evict(); // an entry that finished encoding may now be evictable
                }
            }
        });
        return new Lookup(entry.future, false);
    }

    /** The entry for {@code sha256} (ready or in flight), or null: never embedded here, or evicted. */
    public synchronized CompletableFuture<Stored> get(String sha256, boolean pin) {
        Entry e = map.get(sha256);
        if (e == null) return null;
        if (pin) pin(e);
        return e.future;
    }

    @Override
    public CompletableFuture<List<ImageEmbeddings>> fetch(List<String> sha256s, boolean release) {
        List<CompletableFuture<Stored>> parts = new ArrayList<>(sha256s.size());
        String missing = null;
        synchronized (this) {
            for (String sha : sha256s) {
                Entry e = map.get(sha);
                if (e == null && missing == null) missing = sha;
                parts.add(e == null ? null : e.future);
            }
            // The request is done with its pins whether or not every image was still here.
            if (release) release(sha256s);
        }
        if (missing != null) return CompletableFuture.failedFuture(new ImageNotFoundException(missing));
        // copy(): a caller that cancels its future must not cancel an encode other requests share.
        return CompletableFuture.allOf(parts.stream().map(CompletableFuture::copy).toArray(CompletableFuture[]::new))
                .thenApply(v -> parts.stream().map(f -> f.join().embeddings()).toList());
    }

    /** Takes back one pin of each (unknown or unpinned hashes are ignored: their lease may have ended). */
    @Override
    public synchronized void release(List<String> sha256s) {
        for (String sha : sha256s) {
            Entry e = map.get(sha);
            if (e != null && e.pins > 0) e.pins--;
        }
        evict();
    }

    /** Why the last encode of {@code sha256} failed, if it did and nothing replaced it since. */
    public synchronized Throwable failure(String sha256) {
        return failures.get(sha256);
    }

    /** Live pins of an entry (0 when absent or its lease ended). */
    public synchronized int pins(String sha256) {
        Entry e = map.get(sha256);
        return e == null || leaseEnded(e) ? 0 : e.pins;
    }

    public synchronized boolean contains(String sha256) {
        return map.containsKey(sha256);
    }

    public synchronized int size() {
        return map.size();
    }

    public int capacity() {
        return capacity;
    }

    private void pin(Entry e) {
        if (leaseEnded(e)) e.pins = 0;
        e.pins++;
        e.leaseEnd = clock.getAsLong() + leaseNanos;
    }

    private boolean leaseEnded(Entry e) {
        return e.pins > 0 && clock.getAsLong() - e.leaseEnd > 0;
    }

    /** Least recently used first; skips entries that are pinned (lease alive) or still encoding. */
    private void evict() {
        for (Iterator<Entry> it = map.values().iterator(); map.size() > capacity && it.hasNext(); ) {
            Entry e = it.next();
            if (leaseEnded(e)) e.pins = 0;
            if (e.pins == 0 && e.future.isDone()) it.remove();
        }
    }
}
