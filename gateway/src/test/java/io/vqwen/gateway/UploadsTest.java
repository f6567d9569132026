package io.vqwen.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vqwen.engine.pipeline.ImageHandle;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

class UploadsTest {
    private static final String A = "a".repeat(64), B = "b".repeat(64);

    @Test
    void statesFollowTheUploadAndARepeatOfAFinishedOneStaysReady() {
        Uploads u = new Uploads(4);
        CompletableFuture<ImageHandle> first = new CompletableFuture<>();
        assertFalse(u.started(A, first).knownReady());
        assertEquals("encoding", u.status(A).state());
        first.complete(new ImageHandle(A, 576, 32, 5, false));
        assertEquals("ready", u.status(A).state());
        CompletableFuture<ImageHandle> again = new CompletableFuture<>();
        assertTrue(u.started(A, again).knownReady());
        assertEquals("ready", u.status(A).state(), "a repeat does not go back to encoding");
        again.completeExceptionally(new IllegalStateException("projector-service: gone"));
        assertEquals("failed", u.status(A).state());
        assertEquals("projector-service: gone", u.status(A).error());
    }

    @Test
    void onlyTheMostRecentUploadsAreRemembered() {
        Uploads u = new Uploads(1);
        u.started(A, CompletableFuture.completedFuture(new ImageHandle(A, 1, 1, 0, false)));
        u.started(B, new CompletableFuture<>());
        assertNull(u.status(A));
        assertEquals("encoding", u.status(B).state());
    }
}
