package io.vqwen.engine.model;

import io.vqwen.engine.backend.Backend;
import io.vqwen.engine.backend.Tensor;
import io.vqwen.engine.config.ClipVisionConfig;
import io.vqwen.engine.config.LlavaConfig;
import java.util.ArrayList;
import java.util.List;

/**
 * HF {@code CLIPVisionTransformer} up to the feature layer LLaVA selects: patch embedding (the conv as a matmul),
 * class and position embeddings, pre_layrnorm, then only the encoder layers that the selected hidden states need.
 */
public final class ClipVisionModel {
    private final Backend backend;
    private final ClipVisionConfig cfg;
    private final LlavaConfig llava;
    private final Tensor patchEmbedding;    // (hidden, channels * patch * patch)
    private final Tensor classEmbedding;    // (1, hidden)
    private final Tensor positionEmbedding; // (numPositions, hidden)
    private final Tensor preLayrnormWeight, preLayrnormBias; // (1, hidden)
    private final List<ClipEncoderLayer> layers;
    private final int[] featureLayers;      // indices into hidden_states (0 = embeddings)

    public ClipVisionModel(Backend backend, WeightSource w) {
        this.backend = backend;
        this.llava = w.config();
        this.cfg = llava.visionConfig();
        int d = cfg.hiddenSize(), p = cfg.patchSize();
        patchEmbedding = w.load(backend, "vision.embeddings.patch_embedding.weight", d, cfg.numChannels(), p, p);
        classEmbedding = w.load(backend, "vision.embeddings.class_embedding", d);
        positionEmbedding = w.load(backend, "vision.embeddings.position_embedding.weight", cfg.numPositions(), d);
        preLayrnormWeight = w.load(backend, "vision.pre_layrnorm.weight", d);
        preLayrnormBias = w.load(backend, "vision.pre_layrnorm.bias", d);
        // HF: hidden_states[i] is the output of layer i-1 (index 0 is the embeddings); negative indices count from
        // the end of num_layers + 1 entries. Layers past the deepest selected one are never run (nor loaded).
        int total = cfg.numHiddenLayers() + 1;
        featureLayers = llava.visionFeatureLayers().stream().mapToInt(i -> i < 0 ? total + i : i).toArray();
        int needed = 0;
        for (int f : featureLayers) {
            if (f < 0 || f >= total) throw new IllegalArgumentException("vision_feature_layer " + f + " outside 0.." + (total - 1));
            needed = Math.max(needed, f);
        }
        layers = new ArrayList<>();
        for (int i = 0; i < needed; i++) layers.add(new ClipEncoderLayer(backend, w, cfg, i));
    }

    public ClipVisionConfig config() {
        return cfg;
    }

    /**
     * pixelValues: (batch, channels * imageSize * imageSize), each image CHW as the processor makes it.
     * Returns features (batch * tokensPerImage, featureWidth) on the backend.
     */
    public Tensor forward(float[][] pixelValues) {
        int batch = pixelValues.length, n = cfg.numPositions(), d = cfg.hiddenSize();
        Tensor patchIn = backend.uploadPatches(pixelValues, cfg.numChannels(), cfg.imageSize(), cfg.patchSize());
        Tensor patchOut = backend.allocate(batch * cfg.numPatches(), d);
        backend.linear(patchOut, patchIn, patchEmbedding, null);
        backend.free(patchIn);

        Tensor x = backend.allocate(batch * n, d);
        for (int b = 0; b < batch; b++) {
            backend.copyRows(x, b * n, classEmbedding, 0, 1);
            backend.copyRows(x, b * n + 1, patchOut, b * cfg.numPatches(), cfg.numPatches());
            backend.addRows(backend.rowSlice(x, b * n, n), positionEmbedding);
        }
        backend.free(patchOut);
        backend.layerNorm(x, x, preLayrnormWeight, preLayrnormBias, (float) cfg.layerNormEps());

        boolean dropCls = llava.visionFeatureSelectStrategy().equals("default");
        int tokens = dropCls ? n - 1 : n;
        Tensor features = backend.allocate(batch * tokens, d * featureLayers.length);
        ClipEncoderLayer.Scratch scratch = new ClipEncoderLayer.Scratch(backend, batch * n, cfg);
        for (int layer = 0; layer <= layers.size(); layer++) {
            for (int f = 0; f < featureLayers.length; f++) {
                if (featureLayers[f] == layer) select(features, x, batch, n, dropCls, f, d);
            }
            if (layer < layers.size()) layers.get(layer).forward(x, batch, scratch);
        }
        scratch.free(backend);
        backend.free(x);
        return features;
    }

    private void select(Tensor features, Tensor x, int batch, int n, boolean dropCls, int which, int d) {
        int tokens = dropCls ? n - 1 : n;
        if (featureLayers.length == 1) {
            for (int b = 0; b < batch; b++) backend.copyRows(features, b * tokens, x, b * n + (dropCls ? 1 : 0), tokens);
            return;
        }
        // Several layers: concatenate along the feature dimension, as HF's torch.cat(dim=-1).
        float[] all = backend.download(features);
        float[] h = backend.download(x);
        int width = d * featureLayers.length;
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t < tokens; t++) {
                System.arraycopy(h, (b * n + t + (dropCls ? 1 : 0)) * d, all, (b * tokens + t) * width + which * d, d);
            }
        }
        Tensor updated = backend.upload(all, batch * tokens, width);
        backend.copyRows(features, 0, updated, 0, batch * tokens);
        backend.free(updated);
    }
}
