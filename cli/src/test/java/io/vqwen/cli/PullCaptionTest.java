package io.vqwen.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code vqwen caption --model org/name} finds the model in the Hugging Face cache and captions exactly as with the
 * checkpoint directory. Run as a separate JVM because the cache location comes from the environment.
 */
class PullCaptionTest {

    @TempDir
    Path tmp;

    @Test
    void captionFromAHubIdInTheCacheEqualsCaptionFromTheDirectory() throws Exception {
        Path cache = PullFixtures.handMadeCache(tmp.resolve("hf-cache"));
        Path image = PullFixtures.fixture().resolve("image.png");
        // A dead endpoint: a complete cached model must be used without asking the Hub anything.
        Map<String, String> env = Map.of("HF_HUB_CACHE", cache.toString(), "HF_ENDPOINT", "http://127.0.0.1:9");

        String fromDirectory = caption(env, PullFixtures.fixture().toString(), image);
        String fromHubId = caption(env, "org/name", image);

        assertFalse(fromDirectory.isBlank(), "the directory run printed a caption");
        assertEquals(fromDirectory, fromHubId);
    }

    private String caption(Map<String, String> env, String model, Path image) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), Main.class.getName(),
                "caption", "--model", model, "--image", image.toString(), "--max-tokens", "12"));
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().keySet().removeIf(k -> k.startsWith("HF_") || k.startsWith("HUGGINGFACE_"));
        pb.environment().putAll(env);
        Path err = Files.createTempFile(tmp, "stderr", ".txt");
        pb.redirectError(err.toFile());
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(180, TimeUnit.SECONDS), "caption finished");
        assertEquals(0, p.exitValue(), "caption --model " + model + " failed: " + Files.readString(err));
        return new String(out, StandardCharsets.UTF_8);
    }
}
