package io.vqwen.engine.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One safetensors file, memory-mapped read-only with the FFM API (shards are over 2 GB, beyond ByteBuffer).
 * Layout: u64 little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}, then the data.
 */
public final class SafeTensors implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long MAX_HEADER = 100L << 20;

    private final Path file;
    private final Arena arena;
    private final boolean ownsArena;
    private final Map<String, TensorView> tensors;

    private SafeTensors(Path file, Arena arena, boolean ownsArena, Map<String, TensorView> tensors) {
        this.file = file;
        this.arena = arena;
        this.ownsArena = ownsArena;
        this.tensors = tensors;
    }

    public static SafeTensors open(Path file) throws IOException {
        Arena arena = Arena.ofShared();
        try {
            return open(file, arena, true);
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** Maps {@code file} into {@code arena}, which the caller keeps open as long as the views are used. */
    public static SafeTensors open(Path file, Arena arena) throws IOException {
        return open(file, arena, false);
    }

    private static SafeTensors open(Path file, Arena arena, boolean ownsArena) throws IOException {
        MemorySegment all;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            all = ch.size() == 0 ? MemorySegment.NULL : ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
        } catch (NoSuchFileException e) {
            throw new CheckpointException("safetensors file not found: " + file);
        }
        long size = all.byteSize();
        if (size < 8) throw new CheckpointException(file + ": truncated safetensors file (" + size + " bytes, no header)");
        long headerLen = all.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (headerLen <= 0 || headerLen > MAX_HEADER || 8 + headerLen > size) {
            throw new CheckpointException(file + ": corrupt safetensors header (header length " + headerLen
                    + ", file size " + size + ")");
        }
        byte[] headerBytes = all.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE);
        JsonNode header;
        try {
            header = JSON.readTree(new String(headerBytes, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new CheckpointException(file + ": corrupt safetensors header (not JSON: " + e.getMessage() + ")");
        }
        if (header == null || !header.isObject()) throw new CheckpointException(file + ": corrupt safetensors header (not a JSON object)");
        long dataStart = 8 + headerLen;
        long dataSize = size - dataStart;
        Map<String, TensorView> views = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
            var e = it.next();
            if (e.getKey().equals("__metadata__")) continue;
            String name = e.getKey();
            JsonNode t = e.getValue();
            String where = file.getFileName() + " tensor " + name;
            if (!t.path("dtype").isTextual() || !t.path("shape").isArray() || t.path("data_offsets").size() != 2) {
                throw new CheckpointException(file + ": corrupt safetensors header entry for tensor " + name);
            }
            DType dtype = DType.parse(t.get("dtype").asText(), where);
            long[] shape = new long[t.get("shape").size()];
            long numel = 1;
            for (int i = 0; i < shape.length; i++) {
                shape[i] = t.get("shape").get(i).asLong();
                numel *= shape[i];
            }
            long begin = t.get("data_offsets").get(0).asLong();
            long end = t.get("data_offsets").get(1).asLong();
            if (end - begin != numel * dtype.bytes || begin < 0) {
                throw new CheckpointException(where + ": data_offsets [" + begin + ", " + end + ") do not match shape and dtype");
            }
            if (end > dataSize) {
                throw new CheckpointException(file + ": truncated: tensor " + name + " ends at byte " + (dataStart + end)
                        + " but the file has " + size + " bytes");
            }
            views.put(name, new TensorView(name, dtype, shape, all.asSlice(dataStart + begin, end - begin)));
        }
        return new SafeTensors(file, arena, ownsArena, Collections.unmodifiableMap(views));
    }

    public Path file() {
        return file;
    }

    public Map<String, TensorView> tensors() {
        return tensors;
    }

    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    public TensorView tensor(String name) {
        TensorView v = tensors.get(name);
        if (v == null) throw new CheckpointException(file + ": missing tensor " + name);
        return v;
    }

    @Override
    public void close() {
        if (ownsArena) arena.close();
    }
}
