package io.vqwen.engine.safetensors;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vqwen.engine.Fixture;
import io.vqwen.engine.cpu.CpuBackend;
import io.vqwen.engine.model.Checkpoint;
import io.vqwen.engine.model.Qwen3Model;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Broken checkpoints are refused with a message naming the file or tensor at fault. */
class LoaderRejectsTest {
    @TempDir
    Path tmp;

    Path copyOfFixture() throws IOException {
        Path src = Fixture.tiny().dir(), dst = tmp.resolve("model");
        Files.createDirectories(dst);
        try (Stream<Path> s = Files.list(src)) {
            for (Path p : s.toList()) if (!p.getFileName().toString().startsWith("golden")) Files.copy(p, dst.resolve(p.getFileName()));
        }
        return dst;
    }

    static String message(Class<? extends Throwable> type, org.junit.jupiter.api.function.Executable e) {
        return assertThrows(type, e).getMessage();
    }

    @Test
    void unknownModelDirectory() {
        String m = message(IllegalArgumentException.class, () -> Checkpoint.open(tmp.resolve("nope")));
        assertTrue(m.contains("model directory not found") && m.contains("nope"), m);
    }

    @Test
    void missingShard() throws IOException {
        Path d = copyOfFixture();
        Files.delete(d.resolve("model-00002-of-00002.safetensors"));
        String m = message(CheckpointException.class, () -> Checkpoint.open(d));
        assertTrue(m.contains("missing shard model-00002-of-00002.safetensors"), m);
    }

    @Test
    void truncatedShard() throws IOException {
        Path d = copyOfFixture();
        Path shard = d.resolve("model-00001-of-00002.safetensors");
        byte[] all = Files.readAllBytes(shard);
        Files.write(shard, java.util.Arrays.copyOf(all, all.length / 2));
        String m = message(CheckpointException.class, () -> Checkpoint.open(d));
        assertTrue(m.contains("model-00001-of-00002.safetensors") && m.contains("truncated"), m);
    }

    @Test
    void corruptHeader() throws IOException {
        Path d = copyOfFixture();
        Path shard = d.resolve("model-00002-of-00002.safetensors");
        byte[] all = Files.readAllBytes(shard);
        all[12] = '#';
        Files.write(shard, all);
        String m = message(CheckpointException.class, () -> Checkpoint.open(d));
        assertTrue(m.contains("model-00002-of-00002.safetensors") && m.contains("corrupt safetensors header"), m);
    }

    @Test
    void missingTensor() throws IOException {
        Path d = copyOfFixture();
        writeSingle(d, "language_model.model.norm.weight", "BF16", new long[] {32}, 2);
        String m = message(CheckpointException.class, () -> new Qwen3Model(new CpuBackend(1), Checkpoint.open(d)));
        assertTrue(m.contains("missing tensor text.embed_tokens.weight"), m);
    }

    @Test
    void wrongShape() throws IOException {
        Path d = copyOfFixture();
        writeSingle(d, "language_model.model.embed_tokens.weight", "BF16", new long[] {151936, 16}, 2);
        String m = message(CheckpointException.class, () -> new Qwen3Model(new CpuBackend(1), Checkpoint.open(d)));
        assertTrue(m.contains("embed_tokens.weight") && m.contains("expected shape [151936, 32]") && m.contains("[151936, 16]"), m);
    }

    @Test
    void unsupportedDtype() throws IOException {
        Path d = copyOfFixture();
        writeSingle(d, "language_model.model.norm.weight", "F8_E4M3", new long[] {32}, 1);
        String m = message(CheckpointException.class, () -> Checkpoint.open(d));
        assertTrue(m.contains("unsupported dtype F8_E4M3") && m.contains("language_model.model.norm.weight"), m);
    }

    /** Replaces the checkpoint by a single model.safetensors with one tensor. */
    static void writeSingle(Path d, String name, String dtype, long[] shape, int elemBytes) throws IOException {
        Files.delete(d.resolve("model.safetensors.index.json"));
        Files.delete(d.resolve("model-00001-of-00002.safetensors"));
        Files.delete(d.resolve("model-00002-of-00002.safetensors"));
        long numel = 1;
        for (long s : shape) numel *= s;
        String header = "{\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + java.util.Arrays.toString(shape).replace(" ", "")
                + ",\"data_offsets\":[0," + numel * elemBytes + "]}}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer buf = ByteBuffer.allocate((int) (8 + h.length + numel * elemBytes)).order(ByteOrder.LITTLE_ENDIAN);
        buf.putLong(h.length).put(h);
        Files.write(d.resolve("model.safetensors"), buf.array());
    }
}
