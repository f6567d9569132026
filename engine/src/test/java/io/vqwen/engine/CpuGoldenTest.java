package io.vqwen.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vqwen.engine.backend.BatchLayout;
import io.vqwen.engine.backend.KvCache;
import io.vqwen.engine.backend.Tensor;
import io.vqwen.engine.cpu.CpuBackend;
import io.vqwen.engine.generate.Sampler;
import io.vqwen.engine.model.Checkpoint;
import io.vqwen.engine.model.Qwen3Model;
import io.vqwen.engine.safetensors.SafeTensors;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The float32 CPU path against transformers' goldens, with the fixture README's tolerances: features, projected
 * embeddings and logits at relative L2 <= 1e-4; greedy ids exact; per-step top-32 log-probabilities within 1e-4
 * with ids equal except near-ties.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CpuGoldenTest {
    static final double REL_L2 = 1e-4;
    static final double LOGPROB_TOL = 1e-4;
    private CpuBackend backend;

    @BeforeAll
    void setUp() {
        backend = new CpuBackend();
    }

    @AfterAll
    void tearDown() {
        backend.close();
    }

    static List<Fixture> fixtures() {
        return Fixture.all();
    }

    @ParameterizedTest
    @MethodSource("fixtures")
    void visionFeaturesAndProjectionMatch(Fixture f) throws Exception {
        try (Checkpoint ckpt = Checkpoint.open(f.dir()); SafeTensors g = f.golden()) {
            io.vqwen.engine.model.ClipVisionModel vm = new io.vqwen.engine.model.ClipVisionModel(backend, ckpt);
            float[] pixels = g.tensor("pixel_values").toFloatArray();
            float[] features = backend.download(vm.forward(new float[][] {pixels}));
            double err = Fixture.relL2(features, g.tensor("vision_features").toFloatArray());
            System.out.printf("[%s] vision_features rel L2 = %.3e%n", f, err);
            assertTrue(err <= REL_L2, "vision_features rel L2 " + err);

            ImageProjector projector = new ImageProjector(ckpt, backend);
            float[] projected = projector.project(g.tensor("vision_features").toFloatArray(), ckpt.config().imageTokensPerImage());
            double perr = Fixture.relL2(projected, g.tensor("projected").toFloatArray());
            System.out.printf("[%s] projected rel L2 = %.3e%n", f, perr);
            assertTrue(perr <= REL_L2, "projected rel L2 " + perr);
        }
    }

    @ParameterizedTest
    @MethodSource("fixtures")
    void logitsOfTheLastEightPromptPositionsMatch(Fixture f) throws Exception {
        try (Checkpoint ckpt = Checkpoint.open(f.dir()); SafeTensors g = f.golden()) {
            Qwen3Model model = new Qwen3Model(backend, ckpt);
            int[] ids = g.tensor("input_ids").toIntArray();
            float[] projected = g.tensor("projected").toFloatArray();
            KvCache cache = model.allocateKvCache(64, 16);
            BatchLayout single = BatchLayout.single(ids, 0, blocks(64), 16, true);
            int n = ids.length;
            BatchLayout layout = new BatchLayout(single.tokenIds(), single.positions(), single.slotMapping(), single.queryStart(),
                    single.contextLens(), single.blockTables(), new int[] {n - 8, n - 7, n - 6, n - 5, n - 4, n - 3, n - 2, n - 1});
            Tensor emb = backend.upload(projected, projected.length / model.config().hiddenSize(), model.config().hiddenSize());
            Tensor logits = model.forward(layout, cache, emb, imageRows(ids, ckpt.config().imageTokenIndex()));
            double err = Fixture.relL2(backend.download(logits), g.tensor("logits_last8").toFloatArray());
            System.out.printf("[%s] logits_last8 rel L2 = %.3e%n", f, err);
            assertTrue(err <= REL_L2, "logits rel L2 " + err);
        }
    }

    @ParameterizedTest
    @MethodSource("fixtures")
    void greedyImageTextAndImage2GenerationsMatchStepByStep(Fixture f) throws Exception {
        try (Checkpoint ckpt = Checkpoint.open(f.dir()); SafeTensors g = f.golden()) {
            Qwen3Model model = new Qwen3Model(backend, ckpt);
            int imageToken = ckpt.config().imageTokenIndex();
            int[] ids = g.tensor("input_ids").toIntArray();
            // image request from the golden embeddings
            int[] image1 = greedyWithTopK(model, ids, g.tensor("projected").toFloatArray(), imageToken,
                    g.tensor("generated_ids").toIntArray().length, g, "step_", f + " image");
            assertArrayEquals(g.tensor("generated_ids").toIntArray(), image1);
            // text-only request
            int[] text = greedyWithTopK(model, g.tensor("text_input_ids").toIntArray(), null, imageToken,
                    g.tensor("text_generated_ids").toIntArray().length, g, "text_step_", f + " text");
            assertArrayEquals(g.tensor("text_generated_ids").toIntArray(), text);
            // image2: its own pixels through the real vision tower and projector
            io.vqwen.engine.model.ClipVisionModel vm = new io.vqwen.engine.model.ClipVisionModel(backend, ckpt);
            ImageProjector projector = new ImageProjector(ckpt, backend);
            float[] feats = backend.download(vm.forward(new float[][] {g.tensor("image2_pixel_values").toFloatArray()}));
            int[] image2 = greedyWithTopK(model, ids, projector.project(feats, ckpt.config().imageTokensPerImage()), imageToken,
                    g.tensor("image2_generated_ids").toIntArray().length, g, "image2_step_", f + " image2");
            assertArrayEquals(g.tensor("image2_generated_ids").toIntArray(), image2);
            // image2's own pixels must change the decoder's distribution (fixture a: a different token too).
            float[] top1 = g.tensor("step_topk_values").toFloatArray(), top2 = g.tensor("image2_step_topk_values").toFloatArray();
            assertTrue(Math.abs(top1[0] - top2[0]) > 1e-3, "image2 reaches the decoder: its step-0 logits differ");
            if (f.name().equals("tiny-llava")) assertNotEquals(image1[0], image2[0], "fixture a: image2 gives its own answer");
        }
    }

    @ParameterizedTest
    @MethodSource("fixtures")
    void prefillAtOnceEqualsTokenByToken(Fixture f) throws Exception {
        try (Checkpoint ckpt = Checkpoint.open(f.dir()); SafeTensors g = f.golden()) {
            Qwen3Model model = new Qwen3Model(backend, ckpt);
            int[] prompt = g.tensor("text_input_ids").toIntArray();
            int steps = 8;
            KvCache a = model.allocateKvCache(8, 16), b = model.allocateKvCache(8, 16);
            int[] table = blocks(8);
            float[] atOnce = backend.download(model.forward(BatchLayout.single(prompt, 0, table, 16, true), a, null, null));
            float[] oneByOne = null;
            for (int i = 0; i < prompt.length; i++) {
                Tensor l = model.forward(BatchLayout.single(new int[] {prompt[i]}, i, table, 16, true), b, null, null);
                if (i == prompt.length - 1) oneByOne = backend.download(l);
            }
            assertTrue(Fixture.relL2(oneByOne, atOnce) < 1e-5, "last-position logits agree");
            int[] outA = continueGreedy(model, a, table, prompt.length, Sampler.argmax(atOnce), steps);
            int[] outB = continueGreedy(model, b, table, prompt.length, Sampler.argmax(oneByOne), steps);
            assertArrayEquals(outA, outB);
        }
    }

    private int[] continueGreedy(Qwen3Model model, KvCache cache, int[] table, int pos, int first, int steps) {
        int[] out = new int[steps];
        out[0] = first;
        for (int i = 1; i < steps; i++) {
            float[] l = backend.download(model.forward(BatchLayout.single(new int[] {out[i - 1]}, pos + i - 1, table, 16, true), cache, null, null));
            out[i] = Sampler.argmax(l);
        }
        return out;
    }

    /** Greedy decode checking each step's top-32 log-probabilities against the golden ones. */
    private int[] greedyWithTopK(Qwen3Model model, int[] prompt, float[] embeddings, int imageToken, int steps,
                                 SafeTensors g, String prefix, String what) {
        float[] topValues = g.tensor(prefix + "topk_values").toFloatArray();
        int[] topIds = g.tensor(prefix + "topk_ids").toIntArray();
        float[] lse = g.tensor(prefix + "logsumexp").toFloatArray();
        int k = topIds.length / steps;
        KvCache cache = model.allocateKvCache(64, 16);
        int[] table = blocks(64);
        int[] out = new int[steps];
        Tensor emb = embeddings == null ? null : backend.upload(embeddings, embeddings.length / model.config().hiddenSize(), model.config().hiddenSize());
        float[] logits = backend.download(model.forward(BatchLayout.single(prompt, 0, table, 16, true), cache, emb, imageRows(prompt, imageToken)));
        double worst = 0;
        for (int s = 0; s < steps; s++) {
            double myLse = Sampler.logSumExp(logits);
            int[] mine = Sampler.topK(logits, k);
            for (int j = 0; j < k; j++) {
                double ref = topValues[s * k + j] - lse[s];
                double got = logits[topIds[s * k + j]] - myLse;
                worst = Math.max(worst, Math.abs(ref - got));
                assertEquals(ref, got, LOGPROB_TOL, what + " step " + s + " rank " + j + " logprob");
                if (mine[j] != topIds[s * k + j]) {
                    // Ids may swap only where the reference values are within the tolerance of each other.
                    float refHere = topValues[s * k + j];
                    float refMine = logits[mine[j]] - (float) myLse + lse[s];
                    assertTrue(Math.abs(refHere - refMine) <= LOGPROB_TOL,
                            what + " step " + s + " rank " + j + ": id " + mine[j] + " vs golden " + topIds[s * k + j] + " is not a near-tie");
                }
            }
            out[s] = Sampler.argmax(logits);
            if (s + 1 < steps) {
                logits = backend.download(model.forward(BatchLayout.single(new int[] {out[s]}, prompt.length + s, table, 16, true), cache, null, null));
            }
        }
        System.out.printf("[%s] %d steps, worst top-%d logprob error %.2e%n", what, steps, k, worst);
        return out;
    }

    static int[] blocks(int n) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = i;
        return t;
    }

    static int[] imageRows(int[] ids, int imageToken) {
        return java.util.stream.IntStream.range(0, ids.length).filter(i -> ids[i] == imageToken).toArray();
    }

    @SuppressWarnings("unused")
    private static String show(int[] a) {
        return Arrays.toString(a);
    }
}
