package io.vqwen.engine.tools;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Writes a full-size LLaVA/Qwen3 checkpoint with seeded random bf16 weights in the Hugging Face layout (sharded
 * safetensors + index + config), for CPU benchmarks at the real model's size without downloading 8.7 GB.
 * Tokenizer, template and processor files are copied from a template model directory.
 */
public final class RandomCheckpointWriter {
    /** A named model shape. */
    public record Shape(int visionHidden, int visionIntermediate, int visionLayers, int visionHeads, int textHidden,
                        int textIntermediate, int textLayers, int heads, int kvHeads, int headDim, int vocab) {
        /** vqwen3-4b: CLIP ViT-L/14-336 + Qwen3-4B. */
        public static final Shape VQWEN3_4B = new Shape(1024, 4096, 24, 16, 2560, 9728, 36, 32, 8, 128, 151936);
        /** The shapes of the bundled testdata/tiny-llava fixture. */
        public static final Shape TINY = new Shape(64, 256, 3, 4, 32, 96, 3, 4, 2, 16, 151936);

        public static Shape named(String name) {
            return switch (name) {
                case "vqwen3-4b" -> VQWEN3_4B;
                case "tiny" -> TINY;
                default -> throw new IllegalArgumentException("unknown shape '" + name + "' (known: vqwen3-4b, tiny)");
            };
        }
    }

    private static final long SHARD_BYTES = 2L << 30;

    public static void write(Shape s, Path out, Path templateModel, long seed) throws IOException {
        Files.createDirectories(out);
        Map<String, long[]> tensors = tensorShapes(s);

        // Group into shards of about 2 GB, in order.
        List<Map<String, long[]>> shards = new ArrayList<>();
        Map<String, long[]> cur = new LinkedHashMap<>();
        long curBytes = 0;
        for (var e : tensors.entrySet()) {
            long bytes = 2 * numel(e.getValue());
            if (curBytes > 0 && curBytes + bytes > SHARD_BYTES) {
                shards.add(cur);
                cur = new LinkedHashMap<>();
                curBytes = 0;
            }
            cur.put(e.getKey(), e.getValue());
            curBytes += bytes;
        }
        shards.add(cur);
        ObjectMapper json = new ObjectMapper();
        ObjectNode index = json.createObjectNode();
        ObjectNode weightMap = index.putObject("weight_map");
        long total = 0;
        SplittableRandom rnd = new SplittableRandom(seed);
        for (int i = 0; i < shards.size(); i++) {
            String name = String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size());
            total += writeShard(out.resolve(name), shards.get(i), rnd.split());
            for (String k : shards.get(i).keySet()) weightMap.put(k, name);
            System.err.printf("wrote %s%n", name);
        }
        index.putObject("metadata").put("total_size", total);
        json.writerWithDefaultPrettyPrinter().writeValue(out.resolve("model.safetensors.index.json").toFile(), index);
        Files.writeString(out.resolve("config.json"), config(s));
        for (String f : List.of("tokenizer.json", "tokenizer.json.xz", "tokenizer_config.json", "chat_template.jinja",
                "processor_config.json", "generation_config.json")) {
            Path src = templateModel.resolve(f);
            if (Files.isRegularFile(src)) Files.copy(src, out.resolve(f), StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** Every tensor of the shape, by its key in the Hugging Face layout, in checkpoint order. */
    public static Map<String, long[]> tensorShapes(Shape s) {
        Map<String, long[]> tensors = new LinkedHashMap<>();
        String v = "vision_tower.vision_model.";
        tensors.put(v + "embeddings.patch_embedding.weight", new long[] {s.visionHidden, 3, 14, 14});
        tensors.put(v + "embeddings.class_embedding", new long[] {s.visionHidden});
        tensors.put(v + "embeddings.position_embedding.weight", new long[] {577, s.visionHidden});
        tensors.put(v + "pre_layrnorm.weight", new long[] {s.visionHidden});
        tensors.put(v + "pre_layrnorm.bias", new long[] {s.visionHidden});
        for (int i = 0; i < s.visionLayers; i++) {
            String p = v + "encoder.layers." + i + ".";
            for (String n : List.of("layer_norm1", "layer_norm2")) {
                tensors.put(p + n + ".weight", new long[] {s.visionHidden});
                tensors.put(p + n + ".bias", new long[] {s.visionHidden});
            }
            for (String n : List.of("q_proj", "k_proj", "v_proj", "out_proj")) {
                tensors.put(p + "self_attn." + n + ".weight", new long[] {s.visionHidden, s.visionHidden});
                tensors.put(p + "self_attn." + n + ".bias", new long[] {s.visionHidden});
            }
            tensors.put(p + "mlp.fc1.weight", new long[] {s.visionIntermediate, s.visionHidden});
            tensors.put(p + "mlp.fc1.bias", new long[] {s.visionIntermediate});
            tensors.put(p + "mlp.fc2.weight", new long[] {s.visionHidden, s.visionIntermediate});
            tensors.put(p + "mlp.fc2.bias", new long[] {s.visionHidden});
        }
        tensors.put(v + "post_layernorm.weight", new long[] {s.visionHidden});
        tensors.put(v + "post_layernorm.bias", new long[] {s.visionHidden});
        tensors.put("multi_modal_projector.linear_1.weight", new long[] {s.textHidden, s.visionHidden});
        tensors.put("multi_modal_projector.linear_1.bias", new long[] {s.textHidden});
        tensors.put("multi_modal_projector.linear_2.weight", new long[] {s.textHidden, s.textHidden});
        tensors.put("multi_modal_projector.linear_2.bias", new long[] {s.textHidden});
        String t = "language_model.model.";
        tensors.put(t + "embed_tokens.weight", new long[] {s.vocab, s.textHidden});
        for (int i = 0; i < s.textLayers; i++) {
            String p = t + "layers." + i + ".";
            tensors.put(p + "input_layernorm.weight", new long[] {s.textHidden});
            tensors.put(p + "post_attention_layernorm.weight", new long[] {s.textHidden});
            tensors.put(p + "self_attn.q_proj.weight", new long[] {(long) s.heads * s.headDim, s.textHidden});
            tensors.put(p + "self_attn.k_proj.weight", new long[] {(long) s.kvHeads * s.headDim, s.textHidden});
            tensors.put(p + "self_attn.v_proj.weight", new long[] {(long) s.kvHeads * s.headDim, s.textHidden});
            tensors.put(p + "self_attn.o_proj.weight", new long[] {s.textHidden, (long) s.heads * s.headDim});
            tensors.put(p + "self_attn.q_norm.weight", new long[] {s.headDim});
            tensors.put(p + "self_attn.k_norm.weight", new long[] {s.headDim});
            tensors.put(p + "mlp.gate_proj.weight", new long[] {s.textIntermediate, s.textHidden});
            tensors.put(p + "mlp.up_proj.weight", new long[] {s.textIntermediate, s.textHidden});
            tensors.put(p + "mlp.down_proj.weight", new long[] {s.textHidden, s.textIntermediate});
        }
        tensors.put(t + "norm.weight", new long[] {s.textHidden});
        return tensors;
    }

    private static long writeShard(Path file, Map<String, long[]> tensors, SplittableRandom rnd) throws IOException {
        StringBuilder h = new StringBuilder("{");
        long offset = 0;
        for (var e : tensors.entrySet()) {
            long bytes = 2 * numel(e.getValue());
            if (h.length() > 1) h.append(',');
            h.append('"').append(e.getKey()).append("\":{\"dtype\":\"BF16\",\"shape\":").append(java.util.Arrays.toString(e.getValue()).replace(" ", ""))
                    .append(",\"data_offsets\":[").append(offset).append(',').append(offset + bytes).append("]}");
            offset += bytes;
        }
        h.append('}');
        while ((h.length() + 8) % 8 != 0) h.append(' ');
        byte[] header = h.toString().getBytes(StandardCharsets.UTF_8);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
            ByteBuffer head = ByteBuffer.allocate(8 + header.length).order(ByteOrder.LITTLE_ENDIAN);
            head.putLong(header.length).put(header).flip();
            ch.write(head);
            ByteBuffer buf = ByteBuffer.allocateDirect(1 << 22).order(ByteOrder.LITTLE_ENDIAN);
            for (var e : tensors.entrySet()) {
                String k = e.getKey();
                boolean norm = k.contains("norm") && k.endsWith("weight");
                boolean bias = k.endsWith("bias");
                float scale = norm ? 0.1f : bias ? 0.02f : 0.02f;
                float mean = norm ? 1f : 0f;
                long n = numel(e.getValue());
                for (long i = 0; i < n; i++) {
                    // Uniform with the std of N(mean, scale): cheap to draw 4 billion of.
                    float x = mean + scale * 1.7320508f * (float) (2 * rnd.nextDouble() - 1);
                    buf.putShort((short) (Float.floatToRawIntBits(x) >>> 16));
                    if (!buf.hasRemaining()) {
                        buf.flip();
                        while (buf.hasRemaining()) ch.write(buf);
                        buf.clear();
                    }
                }
            }
            buf.flip();
            while (buf.hasRemaining()) ch.write(buf);
        }
        return offset;
    }

    /** config.json of the shape. */
    public static String config(Shape s) {
        return """
                {
                  "architectures": ["LlavaForConditionalGeneration"],
                  "model_type": "llava",
                  "image_token_index": 151669,
                  "image_seq_length": 576,
                  "projector_hidden_act": "gelu",
                  "vision_feature_layer": -2,
                  "vision_feature_select_strategy": "default",
                  "tie_word_embeddings": true,
                  "text_config": {"model_type": "qwen3", "vocab_size": %d, "hidden_size": %d, "intermediate_size": %d,
                    "num_hidden_layers": %d, "num_attention_heads": %d, "num_key_value_heads": %d, "head_dim": %d,
                    "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "max_position_embeddings": 40960,
                    "tie_word_embeddings": true, "hidden_act": "silu"},
                  "vision_config": {"model_type": "clip_vision_model", "hidden_size": %d, "intermediate_size": %d,
                    "num_hidden_layers": %d, "num_attention_heads": %d, "image_size": 336, "patch_size": 14,
                    "hidden_act": "quick_gelu", "layer_norm_eps": 1e-05}
                }
                """.formatted(s.vocab, s.textHidden, s.textIntermediate, s.textLayers, s.heads, s.kvHeads, s.headDim,
                s.visionHidden, s.visionIntermediate, s.visionLayers, s.visionHeads);
    }

    private static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }

    private RandomCheckpointWriter() {
    }

}
