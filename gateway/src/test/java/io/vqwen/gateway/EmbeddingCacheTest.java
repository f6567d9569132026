package io.vqwen.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vqwen.gateway.EmbeddingCache.Embedding;
import io.vqwen.proto.v1.Tensor;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class EmbeddingCacheTest {
    private static final Embedding E = new Embedding(Tensor.getDefaultInstance(), 576, 1.0);

    @Test
    void aRepeatedImageDoesNotStartASecondEncodeEvenWhileTheFirstIsRunning() {
        EmbeddingCache cache = new EmbeddingCache(4);
        AtomicInteger encodes = new AtomicInteger();
        CompletableFuture<Embedding> running = new CompletableFuture<>();
        var first = cache.getOrStart("a", () -> {
            encodes.incrementAndGet();
            return running;
        });
        var second = cache.getOrStart("a", () -> {
            encodes.incrementAndGet();
            return CompletableFuture.completedFuture(E);
        });
        assertFalse(first.hit());
        assertTrue(second.hit());
        assertSame(first.future(), second.future());
        assertFalse(cache.isReady("a"));
        running.complete(E);
        assertTrue(cache.isReady("a"));
        assertEquals(1, encodes.get());
    }

    @Test
    void leastRecentlyUsedIsEvictedAtCapacity() {
        EmbeddingCache cache = new EmbeddingCache(2);
        cache.getOrStart("a", () -> CompletableFuture.completedFuture(E));
        cache.getOrStart("b", () -> CompletableFuture.completedFuture(E));
        assertNotNull(cache.get("a")); // a is now the most recently used
        cache.getOrStart("c", () -> CompletableFuture.completedFuture(E));
        assertEquals(2, cache.size());
        assertNull(cache.get("b"));
        assertNotNull(cache.get("a"));
        assertNotNull(cache.get("c"));
    }

    @Test
    void aFailedEncodeLeavesTheCacheAndIsRemembered() {
        EmbeddingCache cache = new EmbeddingCache(2);
        var l = cache.getOrStart("a", () -> CompletableFuture.failedFuture(new IllegalStateException("not a PNG")));
        assertTrue(l.future().isCompletedExceptionally());
        assertNull(cache.get("a"));
        assertEquals("not a PNG", cache.failure("a").getMessage());
        var retry = cache.getOrStart("a", () -> CompletableFuture.completedFuture(E));
        assertFalse(retry.hit());
        assertNull(cache.failure("a"));
    }
}
