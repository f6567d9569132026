package io.vqwen.engine.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** HF {@code LlavaConfig} (config.json) with its nested vision and text configs. */
public record LlavaConfig(ClipVisionConfig visionConfig, Qwen3Config textConfig, int imageTokenIndex,
                          List<Integer> visionFeatureLayers, String visionFeatureSelectStrategy, int imageSeqLength,
                          String projectorHiddenAct, boolean multimodalProjectorBias) {
    private static final ObjectMapper JSON = new ObjectMapper();

    public static LlavaConfig load(Path modelDir) throws IOException {
        Path file = modelDir.resolve("config.json");
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("not a model directory: " + modelDir + " has no config.json");
        }
        JsonNode root;
        try {
            root = JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": not valid JSON: " + e.getMessage(), e);
        }
        return from(root);
    }

    public static LlavaConfig from(JsonNode n) {
        String type = n.path("model_type").asText("llava");
        if (!type.equals("llava")) {
            throw new IllegalArgumentException("config.json: model_type '" + type + "' is not supported (expected 'llava')");
        }
        String textType = n.path("text_config").path("model_type").asText("qwen3");
        if (!textType.equals("qwen3")) {
            throw new IllegalArgumentException("config.json: text_config.model_type '" + textType + "' is not supported (expected 'qwen3')");
        }
        boolean topTie = n.path("tie_word_embeddings").asBoolean(false);
        List<Integer> layers = new ArrayList<>();
        JsonNode fl = n.path("vision_feature_layer");
        if (fl.isArray()) fl.forEach(x -> layers.add(x.asInt()));
        else layers.add(fl.asInt(-2));
        // transformers renamed image_token_index to image_token_id; accept both.
        int imageToken = n.has("image_token_index") ? n.get("image_token_index").asInt() : n.path("image_token_id").asInt(32000);
        return new LlavaConfig(
                ClipVisionConfig.from(n.path("vision_config")),
                Qwen3Config.from(n.path("text_config"), topTie),
                imageToken,
                List.copyOf(layers),
                n.path("vision_feature_select_strategy").asText("default"),
                n.path("image_seq_length").asInt(576),
                n.path("projector_hidden_act").asText("gelu"),
                n.path("multimodal_projector_bias").asBoolean(true));
    }

    /** Width of the vision features handed to the projector (concatenated when several layers are selected). */
    public int visionFeatureWidth() {
        return visionConfig.hiddenSize() * visionFeatureLayers.size();
    }

    /** Image embeddings per image after feature selection ("default" drops CLS). */
    public int imageTokensPerImage() {
        int n = visionConfig.numPositions();
        return visionFeatureSelectStrategy.equals("default") ? n - 1 : n;
    }
}
