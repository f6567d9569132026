package io.vqwen.engine.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vqwen.engine.safetensors.SafeTensors;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

/** The whole processor against transformers 5.17's CLIPImageProcessor (PIL backend). */
class ClipImageProcessorTest {
    private static final Path MODEL = ImageFixtures.tinyLlava();

    private static ClipImageProcessor realProcessor() throws IOException {
        return new ClipImageProcessor(ImageProcessorConfig.load(MODEL), ImageDecoder.DEFAULT_MAX_PIXELS);
    }

    private record Diff(double max, double mean) {
    }

    private static Diff diff(float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length, "pixel_values length");
        double max = 0;
        double sum = 0;
        for (int i = 0; i < expected.length; i++) {
            double d = Math.abs(expected[i] - actual[i]);
            max = Math.max(max, d);
            sum += d;
        }
        return new Diff(max, sum / expected.length);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({
            "image.png,  pixel_values,        0.02",
            "image2.png, image2_pixel_values, 0.02",
            // JPEG: Pillow decodes with libjpeg-turbo, we with the JDK's libjpeg; the README allows a few levels
            "image3.jpg, image3_pixel_values, 0.06",
    })
    void matchesTheGoldenPixelValues(String file, String tensor, double tolerance) throws IOException {
        float[] expected;
        try (SafeTensors st = SafeTensors.open(MODEL.resolve("golden.safetensors"))) {
            expected = st.tensor(tensor).toFloatArray(); // (1, 3, 336, 336)
        }
        float[] actual = realProcessor().preprocess(Files.readAllBytes(MODEL.resolve(file)));
        assertEquals(3 * 336 * 336, actual.length);
        Diff d = diff(expected, actual);
        System.out.printf(Locale.ROOT, "golden %-10s max abs diff %.3g, mean %.3g%n", file, d.max(), d.mean());
        assertTrue(d.max() <= tolerance, file + ": max abs diff " + d.max() + " > " + tolerance);
    }

    @Test
    void pngGoldensAreReproducedToTheBit() throws IOException {
        // PIL-exact resize + float32 arithmetic in numpy's order: not merely within tolerance, equal
        try (SafeTensors st = SafeTensors.open(MODEL.resolve("golden.safetensors"))) {
            ClipImageProcessor p = realProcessor();
            assertArrayEquals(st.tensor("pixel_values").toFloatArray(),
                    p.preprocess(Files.readAllBytes(MODEL.resolve("image.png"))));
            assertArrayEquals(st.tensor("image2_pixel_values").toFloatArray(),
                    p.preprocess(Files.readAllBytes(MODEL.resolve("image2.png"))));
        }
    }

    static List<Arguments> fixtureCases() {
        List<Arguments> cases = new ArrayList<>();
        for (String image : ImageFixtures.imageNames()) {
            for (String config : ImageFixtures.configNames(image)) {
                cases.add(Arguments.of(image, config));
            }
        }
        return cases;
    }

    @ParameterizedTest(name = "{0} with settings {1}")
    @MethodSource("fixtureCases")
    void matchesTransformersOnEveryFixture(String image, String configName) {
        ImageProcessorConfig config = ImageFixtures.config(configName);
        float[] expected = ImageFixtures.expectedPixelValues(image, configName);
        ClipImageProcessor p = new ClipImageProcessor(config, ImageDecoder.DEFAULT_MAX_PIXELS);
        float[] actual = p.preprocess(ImageFixtures.bytes(image));
        assertEquals(3 * config.cropHeight() * config.cropWidth(), actual.length);
        Diff d = diff(expected, actual);
        // one 8-bit level is 1/255/std <= 0.0151; JPEG may differ by a level or two (it does not, here), lossy
        // WebP by its chroma upsampling (see ImageDecoderTest), lossless formats not at all
        double levels = image.endsWith(".jpg") ? 2 : image.contains("lossy") ? 20 : 0;
        double tolerance = levels * 0.0151 + 1e-6;
        System.out.printf(Locale.ROOT, "%-26s %-8s max abs diff %.3g, mean %.3g%n", image, configName, d.max(),
                d.mean());
        assertTrue(d.max() <= tolerance, image + "/" + configName + ": max abs diff " + d.max() + " > " + tolerance);
    }

    @Test
    void onePixelImageBecomesAUniformCrop() throws IOException {
        float[] pv = realProcessor().preprocess(ImageFixtures.bytes("rgb_1x1.png"));
        float[] ref = ImageFixtures.expectedPixelValues("rgb_1x1.png", "REAL");
        assertArrayEquals(ref, pv);
        int plane = 336 * 336;
        for (int c = 0; c < 3; c++) {
            for (int i = 0; i < plane; i++) {
                assertEquals(pv[c * plane], pv[c * plane + i]);
            }
        }
    }

    @Test
    void alreadyDecodedImagesTakeTheSamePath() throws IOException {
        ClipImageProcessor p = realProcessor();
        byte[] png = Files.readAllBytes(MODEL.resolve("image2.png"));
        BufferedImage decoded = ImageDecoder.decode(png).toBufferedImage();
        assertArrayEquals(p.preprocess(png), p.preprocess(decoded));
    }

    @Test
    void grayBufferedImagesAreReadRawNotColourManaged() throws IOException {
        // Java 2D's getRGB maps 8-bit gray 100 to 155 (linear-to-sRGB); PIL's L -> RGB keeps 100
        BufferedImage gray = new BufferedImage(4, 4, BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < 4; y++) {
            for (int x = 0; x < 4; x++) {
                gray.getRaster().setSample(x, y, 0, 100);
            }
        }
        ImageProcessorConfig cfg = ImageProcessorConfig.load(MODEL);
        float[] pv = new ClipImageProcessor(cfg, ImageDecoder.DEFAULT_MAX_PIXELS).preprocess(gray);
        float[] mean = cfg.imageMean();
        float[] std = cfg.imageStd();
        int plane = 336 * 336;
        for (int c = 0; c < 3; c++) {
            float want = ((float) (100 * cfg.rescaleFactor()) - mean[c]) / std[c];
            assertEquals(want, pv[c * plane + plane / 2], 0f, "channel " + c);
        }
    }

    @Test
    void resizeOutputSizeTruncatesTheLongSideLikeTransformers() {
        assertArrayEquals(new int[] {336, 448}, ClipImageProcessor.resizeOutputSize(480, 640, 336));
        assertArrayEquals(new int[] {480, 336}, ClipImageProcessor.resizeOutputSize(600, 420, 336));
        // int(336 * 1001 / 1000) = int(336.336) = 336
        assertArrayEquals(new int[] {336, 336}, ClipImageProcessor.resizeOutputSize(1000, 1001, 336));
        assertArrayEquals(new int[] {336, 336}, ClipImageProcessor.resizeOutputSize(1, 1, 336));
    }

    @Test
    void stripsThatWouldResizeBeyondTheLimitAreRefused() {
        DecodedImage strip = new DecodedImage(20_000, 1, new byte[60_000]);
        ClipImageProcessor p = new ClipImageProcessor(ImageProcessorConfig.clipDefaults(), 40_000_000);
        var e = assertThrows(ImageException.class, () -> p.process(strip));
        assertTrue(e.getMessage().contains("4480000x224"), e.getMessage());
    }

    @Test
    void loadsTheCheckpointsProcessorConfig() throws IOException {
        ImageProcessorConfig c = ImageProcessorConfig.load(MODEL);
        assertEquals(336, c.shortestEdge());
        assertEquals(336, c.cropHeight());
        assertEquals(336, c.cropWidth());
        assertEquals(PilResample.BICUBIC, c.resample());
        assertEquals(1 / 255.0, c.rescaleFactor(), 1e-15);
        assertArrayEquals(ImageProcessorConfig.OPENAI_CLIP_MEAN, c.imageMean());
        assertArrayEquals(ImageProcessorConfig.OPENAI_CLIP_STD, c.imageStd());
        assertTrue(c.doResize() && c.doCenterCrop() && c.doRescale() && c.doNormalize() && c.doConvertRgb());
    }

    @Test
    void loadsAnOlderPreprocessorConfigWithIntegerSizesAndDefaults(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("preprocessor_config.json"),
                "{\"size\": 256, \"crop_size\": 240, \"resample\": 2, \"image_mean\": 0.5}");
        ImageProcessorConfig c = ImageProcessorConfig.load(dir);
        assertEquals(256, c.shortestEdge());
        assertEquals(240, c.cropHeight());
        assertEquals(240, c.cropWidth());
        assertEquals(PilResample.BILINEAR, c.resample());
        assertArrayEquals(new float[] {0.5f, 0.5f, 0.5f}, c.imageMean());
        assertArrayEquals(ImageProcessorConfig.OPENAI_CLIP_STD, c.imageStd()); // HF default
    }

    @Test
    void refusesSettingsItDoesNotImplement(@TempDir Path dir) throws IOException {
        var missing = assertThrows(IOException.class, () -> ImageProcessorConfig.load(dir));
        assertTrue(missing.getMessage().contains("preprocessor_config.json"), missing.getMessage());
        Files.writeString(dir.resolve("preprocessor_config.json"), "{\"size\": {\"height\": 224, \"width\": 224}}");
        var e = assertThrows(IOException.class, () -> ImageProcessorConfig.load(dir));
        assertTrue(e.getMessage().contains("shortest_edge"), e.getMessage());
    }
}
