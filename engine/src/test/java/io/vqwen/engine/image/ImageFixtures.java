package io.vqwen.engine.image;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;

/**
 * The images in src/test/resources/images and what Pillow 12.3 / transformers 5.17 made of them (written by
 * make_fixtures.py there, on a machine with the reference installed), plus the bundled tiny-llava checkpoint.
 */
final class ImageFixtures {
    private static final Path DIR = resourceDir();
    private static final JsonNode INDEX = readIndex();

    private ImageFixtures() {
    }

    static Path dir() {
        return DIR;
    }

    static List<String> imageNames() {
        List<String> names = new ArrayList<>();
        INDEX.get("images").fieldNames().forEachRemaining(names::add);
        return names;
    }

    static JsonNode image(String name) {
        JsonNode n = INDEX.get("images").get(name);
        if (n == null) {
            throw new IllegalArgumentException("no fixture " + name);
        }
        return n;
    }

    static byte[] bytes(String name) {
        try {
            return Files.readAllBytes(DIR.resolve(name));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** PIL's load_image(name) as (h, w, 3) uint8. */
    static byte[] expectedRgb(String name) {
        return gunzip(image(name).get("rgb").asText());
    }

    /** Image.resize((w, h), BICUBIC) of the RGB image, or null when the fixture has none of that size. */
    static byte[] expectedResize(String name, int w, int h) {
        JsonNode f = image(name).get("resize").get(w + "x" + h);
        return f == null ? null : gunzip(f.asText());
    }

    /** The processor's pixel_values[0] under the named settings (see configs in expected.json). */
    static float[] expectedPixelValues(String name, String config) {
        JsonNode f = image(name).get("pv").get(config);
        if (f == null) {
            return null;
        }
        byte[] raw = gunzip(f.asText());
        float[] out = new float[raw.length / 4];
        ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
        return out;
    }

    static ImageProcessorConfig config(String name) {
        JsonNode c = INDEX.get("configs").get(name);
        float[] mean = new float[3];
        float[] std = new float[3];
        for (int i = 0; i < 3; i++) {
            mean[i] = (float) c.get("image_mean").get(i).asDouble();
            std[i] = (float) c.get("image_std").get(i).asDouble();
        }
        return new ImageProcessorConfig(c.get("shortest_edge").asInt(), c.get("crop_height").asInt(),
                c.get("crop_width").asInt(), true, true, true, c.get("rescale_factor").asDouble(), true, mean, std,
                c.get("resample").asInt(), true);
    }

    static List<String> configNames(String image) {
        List<String> names = new ArrayList<>();
        image(image).get("pv").fieldNames().forEachRemaining(names::add);
        return names;
    }

    /** testdata/tiny-llava, found by walking up from the working directory. */
    static Path tinyLlava() {
        Path p = Path.of("").toAbsolutePath();
        while (p != null && !Files.isDirectory(p.resolve("testdata/tiny-llava"))) {
            p = p.getParent();
        }
        if (p == null) {
            throw new IllegalStateException("testdata/tiny-llava not found above " + Path.of("").toAbsolutePath());
        }
        return p.resolve("testdata/tiny-llava");
    }

    private static byte[] gunzip(String file) {
        try (InputStream in = new GZIPInputStream(Files.newInputStream(DIR.resolve(file)))) {
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Path resourceDir() {
        try {
            var url = ImageFixtures.class.getResource("/images/expected.json");
            if (url == null) {
                throw new IllegalStateException("images/expected.json is not on the test class path");
            }
            return Path.of(url.toURI()).getParent();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    private static JsonNode readIndex() {
        try {
            return new ObjectMapper().readTree(DIR.resolve("expected.json").toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
