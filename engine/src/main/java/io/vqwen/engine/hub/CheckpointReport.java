package io.vqwen.engine.hub;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vqwen.engine.model.Checkpoint;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Whether a checkpoint directory holds what the engine loads: {@code config.json}, a tokenizer, and every safetensors
 * file that {@code model.safetensors.index.json} lists, each with an intact header whose tensors fill the file exactly
 * (a truncated or half-copied shard fails that test). All of these are named at once; when none is missing, the
 * engine's own loader ({@link Checkpoint#open}) must then accept the directory too.
 *
 * @param dir     the checkpoint directory that was checked
 * @param missing files that are not there, by name relative to {@code dir}
 * @param damaged files that are there but unusable, each with the reason
 */
public record CheckpointReport(Path dir, List<String> missing, List<String> damaged) {

    static final String CONFIG = "config.json";
    static final String INDEX = "model.safetensors.index.json";
    static final String SINGLE_FILE = "model.safetensors";
    /** The bundled fixture ships its tokenizer xz-compressed; the engine reads either. */
    static final List<String> TOKENIZERS = List.of("tokenizer.json", "tokenizer.json.xz");
    // A safetensors header is JSON describing the tensors; anything this large is not a header.
    private static final long MAX_HEADER_BYTES = 100L << 20;
    private static final ObjectMapper JSON = new ObjectMapper();

    public CheckpointReport {
        missing = List.copyOf(missing);
        damaged = List.copyOf(damaged);
    }

    /** Checks {@code dir}; never throws for a bad checkpoint, it says what is wrong instead. */
    public static CheckpointReport of(Path dir) {
        List<String> missing = new ArrayList<>();
        List<String> damaged = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return new CheckpointReport(dir, List.of("(the directory itself)"), List.of());
        }
        if (!Files.isRegularFile(dir.resolve(CONFIG))) {
            missing.add(CONFIG);
        }
        if (TOKENIZERS.stream().noneMatch(t -> Files.isRegularFile(dir.resolve(t)))) {
            missing.add(TOKENIZERS.getFirst());
        }
        Path index = dir.resolve(INDEX);
        if (Files.isRegularFile(index)) {
            Map<String, Set<String>> tensorsByFile = new LinkedHashMap<>();
            try {
                JsonNode weightMap = JSON.readTree(index.toFile()).path("weight_map");
                if (!weightMap.isObject() || weightMap.isEmpty()) {
                    damaged.add(INDEX + ": no weight_map");
                }
                weightMap.properties().forEach(e ->
                        tensorsByFile.computeIfAbsent(e.getValue().asText(), f -> new LinkedHashSet<>()).add(e.getKey()));
            } catch (IOException e) {
                damaged.add(INDEX + ": not valid JSON (" + e.getMessage() + ")");
            }
            tensorsByFile.forEach((file, tensors) -> {
                Path shard = dir.resolve(file).normalize();
                if (!shard.startsWith(dir.normalize())) {
                    damaged.add(INDEX + ": names a file outside the checkpoint: " + file);
                } else if (!Files.isRegularFile(shard)) {
                    missing.add(file + " (listed by " + INDEX + ")");
                } else {
                    checkSafetensors(shard, file, tensors, damaged);
                }
            });
        } else if (Files.isRegularFile(dir.resolve(SINGLE_FILE))) {
            checkSafetensors(dir.resolve(SINGLE_FILE), SINGLE_FILE, Set.of(), damaged);
        } else {
            missing.add(INDEX + " or " + SINGLE_FILE);
        }
        if (missing.isEmpty() && damaged.isEmpty()) {
            try (Checkpoint loaded = Checkpoint.open(dir)) {
                if (loaded.keys().isEmpty()) {
                    damaged.add("the engine's loader finds no tensors in it");
                }
            } catch (IOException | RuntimeException e) {
                damaged.add("the engine's loader refuses it: " + e.getMessage());
            }
        }
        return new CheckpointReport(dir, missing, damaged);
    }

    public boolean complete() {
        return missing.isEmpty() && damaged.isEmpty();
    }

    /** One line for a log or an error message. */
    public String describe() {
        if (complete()) {
            return "checkpoint " + dir + " is complete";
        }
        StringBuilder sb = new StringBuilder("checkpoint ").append(dir).append(" is not usable:");
        if (!missing.isEmpty()) {
            sb.append(" missing ").append(String.join(", ", missing)).append(';');
        }
        if (!damaged.isEmpty()) {
            sb.append(" damaged ").append(String.join("; ", damaged)).append(';');
        }
        sb.setLength(sb.length() - 1);
        return sb.toString();
    }

    /** safetensors layout: u64 little-endian header length, JSON header, then the tensor bytes the header indexes. */
    private static void checkSafetensors(Path file, String name, Set<String> expectedTensors, List<String> damaged) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            if (size < 8 || ch.read(len, 0) != 8) {
                damaged.add(name + ": " + size + " bytes, too short for a safetensors header");
                return;
            }
            long headerBytes = len.getLong(0);
            if (headerBytes <= 0 || headerBytes > MAX_HEADER_BYTES || 8 + headerBytes > size) {
                damaged.add(name + ": header length " + headerBytes + " does not fit in its " + size + " bytes");
                return;
            }
            ByteBuffer header = ByteBuffer.allocate((int) headerBytes);
            while (header.hasRemaining() && ch.read(header, 8 + header.position()) > 0) {
                // read the whole header
            }
            JsonNode tensors = JSON.readTree(header.array());
            long dataEnd = 0;
            Set<String> absent = new LinkedHashSet<>(expectedTensors);
            for (var entry : tensors.properties()) {
                if (entry.getKey().equals("__metadata__")) {
                    continue;
                }
                absent.remove(entry.getKey());
                dataEnd = Math.max(dataEnd, entry.getValue().path("data_offsets").path(1).asLong(0));
            }
            long expectedSize = 8 + headerBytes + dataEnd;
            if (expectedSize != size) {
                damaged.add(name + ": " + size + " bytes but its header describes " + expectedSize
                        + (size < expectedSize ? " (truncated)" : ""));
            }
            if (!absent.isEmpty()) {
                List<String> some = absent.stream().limit(3).toList();
                damaged.add(name + ": lacks tensor(s) " + String.join(", ", some)
                        + (absent.size() > some.size() ? " and " + (absent.size() - some.size()) + " more" : "")
                        + " that " + INDEX + " places there");
            }
        } catch (IOException e) {
            damaged.add(name + ": unreadable safetensors header (" + e.getMessage() + ")");
        }
    }
}
