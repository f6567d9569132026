package io.vqwen.engine.config;

import com.fasterxml.jackson.databind.JsonNode;

/** HF {@code CLIPVisionConfig}; absent fields take transformers' defaults. */
public record ClipVisionConfig(int hiddenSize, int intermediateSize, int numHiddenLayers, int numAttentionHeads,
                               int imageSize, int patchSize, int numChannels, String hiddenAct, double layerNormEps) {
    public static ClipVisionConfig from(JsonNode n) {
        return new ClipVisionConfig(
                n.path("hidden_size").asInt(768),
                n.path("intermediate_size").asInt(3072),
                n.path("num_hidden_layers").asInt(12),
                n.path("num_attention_heads").asInt(12),
                n.path("image_size").asInt(224),
                n.path("patch_size").asInt(32),
                n.path("num_channels").asInt(3),
                n.path("hidden_act").asText("quick_gelu"),
                n.path("layer_norm_eps").asDouble(1e-5));
    }

    public int headDim() {
        return hiddenSize / numAttentionHeads;
    }

    public int numPatches() {
        int side = imageSize / patchSize;
        return side * side;
    }

    /** Patches plus the class token. */
    public int numPositions() {
        return numPatches() + 1;
    }
}
