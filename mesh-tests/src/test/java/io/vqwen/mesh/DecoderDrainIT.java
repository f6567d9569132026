package io.vqwen.mesh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.vqwen.cli.mesh.MeshService;
import io.vqwen.proto.v1.DecoderServiceGrpc;
import io.vqwen.proto.v1.GenerateChunk;
import io.vqwen.proto.v1.GenerateRequest;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * A decoder alone (one running sequence, one waiting): a full queue answers RESOURCE_EXHAUSTED, and SIGTERM drains:
 * readiness goes DOWN, new streams are refused, the stream in flight runs to its end, then the process exits.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DecoderDrainIT {
    static MeshHarness mesh;

    @BeforeAll
    static void start() {
        mesh = MeshHarness.builder().services(MeshService.DECODER)
                .property("vqwen.peer-check.enabled", "false")
                .property("vqwen.decoder.max-running", "1")
                .property("vqwen.decoder.max-waiting", "1")
                .property("vqwen.shutdown.drain-seconds", "120")
                .start();
    }

    @AfterAll
    static void stop() {
        if (mesh != null) mesh.close();
    }

    /** A long stream on the async stub: counts tokens, records how it ended. */
    static final class Stream implements ClientResponseObserver<GenerateRequest, GenerateChunk> {
        final AtomicInteger tokens = new AtomicInteger();
        final CountDownLatch first = new CountDownLatch(1);
        final CompletableFuture<List<GenerateChunk>> done = new CompletableFuture<>();
        final List<GenerateChunk> chunks = new CopyOnWriteArrayList<>();
        volatile ClientCallStreamObserver<GenerateRequest> call;

        static Stream start(int maxTokens) {
            Stream s = new Stream();
            // Logprobs with 20 alternatives per token: a slower stream (the tiny model alone decodes 3000 tokens in
            // well under a second), so that the drain has something to wait for.
            GenerateRequest req = Golden.greedy(Golden.ints("text_input_ids"), maxTokens).setIgnoreEos(true)
                    .setLogprobs(true).setTopLogprobs(20).build();
            DecoderServiceGrpc.newStub(mesh.channel(MeshService.DECODER)).withDeadlineAfter(5, TimeUnit.MINUTES).generate(req, s);
            return s;
        }

        @Override
        public void beforeStart(ClientCallStreamObserver<GenerateRequest> c) {
            call = c;
        }

        @Override
        public void onNext(GenerateChunk c) {
            chunks.add(c);
            tokens.addAndGet(c.getTokenIdsCount());
            first.countDown();
        }

        @Override
        public void onError(Throwable t) {
            first.countDown();
            done.completeExceptionally(t);
        }

        @Override
        public void onCompleted() {
            done.complete(chunks);
        }
    }

    @Test
    @Order(1)
    void aFullQueueIsResourceExhausted() throws Exception {
        Stream running = Stream.start(3000);
        assertTrue(running.first.await(60, TimeUnit.SECONDS));
        Stream waiting = Stream.start(5);
        // Give the step thread time to take the second request into its waiting queue.
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < end && mesh.metric(MeshService.DECODER, "vqwen_num_requests_waiting") < 1) Thread.sleep(20);
        assertEquals(1.0, mesh.metric(MeshService.DECODER, "vqwen_num_requests_waiting"));

        Stream refused = Stream.start(5);
        Throwable t = assertThrows(Exception.class, () -> refused.done.get(30, TimeUnit.SECONDS)).getCause();
        Status s = Status.fromThrowable(t);
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, s.getCode());
        assertTrue(s.getDescription().startsWith("the decoder's queue is full"), s.getDescription());
        assertEquals(1.0, mesh.metric(MeshService.DECODER, "vqwen_request_failure_total{reason=\"queue_full\"}"));

        // Cancel the long one; the waiting one then runs and finishes normally.
        running.call.cancel("test done", null);
        List<GenerateChunk> second = waiting.done.get(60, TimeUnit.SECONDS);
        assertEquals("length", Golden.last(second).getFinishReason());
        assertEquals(5, Golden.tokenIds(second).length);
    }

    @Test
    @Order(2)
    void sigtermDrainsTheStreamInFlight() throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < end && mesh.metric(MeshService.DECODER, "vqwen_num_requests_running") > 0) Thread.sleep(50);
        long t0 = System.nanoTime();
        Stream inFlight = Stream.start(2000);
        assertTrue(inFlight.first.await(60, TimeUnit.SECONDS));

        CompletableFuture<Integer> exit = CompletableFuture.supplyAsync(() -> mesh.terminate(MeshService.DECODER, Duration.ofSeconds(150)));
        // Readiness goes DOWN while the stream is still running.
        String ready = "";
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < until) {
            var r = mesh.health(MeshService.DECODER, "ready");
            // Quarkus's own "Graceful Shutdown" check may report DOWN a moment before ours says draining.
            if (r.statusCode() == 503) {
                ready = r.body();
                if (ready.contains("\"draining\": true")) break;
            }
            Thread.sleep(20);
        }
        assertTrue(ready.contains("\"draining\": true"), "readiness during the drain: " + ready);
        assertFalse(inFlight.done.isDone(), "the stream ended before the drain was observed; make it longer");
        int tokensAtSigterm = inFlight.tokens.get();
        assertTrue(tokensAtSigterm < 2000);

        // New streams are refused while draining.
        StatusRuntimeException refused = assertThrows(StatusRuntimeException.class, () -> Golden.drain(DecoderServiceGrpc
                .newBlockingStub(mesh.channel(MeshService.DECODER)).withDeadlineAfter(30, TimeUnit.SECONDS)
                .generate(Golden.greedy(Golden.ints("text_input_ids"), 2).build())));
        assertEquals(Status.Code.UNAVAILABLE, refused.getStatus().getCode());
        assertEquals("the service is shutting down", refused.getStatus().getDescription());

        List<GenerateChunk> chunks = inFlight.done.get(150, TimeUnit.SECONDS);
        System.out.printf("drain: SIGTERM after %d tokens; the stream ran to 2000 in %.1f s%n", tokensAtSigterm,
                (System.nanoTime() - t0) / 1e9);
        GenerateChunk last = Golden.last(chunks);
        assertEquals("length", last.getFinishReason());
        assertEquals(2000, last.getUsage().getCompletionTokens());
        assertEquals(2000, inFlight.tokens.get());
        exit.get(150, TimeUnit.SECONDS);
        String log = Files.readString(mesh.log(MeshService.DECODER));
        assertTrue(log.contains("decoder: drained 1 call(s) in flight"), mesh.tail(MeshService.DECODER));
    }
}
