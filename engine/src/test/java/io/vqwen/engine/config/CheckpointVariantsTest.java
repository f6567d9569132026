package io.vqwen.engine.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vqwen.engine.Fixture;
import io.vqwen.engine.backend.BatchLayout;
import io.vqwen.engine.cpu.CpuBackend;
import io.vqwen.engine.model.Checkpoint;
import io.vqwen.engine.model.Qwen3Model;
import io.vqwen.engine.safetensors.SafeTensors;
import io.vqwen.engine.safetensors.TensorView;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What different transformers versions write: key layouts, tied or untied lm_head, config field variants. */
class CheckpointVariantsTest {
    @TempDir
    Path tmp;
    final ObjectMapper json = new ObjectMapper();

    /** Rewrites the fixture as one model.safetensors with renamed keys (and optional extra tensors). */
    Path rewrite(String name, UnaryOperator<String> rename, Map<String, TensorView> extra, UnaryOperator<ObjectNode> config) throws IOException {
        Path src = Fixture.tiny().dir(), dst = tmp.resolve(name);
        Files.createDirectories(dst);
        for (String f : new String[] {"tokenizer.json.xz", "tokenizer_config.json", "chat_template.jinja", "processor_config.json", "generation_config.json"}) {
            Files.copy(src.resolve(f), dst.resolve(f));
        }
        ObjectNode cfg = (ObjectNode) json.readTree(src.resolve("config.json").toFile());
        json.writeValue(dst.resolve("config.json").toFile(), config.apply(cfg));
        Map<String, TensorView> all = new LinkedHashMap<>();
        for (String shard : new String[] {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}) {
            SafeTensors st = SafeTensors.open(src.resolve(shard));
            st.tensors().forEach((k, v) -> all.put(rename.apply(k), v));
        }
        all.putAll(extra);
        StringBuilder h = new StringBuilder("{");
        long off = 0;
        for (var e : all.entrySet()) {
            long n = e.getValue().data().byteSize();
            if (h.length() > 1) h.append(',');
            h.append('"').append(e.getKey()).append("\":{\"dtype\":\"").append(e.getValue().dtype()).append("\",\"shape\":")
                    .append(java.util.Arrays.toString(e.getValue().shape()).replace(" ", "")).append(",\"data_offsets\":[").append(off).append(',').append(off + n).append("]}");
            off += n;
        }
        byte[] header = h.append('}').toString().getBytes(StandardCharsets.UTF_8);
        ByteBuffer out = ByteBuffer.allocate((int) (8 + header.length + off)).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(header.length).put(header);
        for (TensorView v : all.values()) out.put(v.data().toArray(ValueLayout.JAVA_BYTE));
        Files.write(dst.resolve("model.safetensors"), out.array());
        return dst;
    }

    static String newLayout(String k) {
        if (k.startsWith("language_model.model.")) return "model.language_model." + k.substring("language_model.model.".length());
        if (k.startsWith("vision_tower.")) return "model.vision_tower.vision_model." + k.substring("vision_tower.".length());
        if (k.startsWith("multi_modal_projector.")) return "model." + k;
        return k;
    }

    float[] lastLogits(Path dir) throws IOException {
        try (CpuBackend b = new CpuBackend(); Checkpoint c = Checkpoint.open(dir, EnumSet.of(Checkpoint.Part.TEXT)); SafeTensors g = Fixture.tiny().golden()) {
            Qwen3Model m = new Qwen3Model(b, c);
            int[] ids = g.tensor("text_input_ids").toIntArray();
            int[] table = {0, 1, 2, 3};
            return b.download(m.forward(BatchLayout.single(ids, 0, table, 16, true), m.allocateKvCache(4, 16), null, null));
        }
    }

    @Test
    void newerKeyLayoutWithAnUntiedLmHeadGivesTheSameLogits() throws IOException {
        float[] ref = lastLogits(Fixture.tiny().dir());
        Path shard = Fixture.tiny().dir().resolve("model-00001-of-00002.safetensors");
        SafeTensors st = SafeTensors.open(shard);
        TensorView embed = st.tensor("language_model.model.embed_tokens.weight");
        Path dir = rewrite("new-layout", CheckpointVariantsTest::newLayout, Map.of("lm_head.weight", embed), cfg -> {
            cfg.put("tie_word_embeddings", false);
            ((ObjectNode) cfg.get("text_config")).put("tie_word_embeddings", false);
            // transformers renamed image_token_index; rope_theta at the top of text_config in older versions
            cfg.put("image_token_id", cfg.remove("image_token_index").asInt());
            ((ObjectNode) cfg.get("text_config")).put("rope_theta", 1000000.0).remove("rope_parameters");
            return cfg;
        });
        try (Checkpoint c = Checkpoint.open(dir)) {
            assertTrue(c.has("lm_head.weight") && c.has("vision.embeddings.class_embedding") && c.has("projector.linear_1.weight"));
            assertEquals(151669, c.config().imageTokenIndex());
            assertEquals(1e6, c.config().textConfig().ropeTheta());
            assertTrue(!c.config().textConfig().tieWordEmbeddings());
        }
        float[] got = lastLogits(dir);
        assertTrue(Fixture.relL2(got, ref) < 1e-6, "same logits from the newer layout with an untied lm_head");
        st.close();
    }

    @Test
    void eachServiceMapsOnlyItsOwnPart() throws IOException {
        try (Checkpoint vision = Checkpoint.open(Fixture.tiny().dir(), EnumSet.of(Checkpoint.Part.VISION))) {
            assertTrue(vision.keys().stream().allMatch(k -> k.startsWith("vision.")), "vision part only");
            assertTrue(vision.keys().size() > 10);
        }
        try (Checkpoint projector = Checkpoint.open(Fixture.tiny().dir(), EnumSet.of(Checkpoint.Part.PROJECTOR))) {
            assertEquals(4, projector.keys().size());
        }
    }
}
