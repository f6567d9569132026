package io.vqwen.gateway.mesh;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vqwen.cli.mesh.MeshLayout;
import io.vqwen.engine.safetensors.SafeTensors;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import javax.imageio.ImageIO;

/**
 * The bundled fixture (testdata/tiny-llava) and its transformers goldens, and the check of an answer against them
 * with the fixture README's float32 tolerances: per-step top log-probabilities ({@code value - logsumexp}) within
 * 1e-4; top ids identical, except that two ids whose reference values lie within 1e-4 of each other may swap.
 */
public final class Goldens {
    public static final Path MODEL = MeshLayout.findRepo().resolve("testdata/tiny-llava");
    public static final double TOL = 1e-4;

    /** A golden greedy run: ids, text (null for the text prompt, whose text golden.json does not hold), top-32 per step. */
    public record Run(String name, int[] ids, String text, float[][] topLogprobs, int[][] topIds) {
    }

    private Goldens() {
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
        return dataUrl(bytes(file), file.endsWith(".jpg") ? "image/jpeg" : "image/png");
    }

    public static String dataUrl(byte[] image, String mime) {
        return "data:" + mime + ";base64," + Base64.getEncoder().encodeToString(image);
    }

    /** A PNG no other test uses (a gradient seeded by {@code seed}), so its first request is an embedding-cache miss. */
    public static byte[] freshPng(int seed) {
        BufferedImage img = new BufferedImage(96, 80, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < img.getHeight(); y++) {
            for (int x = 0; x < img.getWidth(); x++) img.setRGB(x, y, ((x * 2 + seed) & 0xff) << 16 | ((y * 3) & 0xff) << 8 | (seed * 37 & 0xff));
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            ImageIO.write(img, "png", out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
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
                default -> null;
            };
            return new Run(which, ids, text, lp, ti);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Asserts ids, logprobs and top-{@code topK} alternatives against the run; returns the largest deviation seen. */
    public static double assertMatches(Run g, GatewayApi.Answer a, int topK) {
        assertEquals(200, a.status(), () -> g.name() + ": error " + a.error());
        assertArrayEquals(g.ids(), a.tokenIds(), g.name() + ": generated ids");
        double worst = 0;
        for (int step = 0; step < g.ids().length; step++) {
            JsonNode item = a.logprobs().get(step);
            // Greedy: the sampled token is the reference top-1.
            worst = Math.max(worst, check(g, step, 0, item.get("logprob").asDouble(), g.ids()[step]));
            JsonNode top = item.get("top_logprobs");
            assertEquals(topK, top.size(), g.name() + " step " + step + ": top_logprobs count");
            for (int k = 0; k < topK; k++) {
                JsonNode t = top.get(k);
                worst = Math.max(worst, check(g, step, k, t.get("logprob").asDouble(), GatewayApi.tokenId(t.get("token").asText())));
            }
        }
        return worst;
    }

    private static double check(Run g, int step, int rank, double logprob, int id) {
        double ref = g.topLogprobs()[step][rank];
        double dev = Math.abs(logprob - ref);
        assertTrue(dev <= TOL, g.name() + " step " + step + " rank " + rank + ": logprob " + logprob + " vs reference " + ref);
        int refId = g.topIds()[step][rank];
        if (id != refId) {
            int j = indexOf(g.topIds()[step], id);
            assertTrue(j >= 0 && Math.abs(g.topLogprobs()[step][j] - ref) <= TOL, g.name() + " step " + step + " rank " + rank
                    + ": id " + id + " where the reference has " + refId + ", and they are not a near-tie");
        }
        return dev;
    }

    private static int indexOf(int[] a, int v) {
        for (int i = 0; i < a.length; i++) if (a[i] == v) return i;
        return -1;
    }
}
