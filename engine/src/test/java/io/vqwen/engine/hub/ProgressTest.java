package io.vqwen.engine.hub;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A terminal gets a bar per file and a total; a log gets plain lines without escape codes. */
class ProgressTest {

    @Test
    void onATerminalEachActiveFileHasABarAndTheTotalCountsDoneFiles() {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        Progress p = new Progress(new PrintStream(buf, true, StandardCharsets.UTF_8), true, 4_000_000, 2);
        Progress.Bar shard = p.start("model-00001-of-00002.safetensors", 3_000_000, 1_000_000);
        shard.advance(500_000);
        Progress.Bar config = p.start("config.json", 1_000_000, 0);
        config.advance(1_000_000);
        config.done("1.0 MB, git sha1 verified");
        p.close();

        String out = buf.toString(StandardCharsets.UTF_8);
        assertTrue(out.contains("\033[J"), "redrawn in place");
        assertTrue(out.contains("config.json: 1.0 MB, git sha1 verified\n"), out);
        assertTrue(out.matches("(?s).*model-00001-of-00002\\.safetensors\\s+\\[#{12}\\.{12}]  50% 1\\.5 MB/3\\.0 MB.*"), out);
        assertTrue(out.matches("(?s).*total\\s+\\[#{15}\\.{9}]  62% 2\\.5 MB/4\\.0 MB  1/2 files.*"), out);
    }

    @Test
    void inALogThereAreLinesAndNoEscapeCodes() {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        Progress p = new Progress(new PrintStream(buf, true, StandardCharsets.UTF_8), false, 3_000_000, 1);
        Progress.Bar shard = p.start("model.safetensors", 3_000_000, 1_000_000);
        shard.advance(2_000_000);
        shard.done("3.0 MB, sha256 verified");
        p.close();

        assertEquals("model.safetensors: resuming at 1.0 MB of 3.0 MB\nmodel.safetensors: 3.0 MB, sha256 verified\n",
                buf.toString(StandardCharsets.UTF_8));
        assertFalse(buf.toString(StandardCharsets.UTF_8).contains("\033"));
    }
}
