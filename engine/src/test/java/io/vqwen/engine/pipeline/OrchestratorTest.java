package io.vqwen.engine.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vqwen.engine.Fixture;
import io.vqwen.engine.ImageProjector;
import io.vqwen.engine.VisionEncoder;
import io.vqwen.engine.config.GenerationConfig;
import io.vqwen.engine.cpu.CpuBackend;
import io.vqwen.engine.generate.Collector;
import io.vqwen.engine.generate.Completion;
import io.vqwen.engine.generate.ContextWindow;
import io.vqwen.engine.generate.DecoderEngine;
import io.vqwen.engine.generate.DecoderOptions;
import io.vqwen.engine.generate.GenerationListener;
import io.vqwen.engine.generate.GenerationParams;
import io.vqwen.engine.generate.RequestHandle;
import io.vqwen.engine.generate.TokenDelta;
import io.vqwen.engine.model.Checkpoint;
import io.vqwen.engine.safetensors.SafeTensors;
import io.vqwen.engine.text.Tokenizer;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/** The one orchestrator over the in-process parts, on the bundled fixture: goldens exact, misses re-encoded, pins returned. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class OrchestratorTest {
    CpuBackend backend;
    Checkpoint ckpt;
    SafeTensors golden;
    Tokenizer tokenizer;
    DecoderEngine decoder;
    VisionEncoder vision;
    ImageProjector projector;
    byte[] image1, image2;
    int[] imageIds;
    final AtomicLong now = new AtomicLong();

    @BeforeAll
    void setUp() throws Exception {
        Fixture f = Fixture.tiny();
        backend = new CpuBackend();
        ckpt = Checkpoint.open(f.dir());
        golden = f.golden();
        tokenizer = Tokenizer.load(f.dir());
        decoder = new DecoderEngine(ckpt, backend, tokenizer, GenerationConfig.load(f.dir(), ckpt.config().textConfig()),
                new DecoderOptions(8, 1024, 600, 16, 256, 32));
        vision = new VisionEncoder(ckpt, f.dir(), backend, 40_000_000);
        projector = new ImageProjector(ckpt, backend);
        image1 = Files.readAllBytes(f.dir().resolve("image.png"));
        image2 = Files.readAllBytes(f.dir().resolve("image2.png"));
        imageIds = golden.tensor("input_ids").toIntArray();
    }

    @AfterAll
    void tearDown() {
        decoder.close();
        tokenizer.close();
        golden.close();
        ckpt.close();
        backend.close();
    }

    /** Collects a run's events. */
    static final class Events implements Orchestrator.Listener {
        final Collector inner = new Collector();
        final List<ImageHandle> handles = new ArrayList<>();

        @Override
        public void onImages(List<ImageHandle> h, double embedMs) {
            handles.addAll(h);
        }

        @Override
        public void onDelta(TokenDelta d) {
            inner.onDelta(d);
        }

        @Override
        public void onFinish(Completion c) {
            inner.onFinish(c);
        }

        @Override
        public void onError(Throwable t) {
            inner.onError(t);
        }

        Collector.Generation await() throws Exception {
            return inner.result().get(120, TimeUnit.SECONDS);
        }
    }

    private EmbeddingStore store(int capacity) {
        return new EmbeddingStore(capacity, Duration.ofSeconds(30), now::get);
    }

    private Events run(Orchestrator o, Orchestrator.ImageInput image, int n) {
        Events e = new Events();
        o.run("r" + System.nanoTime(), imageIds, List.of(image), n, GenerationParams.GREEDY, e);
        return e;
    }

    @Test
    void concurrentImageRequestsGiveTheGoldenIdsAndARepeatIsACacheHit() throws Exception {
        EmbeddingStore store = store(8);
        try (LocalImageEmbedder embedder = new LocalImageEmbedder(vision, projector, store, 4)) {
            Orchestrator o = new Orchestrator(embedder, new LocalGenerator(decoder, store));
            int n = golden.tensor("generated_ids").toIntArray().length;
            Events a = run(o, new Orchestrator.ImageInput.Bytes(image1), n), b = run(o, new Orchestrator.ImageInput.Bytes(image2), n);
            assertArrayEquals(golden.tensor("generated_ids").toIntArray(), a.await().tokenIds());
            assertArrayEquals(golden.tensor("image2_generated_ids").toIntArray(), b.await().tokenIds());
            assertFalse(a.handles.getFirst().cached());
            assertEquals(Sha256.hex(image1), a.handles.getFirst().sha256());
            Events again = run(o, new Orchestrator.ImageInput.Ref(Sha256.hex(image1)), n);
            assertArrayEquals(golden.tensor("generated_ids").toIntArray(), again.await().tokenIds(), "by reference");
            assertTrue(again.handles.getFirst().cached());
            assertEquals(0, store.pins(Sha256.hex(image1)), "every fetch gave its pin back");
        }
    }

    @Test
    void anImageEvictedBetweenEmbedAndFetchIsEncodedAgain() throws Exception {
        EmbeddingStore store = store(1);
        try (LocalImageEmbedder embedder = new LocalImageEmbedder(vision, projector, store, 4)) {
            LocalGenerator local = new LocalGenerator(decoder, store);
            AtomicInteger submits = new AtomicInteger();
            // Between embed and generate, the lease runs out and another image takes the only slot.
            Generator evicting = new Generator() {
                @Override
                public RequestHandle submit(String id, int[] ids, List<String> shas, int maxNew, GenerationParams p, GenerationListener l) {
                    if (submits.getAndIncrement() == 0) {
                        now.addAndGet(Duration.ofMinutes(1).toNanos());
                        embedder.embed(image2); // not joined: this runs on the embedder's own thread
                        assertFalse(store.contains(shas.getFirst()));
                    }
                    return local.submit(id, ids, shas, maxNew, p, l);
                }

                @Override
                public int maxModelLen() {
                    return local.maxModelLen();
                }
            };
            Orchestrator o = new Orchestrator(embedder, evicting);
            int n = golden.tensor("generated_ids").toIntArray().length;
            assertArrayEquals(golden.tensor("generated_ids").toIntArray(), run(o, new Orchestrator.ImageInput.Bytes(image1), n).await().tokenIds());
            assertEquals(2, submits.get(), "one miss, one retry");
            // A bare reference has no bytes to encode again: that miss is the caller's to report.
            Events ref = run(o, new Orchestrator.ImageInput.Ref(Sha256.hex(image2).replace('a', 'b').replace('c', 'd')), n);
            ExecutionException e = assertThrows(ExecutionException.class, ref::await);
            Orchestrator.ImageFailedException f = assertInstanceOf(Orchestrator.ImageFailedException.class, e.getCause());
            assertEquals(0, f.index);
            assertInstanceOf(ImageNotFoundException.class, f.getCause());
        }
    }

    @Test
    void cancelBeforeTheFetchReturnsThePinAndEndsTheRequest() throws Exception {
        EmbeddingStore store = store(8);
        try (LocalImageEmbedder embedder = new LocalImageEmbedder(vision, projector, store, 4)) {
            CompletableFuture<Void> gate = new CompletableFuture<>();
            ImageEmbedder slow = new ImageEmbedder() {
                @Override
                public CompletableFuture<ImageHandle> embed(byte[] image) {
                    return embedder.embed(image).thenCombine(gate, (h, v) -> h);
                }

                @Override
                public CompletableFuture<ImageHandle> lookup(String sha256) {
                    return embedder.lookup(sha256);
                }

                @Override
                public void release(List<String> sha256s) {
                    embedder.release(sha256s);
                }
            };
            Orchestrator o = new Orchestrator(slow, new LocalGenerator(decoder, store));
            String sha = Sha256.hex(image1);
            Events e = new Events();
            RequestHandle h = o.run("c", imageIds, List.of(new Orchestrator.ImageInput.Bytes(image1)), 8, GenerationParams.GREEDY, e);
            store.get(sha, false).get(60, TimeUnit.SECONDS); // encoded, its handle held back at the gate
            assertEquals(1, store.pins(sha));
            h.cancel();
            assertEquals("cancelled", e.await().completion().finishReason());
            gate.complete(null);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (store.pins(sha) > 0 && System.nanoTime() < deadline) Thread.sleep(10);
            assertEquals(0, store.pins(sha), "the cancelled run gave its pin back");
        }
    }

    @Test
    void theContextRuleRunsBeforeAnyImageIsEncoded() {
        EmbeddingStore store = store(8);
        try (LocalImageEmbedder embedder = new LocalImageEmbedder(vision, projector, store, 4)) {
            Orchestrator o = new Orchestrator(embedder, new LocalGenerator(decoder, store));
            ContextWindow.ContextLengthException e = assertThrows(ContextWindow.ContextLengthException.class,
                    () -> run(o, new Orchestrator.ImageInput.Bytes(image1), 1024));
            assertEquals(imageIds.length, e.promptTokens);
            assertEquals(0, store.size());
            assertEquals(1024 - imageIds.length, ContextWindow.maxNewTokens(imageIds.length, null, 1024), "absent max_tokens = the rest");
        }
    }
}
