package io.vqwen.engine.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vqwen.engine.backend.Backend;
import io.vqwen.engine.backend.Tensor;
import io.vqwen.engine.config.LlavaConfig;
import io.vqwen.engine.safetensors.CheckpointException;
import io.vqwen.engine.safetensors.SafeTensors;
import io.vqwen.engine.safetensors.TensorView;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.EnumSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * A Hugging Face LLaVA checkpoint directory: config.json plus model.safetensors or the shards listed in
 * model.safetensors.index.json, each memory-mapped once in a long-lived arena. Only the shards holding the
 * requested {@link Part}s are opened, so each service maps just its own weights.
 */
public final class Checkpoint implements WeightSource {
    public enum Part { VISION, PROJECTOR, TEXT }

    // Checkpoint key prefix -> canonical prefix. Older transformers saves the first form, newer the second.
    private static final String[][] PREFIXES = {
            {"model.vision_tower.vision_model.", "vision."},
            {"vision_tower.vision_model.", "vision."},
            {"model.vision_tower.", "vision."},
            {"vision_tower.", "vision."},
            {"model.multi_modal_projector.", "projector."},
            {"multi_modal_projector.", "projector."},
            {"model.language_model.", "text."},
            {"language_model.model.", "text."},
            {"language_model.lm_head.", "lm_head."},
            {"lm_head.", "lm_head."},
    };

    private final Path dir;
    private final LlavaConfig config;
    private final Arena arena;
    private final Map<String, TensorView> tensors;
    private final String revision;

    private Checkpoint(Path dir, LlavaConfig config, Arena arena, Map<String, TensorView> tensors, String revision) {
        this.dir = dir;
        this.config = config;
        this.arena = arena;
        this.tensors = tensors;
        this.revision = revision;
    }

    public static Checkpoint open(Path dir) throws IOException {
        return open(dir, EnumSet.allOf(Part.class));
    }

    public static Checkpoint open(Path dir, Set<Part> parts) throws IOException {
        if (!Files.isDirectory(dir)) throw new IllegalArgumentException("model directory not found: " + dir);
        LlavaConfig config = LlavaConfig.load(dir);
        Set<String> shardNames = new LinkedHashSet<>();
        Path index = dir.resolve("model.safetensors.index.json");
        String revisionSource;
        if (Files.isRegularFile(index)) {
            JsonNode map = new ObjectMapper().readTree(index.toFile()).path("weight_map");
            if (!map.isObject()) throw new CheckpointException(index + ": no weight_map");
            map.fields().forEachRemaining(e -> {
                if (parts.contains(partOf(canonical(e.getKey())))) shardNames.add(e.getValue().asText());
            });
            revisionSource = Files.readString(index);
        } else if (Files.isRegularFile(dir.resolve("model.safetensors"))) {
            shardNames.add("model.safetensors");
            revisionSource = "model.safetensors:" + Files.size(dir.resolve("model.safetensors"));
        } else {
            try (Stream<Path> s = Files.list(dir)) {
                s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".safetensors")).sorted().forEach(shardNames::add);
            }
            if (shardNames.isEmpty()) throw new CheckpointException(dir + ": no model.safetensors, model.safetensors.index.json or *.safetensors file");
            revisionSource = String.join(",", shardNames);
        }
        Arena arena = Arena.ofShared();
        Map<String, TensorView> tensors = new LinkedHashMap<>();
        try {
            for (String shard : shardNames) {
                Path p = dir.resolve(shard);
                if (!Files.isRegularFile(p)) throw new CheckpointException("missing shard " + shard + " (listed in " + index.getFileName() + ") in " + dir);
                SafeTensors st = SafeTensors.open(p, arena);
                for (TensorView v : st.tensors().values()) {
                    String key = canonical(v.name());
                    if (parts.contains(partOf(key))) tensors.put(key, v);
                }
            }
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
        String configText = Files.readString(dir.resolve("config.json"));
        return new Checkpoint(dir, config, arena, tensors, sha256(configText + "\n" + revisionSource).substring(0, 16));
    }

    /** Maps a checkpoint key of either layout to its canonical key. */
    static String canonical(String key) {
        for (String[] p : PREFIXES) {
            if (key.startsWith(p[0])) return p[1] + key.substring(p[0].length());
        }
        return key;
    }

    static Part partOf(String canonicalKey) {
        if (canonicalKey.startsWith("vision.")) return Part.VISION;
        if (canonicalKey.startsWith("projector.")) return Part.PROJECTOR;
        return Part.TEXT;
    }

    public Path dir() {
        return dir;
    }

    @Override
    public LlavaConfig config() {
        return config;
    }

    @Override
    public String revision() {
        return revision;
    }

    /** Canonical keys of the loaded tensors. */
    public Set<String> keys() {
        return tensors.keySet();
    }

    @Override
    public boolean has(String key) {
        return tensors.containsKey(key);
    }

    public TensorView view(String key) {
        TensorView v = tensors.get(key);
        if (v == null) throw new CheckpointException("missing tensor " + key + " in checkpoint " + dir);
        return v;
    }

    @Override
    public Tensor load(Backend backend, String key, long... shape) {
        return backend.weight(view(key).requireShape(shape));
    }

    @Override
    public void close() {
        arena.close();
    }

    private static String sha256(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
