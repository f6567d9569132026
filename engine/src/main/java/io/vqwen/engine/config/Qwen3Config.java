package io.vqwen.engine.config;

import com.fasterxml.jackson.databind.JsonNode;

/** HF {@code Qwen3Config}; absent fields take transformers' defaults. */
public record Qwen3Config(int vocabSize, int hiddenSize, int intermediateSize, int numHiddenLayers,
                          int numAttentionHeads, int numKeyValueHeads, int headDim, double rmsNormEps,
                          double ropeTheta, int maxPositionEmbeddings, boolean tieWordEmbeddings, String hiddenAct) {
    public static Qwen3Config from(JsonNode n, boolean topLevelTie) {
        int heads = n.path("num_attention_heads").asInt(32);
        int hidden = n.path("hidden_size").asInt(4096);
        // rope_theta sits at the top of text_config in older transformers, inside rope_parameters in newer ones.
        double theta = n.has("rope_theta") ? n.get("rope_theta").asDouble()
                : n.path("rope_parameters").path("rope_theta").asDouble(10000.0);
        String ropeType = n.path("rope_parameters").path("rope_type").asText(n.path("rope_scaling").path("rope_type").asText("default"));
        if (!ropeType.equals("default")) {
            throw new IllegalArgumentException("text_config: rope_type '" + ropeType + "' is not supported (only 'default')");
        }
        boolean tie = n.has("tie_word_embeddings") ? n.get("tie_word_embeddings").asBoolean() : topLevelTie;
        return new Qwen3Config(
                n.path("vocab_size").asInt(151936),
                hidden,
                n.path("intermediate_size").asInt(22016),
                n.path("num_hidden_layers").asInt(32),
                heads,
                n.path("num_key_value_heads").asInt(heads),
                n.hasNonNull("head_dim") ? n.get("head_dim").asInt() : hidden / heads,
                n.path("rms_norm_eps").asDouble(1e-6),
                theta,
                n.path("max_position_embeddings").asInt(32768),
                tie,
                n.path("hidden_act").asText("silu"));
    }

    public int qWidth() {
        return numAttentionHeads * headDim;
    }

    public int kvWidth() {
        return numKeyValueHeads * headDim;
    }
}
