package io.vqwen.engine.hub;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The report names exactly what keeps a checkpoint from loading. */
class CheckpointReportTest {

    @TempDir
    Path dir;

    void copyFixture() throws IOException {
        try (Stream<Path> files = Files.list(FakeHub.fixture())) {
            for (Path f : files.toList()) {
                Files.copy(f, dir.resolve(f.getFileName()));
            }
        }
    }

    @Test
    void theBundledFixtureIsComplete() {
        CheckpointReport report = CheckpointReport.of(FakeHub.fixture());
        assertTrue(report.complete(), report.describe());
    }

    @Test
    void missingConfigTokenizerAndShardAreNamed() throws IOException {
        copyFixture();
        Files.delete(dir.resolve("config.json"));
        Files.delete(dir.resolve("tokenizer.json.xz"));
        Files.delete(dir.resolve("model-00002-of-00002.safetensors"));

        CheckpointReport report = CheckpointReport.of(dir);
        assertEquals(List.of("config.json", "tokenizer.json",
                "model-00002-of-00002.safetensors (listed by model.safetensors.index.json)"), report.missing());
        assertTrue(report.damaged().isEmpty(), report.damaged().toString());
        assertFalse(report.complete());
    }

    @Test
    void aTruncatedShardIsDamaged() throws IOException {
        copyFixture();
        Path shard = dir.resolve("model-00001-of-00002.safetensors");
        byte[] bytes = Files.readAllBytes(shard);
        Files.write(shard, java.util.Arrays.copyOf(bytes, bytes.length - 4096));

        CheckpointReport report = CheckpointReport.of(dir);
        assertEquals(List.of("model-00001-of-00002.safetensors: " + (bytes.length - 4096) + " bytes but its header describes "
                + bytes.length + " (truncated)"), report.damaged());
    }

    @Test
    void aShardLackingATensorTheIndexPlacesThereIsDamaged() throws IOException {
        copyFixture();
        // Swap the shards' names: the index then looks for each tensor in the wrong file.
        Path a = dir.resolve("model-00001-of-00002.safetensors");
        Path b = dir.resolve("model-00002-of-00002.safetensors");
        Path tmp = dir.resolve("tmp");
        Files.move(a, tmp);
        Files.move(b, a);
        Files.move(tmp, b);

        CheckpointReport report = CheckpointReport.of(dir);
        assertEquals(2, report.damaged().size(), report.describe());
        assertTrue(report.damaged().getFirst().startsWith("model-00001-of-00002.safetensors: lacks tensor(s) "), report.describe());
    }

    @Test
    void aConfigTheEnginesLoaderRejectsIsReported() throws IOException {
        copyFixture();
        Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"bert\"}");

        CheckpointReport report = CheckpointReport.of(dir);
        assertTrue(report.missing().isEmpty());
        assertEquals(1, report.damaged().size(), report.describe());
        assertTrue(report.damaged().getFirst().startsWith("the engine's loader refuses it: "), report.describe());
    }

    @Test
    void anEmptyDirectoryLacksEverything() {
        assertEquals(List.of("config.json", "tokenizer.json", "model.safetensors.index.json or model.safetensors"),
                CheckpointReport.of(dir).missing());
    }
}
