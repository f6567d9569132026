package io.vqwen.engine.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vqwen.engine.Fixture;
import io.vqwen.engine.config.GenerationConfig;
import io.vqwen.engine.cpu.CpuBackend;
import io.vqwen.engine.backend.Tensor;
import io.vqwen.engine.model.Checkpoint;
import io.vqwen.engine.model.ClipVisionModel;
import io.vqwen.engine.model.LlavaProjector;
import io.vqwen.engine.pipeline.ImageEmbeddings;
import io.vqwen.engine.safetensors.SafeTensors;
import io.vqwen.engine.text.Tokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/** The continuous-batching decoder on the CPU, on the bundled fixture. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DecoderEngineTest {
    CpuBackend backend;
    Checkpoint ckpt;
    SafeTensors golden;
    Tokenizer tokenizer;
    DecoderEngine engine;
    float[] projected, projected2;
    int[] imageIds, textIds;

    @BeforeAll
    void setUp() throws Exception {
        Fixture f = Fixture.tiny();
        backend = new CpuBackend();
        ckpt = Checkpoint.open(f.dir());
        golden = f.golden();
        tokenizer = Tokenizer.load(f.dir());
        engine = new DecoderEngine(ckpt, backend, tokenizer, GenerationConfig.load(f.dir(), ckpt.config().textConfig()),
                new DecoderOptions(16, 1024, 1200, 16, 256, 64));
        projected = golden.tensor("projected").toFloatArray();
        Tensor feats = new ClipVisionModel(backend, ckpt).forward(new float[][] {golden.tensor("image2_pixel_values").toFloatArray()});
        projected2 = backend.download(new LlavaProjector(backend, ckpt).forward(feats));
        imageIds = golden.tensor("input_ids").toIntArray();
        textIds = golden.tensor("text_input_ids").toIntArray();
    }

    @AfterAll
    void tearDown() {
        engine.close();
        golden.close();
        ckpt.close();
        backend.close();
    }

    record Outcome(int[] ids, String text, Completion completion, List<TokenLogprob> logprobs) {
    }

    /** A {@link Collector} that also says when the first token arrived. */
    static class Collect implements GenerationListener {
        final Collector inner = new Collector();
        final CountDownLatch first = new CountDownLatch(1);
        final java.util.concurrent.atomic.AtomicInteger tokens = new java.util.concurrent.atomic.AtomicInteger();

        @Override
        public void onDelta(TokenDelta d) {
            inner.onDelta(d);
            tokens.addAndGet(d.tokenIds().length);
            first.countDown();
        }

        @Override
        public void onFinish(Completion c) {
            inner.onFinish(c);
        }

        @Override
        public void onError(Throwable t) {
            inner.onError(t);
        }

        Outcome await() throws Exception {
            Collector.Generation g = inner.result().get(120, TimeUnit.SECONDS);
            return new Outcome(g.tokenIds(), g.text(), g.completion(), g.logprobs());
        }
    }

    Collect submit(int[] prompt, float[] emb, int maxNew, List<String> stop, int top) {
        Collect c = new Collect();
        ImageEmbeddings e = emb == null ? null : ImageEmbeddings.f32(emb, emb.length / engine.hiddenSize(), engine.hiddenSize());
        engine.submit(new GenerationRequest("r" + System.nanoTime(), prompt, e, SamplingParams.greedy(), maxNew, stop, top > 0, top, false), c);
        return c;
    }

    @Test
    void greedyImageRequestMatchesGoldenIdsAndTopLogprobs() throws Exception {
        Outcome o = submit(imageIds, projected, 24, List.of(), 20).await();
        assertArrayEquals(golden.tensor("generated_ids").toIntArray(), o.ids());
        float[] values = golden.tensor("step_topk_values").toFloatArray();
        float[] lse = golden.tensor("step_logsumexp").toFloatArray();
        for (int s = 0; s < 24; s++) {
            List<TopLogprob> top = o.logprobs().get(s).top();
            assertEquals(20, top.size());
            for (int j = 0; j < 20; j++) assertEquals(values[s * 32 + j] - lse[s], top.get(j).logprob(), 1e-4, "step " + s + " rank " + j);
        }
        assertEquals("length", o.completion().finishReason());
        assertEquals(591, o.completion().promptTokens());
    }

    @Test
    void sixteenConcurrentMixedRequestsEachReturnWhatTheyReturnAlone() throws Exception {
        int[][] prompts = {imageIds, imageIds, textIds};
        float[][] embs = {projected, projected2, null};
        Outcome[] alone = new Outcome[3];
        for (int k = 0; k < 3; k++) alone[k] = submit(prompts[k], embs[k], 12, List.of(), 0).await();
        assertTrue(alone[0].ids()[0] != alone[1].ids()[0], "image and image2 answer differently");
        List<Collect> all = new ArrayList<>();
        for (int i = 0; i < 16; i++) all.add(submit(prompts[i % 3], embs[i % 3], 12, List.of(), 0));
        for (int i = 0; i < 16; i++) {
            Outcome o = all.get(i).await();
            assertArrayEquals(alone[i % 3].ids(), o.ids(), "request " + i);
            assertEquals(alone[i % 3].text(), o.text(), "request " + i);
        }
    }

    @Test
    void cancellingFreesTheSequenceAndItsBlocks() throws Exception {
        Collect c = submit(textIds, null, 900, List.of(), 0);
        assertTrue(c.first.await(60, TimeUnit.SECONDS));
        // cancel through the handle returned by submit
        Collect c2 = new Collect();
        RequestHandle h = engine.submit(new GenerationRequest("y", textIds, null, SamplingParams.greedy(), 900, List.of(), false, 0, false), c2);
        assertTrue(c2.first.await(60, TimeUnit.SECONDS));
        h.cancel();
        assertEquals("cancelled", c2.await().completion().finishReason());
        assertTrue(c2.tokens.get() < 900);
        c.await(); // the other one runs to its end
        waitIdle();
        assertEquals(0, engine.stats().running());
        assertEquals(0, engine.stats().kvBlocksUsed());
    }

    @Test
    void aSeededSampledRequestGivesTheSameTokensAloneAndInABusyBatch() throws Exception {
        SamplingParams sampled = new SamplingParams(1.0f, 0.95f, 0, 0f, 1f, 7L);
        Collect alone = new Collect();
        engine.submit(new GenerationRequest("s-alone", textIds, null, sampled, 16, List.of(), false, 0, false), alone);
        int[] ref = alone.await().ids();
        List<Collect> others = new ArrayList<>();
        for (int i = 0; i < 6; i++) others.add(submit(i % 2 == 0 ? imageIds : textIds, i % 2 == 0 ? projected : null, 16, List.of(), 0));
        Collect busy = new Collect();
        engine.submit(new GenerationRequest("s-busy", textIds, null, sampled, 16, List.of(), false, 0, false), busy);
        assertArrayEquals(ref, busy.await().ids(), "logits must not depend on the batch a row shares");
        for (Collect o : others) o.await();
    }

    @Test
    void logprobsWithoutAlternativesReportTheSampledTokenOnly() throws Exception {
        Collect c = new Collect();
        engine.submit(new GenerationRequest("lp0", textIds, null, SamplingParams.greedy(), 4, List.of(), true, 0, false), c);
        Outcome o = c.await();
        assertEquals(4, o.logprobs().size());
        assertTrue(o.logprobs().stream().allMatch(lp -> lp.top().isEmpty() && lp.logprob() < 0));
    }

    @Test
    void stopStringsCutTheTextBeforeTheMatch() throws Exception {
        Outcome free = submit(textIds, null, 16, List.of(), 0).await();
        String text = free.text();
        String stop = text.substring(text.length() / 2, text.length() / 2 + 3);
        Outcome cut = submit(textIds, null, 16, List.of(stop), 0).await();
        assertEquals("stop", cut.completion().finishReason());
        assertEquals(text.substring(0, text.indexOf(stop)), cut.text());
    }

    @Test
    void aStopStringEndsTheRequestOffTheStepThreadWithTheTokensEmittedUpToIt() throws Exception {
        Outcome free = submit(textIds, null, 16, List.of(), 0).await();
        String stop = free.text().substring(free.text().length() / 3, free.text().length() / 3 + 2);
        List<String> threads = java.util.Collections.synchronizedList(new ArrayList<>());
        Collect c = new Collect() {
            @Override
            public void onDelta(TokenDelta d) {
                threads.add(Thread.currentThread().getName());
                super.onDelta(d);
            }
        };
        engine.submit(new GenerationRequest("stop-mid", textIds, null, SamplingParams.greedy(), 16, List.of(stop), false, 0, false), c);
        Outcome cut = c.await();
        assertEquals("stop", cut.completion().finishReason());
        assertEquals(cut.ids().length, cut.completion().completionTokens(), "usage counts the ids emitted up to the stop");
        assertTrue(cut.ids().length < 16);
        assertArrayEquals(java.util.Arrays.copyOf(free.ids(), cut.ids().length), cut.ids());
        assertTrue(threads.stream().allMatch("vqwen-decoder-output"::equals), threads.toString());
        waitIdle();
        assertEquals(0, engine.stats().kvBlocksUsed(), "the engine freed the stopped request");
    }

    @Test
    void aListenerThatThrowsEndsOnlyItsOwnRequest() throws Exception {
        java.util.concurrent.CompletableFuture<Throwable> failed = new java.util.concurrent.CompletableFuture<>();
        engine.submit(GenerationRequest.greedy("bad", textIds, null, 900), new GenerationListener() {
            @Override
            public void onDelta(TokenDelta d) {
                throw new IllegalStateException("client gone");
            }

            @Override
            public void onFinish(Completion c) {
                failed.complete(null);
            }

            @Override
            public void onError(Throwable t) {
                failed.complete(t);
            }
        });
        Collect ok = submit(textIds, null, 16, List.of(), 0);
        assertEquals("client gone", failed.get(60, TimeUnit.SECONDS).getMessage());
        assertArrayEquals(golden.tensor("text_generated_ids").toIntArray(), ok.await().ids());
        waitIdle();
        assertEquals(0, engine.stats().running(), "the failed request was freed");
    }

    @Test
    void aPromptOverTheContextIsRefusedAndTheEngineKeepsServing() throws Exception {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> submit(new int[1100], null, 4, List.of(), 0));
        assertTrue(e.getMessage().contains("maximum context length of 1024"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> submit(textIds, null, 0, List.of(), 0));
        assertThrows(IllegalArgumentException.class, () -> submit(imageIds, null, 4, List.of(), 0), "image tokens without embeddings");
        assertArrayEquals(golden.tensor("text_generated_ids").toIntArray(), submit(textIds, null, 16, List.of(), 0).await().ids());
    }

    private void waitIdle() throws InterruptedException {
        for (int i = 0; i < 100 && (engine.stats().running() > 0 || engine.stats().kvBlocksUsed() > 0); i++) Thread.sleep(50);
    }
}
