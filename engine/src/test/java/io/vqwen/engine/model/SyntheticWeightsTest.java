package io.vqwen.engine.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vqwen.engine.backend.BatchLayout;
import io.vqwen.engine.cpu.CpuBackend;
import io.vqwen.engine.safetensors.CheckpointException;
import org.junit.jupiter.api.Test;

/** synthetic:NAME checkpoints: the real configs, every tensor a model asks for, seeded values. */
class SyntheticWeightsTest {
    @Test
    void fullSizeShapeHasTheBaselinesConfig() {
        try (SyntheticWeights w = SyntheticWeights.of("synthetic:vqwen3-4b")) {
            var t = w.config().textConfig();
            var v = w.config().visionConfig();
            assertEquals(java.util.List.of(2560, 36, 32, 8, 128, 9728, 151936),
                    java.util.List.of(t.hiddenSize(), t.numHiddenLayers(), t.numAttentionHeads(), t.numKeyValueHeads(), t.headDim(),
                            t.intermediateSize(), t.vocabSize()));
            assertEquals(java.util.List.of(1024, 24, 16, 4096, 336, 14), java.util.List.of(v.hiddenSize(), v.numHiddenLayers(),
                    v.numAttentionHeads(), v.intermediateSize(), v.imageSize(), v.patchSize()));
            assertTrue(w.config().textConfig().tieWordEmbeddings());
            assertFalse(w.has("lm_head.weight"), "tied: the model uses embed_tokens");
            assertTrue(w.has("text.layers.35.mlp.down_proj.weight"));
        }
    }

    @Test
    void tinyModelRunsOnTheCpuAndIsReproducibleBySeed() throws Exception {
        try (CpuBackend cpu = new CpuBackend(); SyntheticWeights a = SyntheticWeights.of("synthetic:tiny", 1);
             SyntheticWeights b = SyntheticWeights.of("synthetic:tiny", 1); SyntheticWeights c = SyntheticWeights.of("synthetic:tiny", 2)) {
            float[] la = logits(cpu, a), lb = logits(cpu, b), lc = logits(cpu, c);
            for (float x : la) assertTrue(Float.isFinite(x));
            // (the CPU backend's float32 sums can differ in the last bit between runs as the JIT warms up)
            assertTrue(relL2(lb, la) < 1e-5, "same seed, same model: " + relL2(lb, la));
            assertTrue(relL2(lc, la) > 0.1, "another seed, another model: " + relL2(lc, la));
            float[] pixels = new float[3 * 336 * 336];
            float[] features = cpu.download(new ClipVisionModel(cpu, a).forward(new float[][] {pixels}));
            assertEquals(576 * 64, features.length);
        }
    }

    private static double relL2(float[] out, float[] ref) {
        double num = 0, den = 0;
        for (int i = 0; i < ref.length; i++) {
            num += (out[i] - ref[i]) * (double) (out[i] - ref[i]);
            den += (double) ref[i] * ref[i];
        }
        return Math.sqrt(num / den);
    }

    private static float[] logits(CpuBackend cpu, SyntheticWeights w) {
        Qwen3Model m = new Qwen3Model(cpu, w);
        return cpu.download(m.forward(BatchLayout.single(new int[] {1, 2, 3}, 0, new int[] {0}, 16, true), m.allocateKvCache(1, 16), null, null));
    }

    @Test
    void modelSourcesOpensSyntheticSpecsAndNamesTheKnownShapes() throws Exception {
        assertInstanceOf(SyntheticWeights.class, ModelSources.open("synthetic:tiny", ModelSources.ALL_PARTS));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SyntheticWeights.of("synthetic:vqwen9"));
        assertTrue(e.getMessage().contains("vqwen3-4b") && e.getMessage().contains("tiny"), e.getMessage());
        try (SyntheticWeights w = SyntheticWeights.of("synthetic:tiny")) {
            CheckpointException wrong = assertThrows(CheckpointException.class, () -> w.load(new CpuBackend(1), "text.norm.weight", 33));
            assertTrue(wrong.getMessage().contains("text.norm.weight"), wrong.getMessage());
        }
    }
}
