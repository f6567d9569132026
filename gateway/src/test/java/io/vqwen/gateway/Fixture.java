package io.vqwen.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vqwen.engine.safetensors.SafeTensors;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;

/** The bundled tiny-llava fixture and its transformers goldens (see testdata/tiny-llava and the fixture README). */
public final class Fixture {
    public static final Path ROOT = repoRoot();
    public static final Path MODEL = ROOT.resolve("testdata/tiny-llava");

    /** Golden greedy run of one prompt: ids, text, and per-step top-32 log-probabilities. */
    public record Run(String name, int[] ids, String text, float[][] topLogprobs, int[][] topIds) {
    }

    private Fixture() {
    }

    private static Path repoRoot() {
        String p = System.getProperty("vqwen.repo.root");
        Path root = p != null ? Path.of(p) : Path.of("").toAbsolutePath().getParent();
        if (!Files.isDirectory(root.resolve("testdata/tiny-llava"))) root = Path.of("").toAbsolutePath();
        return root.toAbsolutePath().normalize();
    }

    public static JsonNode goldenJson() {
        try {
            return new ObjectMapper().readTree(MODEL.resolve("golden.json").toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static byte[] bytes(String file) {
        try {
            return Files.readAllBytes(MODEL.resolve(file));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static String dataUrl(String file) {
        return "data:image/" + (file.endsWith(".jpg") ? "jpeg" : "png") + ";base64," + Base64.getEncoder().encodeToString(bytes(file));
    }

    /** "image" (image.png), "image2" (image2.png) or "text" (the text-only prompt). */
    public static Run golden(String which) {
        String prefix = switch (which) {
            case "image" -> "";
            case "image2" -> "image2_";
            case "text" -> "text_";
            default -> throw new IllegalArgumentException(which);
        };
        JsonNode g = goldenJson();
        try (SafeTensors st = SafeTensors.open(MODEL.resolve("golden.safetensors"))) {
            int[] ids = st.tensor(prefix + "generated_ids").toIntArray();
            float[] values = st.tensor(prefix + "step_topk_values").toFloatArray();
            int[] topIds = st.tensor(prefix + "step_topk_ids").toIntArray();
            float[] lse = st.tensor(prefix + "step_logsumexp").toFloatArray();
            int steps = ids.length, k = values.length / steps;
            float[][] lp = new float[steps][k];
            int[][] ti = new int[steps][k];
            for (int s = 0; s < steps; s++) {
                for (int j = 0; j < k; j++) {
                    lp[s][j] = values[s * k + j] - lse[s];
                    ti[s][j] = topIds[s * k + j];
                }
            }
            String text = switch (which) {
                case "image" -> g.get("generated_text").asText();
                case "image2" -> g.get("image2_generated_text").asText();
                default -> null; // golden.json has no text for the text prompt: compare ids
            };
            return new Run(which, ids, text, lp, ti);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
