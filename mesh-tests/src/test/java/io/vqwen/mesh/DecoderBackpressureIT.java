package io.vqwen.mesh;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.vqwen.cli.mesh.MeshService;
import io.vqwen.proto.v1.DecoderServiceGrpc;
import io.vqwen.proto.v1.GenerateChunk;
import io.vqwen.proto.v1.GenerateRequest;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A client that stops reading fills only its own bounded buffer: another stream on the same decoder runs to its
 * end meanwhile, and when the slow client reads again it gets every token, fewer chunks (deltas merged) and the
 * same ids and text as the fast one.
 */
class DecoderBackpressureIT {
    static final int TOKENS = 800;
    static MeshHarness mesh;
    static ManagedChannel smallWindow;

    @BeforeAll
    static void start() {
        mesh = MeshHarness.builder().services(MeshService.DECODER).property("vqwen.peer-check.enabled", "false").start();
        // A 16 KiB HTTP/2 window (no auto-tuning): an unread stream makes the server's isReady() false after ~50 KB.
        smallWindow = NettyChannelBuilder.forAddress("127.0.0.1", mesh.grpcPort(MeshService.DECODER)).usePlaintext()
                .flowControlWindow(16 * 1024).build();
    }

    @AfterAll
    static void stop() {
        if (smallWindow != null) smallWindow.shutdownNow();
        if (mesh != null) mesh.close();
    }

    /** Reads one chunk, then nothing until {@link #resume()}. */
    static final class Reader implements ClientResponseObserver<GenerateRequest, GenerateChunk> {
        final boolean slow;
        final List<GenerateChunk> chunks = new CopyOnWriteArrayList<>();
        final CompletableFuture<List<GenerateChunk>> done = new CompletableFuture<>();
        volatile ClientCallStreamObserver<GenerateRequest> call;

        Reader(boolean slow) {
            this.slow = slow;
        }

        @Override
        public void beforeStart(ClientCallStreamObserver<GenerateRequest> c) {
            call = c;
            if (slow) c.disableAutoRequestWithInitial(1);
        }

        void resume() {
            call.request(Integer.MAX_VALUE);
        }

        @Override
        public void onNext(GenerateChunk c) {
            chunks.add(c);
        }

        @Override
        public void onError(Throwable t) {
            done.completeExceptionally(t);
        }

        @Override
        public void onCompleted() {
            done.complete(chunks);
        }
    }

    static Reader start(boolean slow) {
        Reader r = new Reader(slow);
        // 20 alternatives per token: ~400 bytes a chunk, so the unread stream outgrows the window quickly.
        GenerateRequest req = Golden.greedy(Golden.ints("text_input_ids"), TOKENS).setIgnoreEos(true).setLogprobs(true).setTopLogprobs(20).build();
        // The slow one alone on its connection: an unread stream also holds its connection's window.
        DecoderServiceGrpc.newStub(slow ? smallWindow : mesh.channel(MeshService.DECODER)).withDeadlineAfter(5, TimeUnit.MINUTES).generate(req, r);
        return r;
    }

    @Test
    void aSlowReaderHoldsOnlyItsOwnBoundedBufferAndLosesNothing() throws Exception {
        Reader slow = start(true);
        Reader fast = start(false);
        List<GenerateChunk> fastChunks = fast.done.get(120, TimeUnit.SECONDS);
        assertFalse(slow.done.isDone(), "the slow reader has read one chunk; its stream cannot have ended");
        assertEquals(TOKENS, Golden.tokenIds(fastChunks).length);
        // The engine finished the slow request too: its sequence is not held by the unread stream.
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < end && mesh.metric(MeshService.DECODER, "vqwen_num_requests_running") > 0) Thread.sleep(50);
        assertEquals(0.0, mesh.metric(MeshService.DECODER, "vqwen_num_requests_running"));

        slow.resume();
        List<GenerateChunk> slowChunks = slow.done.get(60, TimeUnit.SECONDS);
        System.out.printf("backpressure: fast reader %d chunks, slow reader %d chunks for %d tokens%n", fastChunks.size(), slowChunks.size(), TOKENS);
        assertArrayEquals(Golden.tokenIds(fastChunks), Golden.tokenIds(slowChunks));
        assertEquals(text(fastChunks), text(slowChunks));
        assertEquals(TOKENS, slowChunks.stream().mapToInt(GenerateChunk::getLogprobsCount).sum(), "a log-prob per token");
        assertEquals(TOKENS, Golden.last(slowChunks).getUsage().getCompletionTokens());
        assertTrue(slowChunks.size() < TOKENS / 2, "the unread deltas were merged into a bounded number of chunks: " + slowChunks.size());
    }

    private static String text(List<GenerateChunk> chunks) {
        StringBuilder s = new StringBuilder();
        for (GenerateChunk c : chunks) s.append(c.getText());
        return s.toString();
    }
}
