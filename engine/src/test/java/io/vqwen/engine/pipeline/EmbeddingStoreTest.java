package io.vqwen.engine.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class EmbeddingStoreTest {
    private final AtomicLong now = new AtomicLong();
    private final AtomicInteger encodes = new AtomicInteger();

    private EmbeddingStore store(int capacity) {
        return new EmbeddingStore(capacity, Duration.ofSeconds(30), now::get);
    }

    private CompletableFuture<EmbeddingStore.Stored> encoded(float v) {
        encodes.incrementAndGet();
        return CompletableFuture.completedFuture(new EmbeddingStore.Stored(ImageEmbeddings.f32(new float[] {v, v}, 1, 2), 5));
    }

    @Test
    void concurrentRequestsForOneImageShareOneEncode() {
        EmbeddingStore s = store(4);
        CompletableFuture<EmbeddingStore.Stored> running = new CompletableFuture<>();
        EmbeddingStore.Lookup a = s.getOrStart("a", () -> running, false);
        EmbeddingStore.Lookup b = s.getOrStart("a", () -> encoded(9), false);
        assertFalse(a.hit());
        assertTrue(b.hit());
        assertEquals(0, encodes.get(), "the second caller started no encode");
        CompletableFuture<List<ImageEmbeddings>> fetched = s.fetch(List.of("a"), false);
        fetched.cancel(true); // one caller giving up must not cancel the shared encode
        running.complete(new EmbeddingStore.Stored(ImageEmbeddings.f32(new float[] {1, 2}, 1, 2), 3));
        assertEquals(2f, b.future().join().embeddings().toF32()[1]);
    }

    @Test
    void leastRecentlyUsedUnpinnedEntryIsEvicted() {
        EmbeddingStore s = store(2);
        s.getOrStart("a", () -> encoded(1), false);
        s.getOrStart("b", () -> encoded(2), false);
        s.get("a", false); // a is now the most recent
        s.getOrStart("c", () -> encoded(3), false);
        assertTrue(s.contains("a"));
        assertFalse(s.contains("b"));
        assertTrue(s.contains("c"));
    }

    @Test
    void pinnedEntriesAreNeverEvictedAndTheStoreShrinksWhenTheyAreReleased() {
        EmbeddingStore s = store(1);
        s.getOrStart("a", () -> encoded(1), true);
        s.getOrStart("b", () -> encoded(2), true);
        assertEquals(2, s.size(), "both pinned: over capacity rather than break a request");
        assertEquals(1, s.fetch(List.of("a"), true).join().size());
        assertEquals(0, s.pins("a"));
        s.release(List.of("b"));
        assertEquals(1, s.size());
        assertTrue(s.contains("b"), "a was released first and is the least recently used");
    }

    @Test
    void aPinOutlivesItsLeaseOnlyUntilTheTimeout() {
        EmbeddingStore s = store(1);
        s.getOrStart("a", () -> encoded(1), true);
        now.addAndGet(Duration.ofSeconds(29).toNanos());
        s.getOrStart("b", () -> encoded(2), false);
        assertTrue(s.contains("a"), "lease still alive");
        now.addAndGet(Duration.ofSeconds(2).toNanos());
        assertEquals(0, s.pins("a"));
        s.getOrStart("c", () -> encoded(3), false);
        assertFalse(s.contains("a"), "a caller that never fetched cannot hold an entry forever");
    }

    @Test
    void fetchOfAnEvictedImageNamesItAndStillReleasesTheOthers() {
        EmbeddingStore s = store(4);
        s.getOrStart("a", () -> encoded(1), true);
        CompletionException e = org.junit.jupiter.api.Assertions.assertThrows(CompletionException.class,
                () -> s.fetch(List.of("a", "gone"), true).join());
        assertEquals("gone", assertInstanceOf(ImageNotFoundException.class, e.getCause()).sha256());
        assertEquals(0, s.pins("a"));
    }

    @Test
    void aFailedEncodeLeavesTheStoreAndIsRemembered() {
        EmbeddingStore s = store(4);
        IllegalArgumentException bad = new IllegalArgumentException("not an image");
        EmbeddingStore.Lookup l = s.getOrStart("a", () -> CompletableFuture.failedFuture(bad), true);
        assertTrue(l.future().isCompletedExceptionally());
        assertFalse(s.contains("a"));
        assertSame(bad, s.failure("a"));
        assertNull(s.get("a", false));
        s.getOrStart("a", () -> encoded(1), false);
        assertNull(s.failure("a"), "a later success replaces the failure");
        assertEquals(1, encodes.get(), "the next request tries again");
    }

    @Test
    void anEncodeStillRunningIsNotEvicted() {
        EmbeddingStore s = store(1);
        CompletableFuture<EmbeddingStore.Stored> running = new CompletableFuture<>();
        s.getOrStart("a", () -> running, false);
        s.getOrStart("b", () -> encoded(2), false);
        assertTrue(s.contains("a"));
        running.complete(new EmbeddingStore.Stored(ImageEmbeddings.f32(new float[] {1, 1}, 1, 2), 1));
        assertEquals(1, s.size(), "evicted once done");
    }
}
