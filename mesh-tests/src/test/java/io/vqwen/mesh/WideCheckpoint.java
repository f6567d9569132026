package io.vqwen.mesh;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A checkpoint with the real model's widths where they cross the wire (CLIP features 1024, Qwen3-4B hidden 2560) and
 * tiny everywhere else (one decoder layer, MLP 64, vocabulary 1024), so that full-size tensors go through the real
 * services in a few MB of weights. Written under target/ by the test; the tokenizer comes from the bundled fixture.
 */
final class WideCheckpoint {
    static final int FEATURES = 1024;
    static final int HIDDEN = 2560;
    static final int VOCAB = 1024;
    /** Inside the small vocabulary, unlike the real 151669. */
    static final int IMAGE_TOKEN = 1000;

    private WideCheckpoint() {
    }

    static Path write(Path dir) throws IOException {
        Files.createDirectories(dir);
        Map<String, long[]> t = new LinkedHashMap<>();
        t.put("multi_modal_projector.linear_1.weight", new long[] {HIDDEN, FEATURES});
        t.put("multi_modal_projector.linear_1.bias", new long[] {HIDDEN});
        t.put("multi_modal_projector.linear_2.weight", new long[] {HIDDEN, HIDDEN});
        t.put("multi_modal_projector.linear_2.bias", new long[] {HIDDEN});
        String p = "language_model.model.";
        t.put(p + "embed_tokens.weight", new long[] {VOCAB, HIDDEN});
        String l = p + "layers.0.";
        t.put(l + "input_layernorm.weight", new long[] {HIDDEN});
        t.put(l + "post_attention_layernorm.weight", new long[] {HIDDEN});
        t.put(l + "self_attn.q_proj.weight", new long[] {2 * 64, HIDDEN});
        t.put(l + "self_attn.k_proj.weight", new long[] {64, HIDDEN});
        t.put(l + "self_attn.v_proj.weight", new long[] {64, HIDDEN});
        t.put(l + "self_attn.o_proj.weight", new long[] {HIDDEN, 2 * 64});
        t.put(l + "self_attn.q_norm.weight", new long[] {64});
        t.put(l + "self_attn.k_norm.weight", new long[] {64});
        t.put(l + "mlp.gate_proj.weight", new long[] {64, HIDDEN});
        t.put(l + "mlp.up_proj.weight", new long[] {64, HIDDEN});
        t.put(l + "mlp.down_proj.weight", new long[] {HIDDEN, 64});
        t.put(p + "norm.weight", new long[] {HIDDEN});
        writeSafetensors(dir.resolve("model.safetensors"), t);
        Files.writeString(dir.resolve("config.json"), """
                {
                  "architectures": ["LlavaForConditionalGeneration"], "model_type": "llava",
                  "image_token_index": %d, "image_seq_length": 576, "projector_hidden_act": "gelu",
                  "vision_feature_layer": -2, "vision_feature_select_strategy": "default", "tie_word_embeddings": true,
                  "text_config": {"model_type": "qwen3", "vocab_size": %d, "hidden_size": %d, "intermediate_size": 64,
                    "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 64,
                    "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "max_position_embeddings": 2048,
                    "tie_word_embeddings": true, "hidden_act": "silu"},
                  "vision_config": {"model_type": "clip_vision_model", "hidden_size": %d, "intermediate_size": 64,
                    "num_hidden_layers": 1, "num_attention_heads": 1, "image_size": 336, "patch_size": 14,
                    "hidden_act": "quick_gelu", "layer_norm_eps": 1e-05}
                }
                """.formatted(IMAGE_TOKEN, VOCAB, HIDDEN, FEATURES));
        for (String f : new String[] {"tokenizer.json.xz", "tokenizer_config.json", "generation_config.json"}) {
            Files.copy(Golden.MODEL.resolve(f), dir.resolve(f), StandardCopyOption.REPLACE_EXISTING);
        }
        return dir;
    }

    /** bf16, norms 1, everything else N(0, 0.02^2)-ish uniform; one file. */
    private static void writeSafetensors(Path file, Map<String, long[]> tensors) throws IOException {
        StringBuilder h = new StringBuilder("{");
        long offset = 0;
        for (var e : tensors.entrySet()) {
            long bytes = 2 * numel(e.getValue());
            if (h.length() > 1) h.append(',');
            h.append('"').append(e.getKey()).append("\":{\"dtype\":\"BF16\",\"shape\":")
                    .append(java.util.Arrays.toString(e.getValue()).replace(" ", ""))
                    .append(",\"data_offsets\":[").append(offset).append(',').append(offset + bytes).append("]}");
            offset += bytes;
        }
        h.append('}');
        while ((h.length() + 8) % 8 != 0) h.append(' ');
        byte[] header = h.toString().getBytes(StandardCharsets.UTF_8);
        SplittableRandom rnd = new SplittableRandom(7);
        try (OutputStream out = Files.newOutputStream(file)) {
            out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).array());
            out.write(header);
            for (var e : tensors.entrySet()) {
                boolean norm = e.getKey().contains("norm");
                ByteBuffer b = ByteBuffer.allocate((int) (2 * numel(e.getValue()))).order(ByteOrder.LITTLE_ENDIAN);
                while (b.hasRemaining()) {
                    float x = norm ? 1f : 0.02f * 1.7320508f * (float) (2 * rnd.nextDouble() - 1);
                    b.putShort((short) (Float.floatToRawIntBits(x) >>> 16));
                }
                out.write(b.array());
            }
        }
    }

    private static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }
}
