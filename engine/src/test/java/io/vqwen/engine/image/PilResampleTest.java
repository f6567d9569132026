package io.vqwen.engine.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/** Pillow's bicubic {@code Image.resize}, compared byte for byte with what Pillow 12.3 produced. */
class PilResampleTest {

    @ParameterizedTest(name = "{0} {1}x{2} -> {3}x{4}")
    @CsvSource({
            // noise, the hardest input for a resampler: a mixed down/up scale each way, a strong horizontal
            // downscale with a vertical upscale, the identity, and a 12x downscale
            "rgb_61x43.png, 61, 43, 17, 29",
            "rgb_61x43.png, 61, 43, 200, 7",
            "rgb_61x43.png, 61, 43, 61, 43",
            "rgb_61x43.png, 61, 43, 5, 4",
            "rgb_90x60.png, 90, 60, 37, 23",   // smooth content, downscale by 2.4
            "rgb_7x5.png, 7, 5, 19, 11",       // upscale by 2.7 / 2.2
    })
    void bicubicMatchesPillowExactly(String name, int w, int h, int outW, int outH) {
        byte[] src = ImageFixtures.expectedRgb(name);
        byte[] expected = ImageFixtures.expectedResize(name, outW, outH);
        assertNotNull(expected, "fixture has no " + outW + "x" + outH + " resize of " + name);
        byte[] actual = PilResample.resize(src, w, h, 3, outW, outH, PilResample.BICUBIC);
        assertEquals(expected.length, actual.length);
        int differing = 0;
        int maxDiff = 0;
        for (int i = 0; i < expected.length; i++) {
            int d = Math.abs((expected[i] & 0xFF) - (actual[i] & 0xFF));
            if (d != 0) {
                differing++;
                maxDiff = Math.max(maxDiff, d);
            }
        }
        assertEquals(0, differing, differing + " of " + expected.length + " samples differ from Pillow, by up to "
                + maxDiff + " levels");
    }

    @Test
    void onePixelUpscalesToAConstantImage() {
        byte[] out = PilResample.resize(new byte[] {(byte) 200, 30, 90}, 1, 1, 3, 5, 3, PilResample.BICUBIC);
        for (int i = 0; i < 15; i += 3) {
            assertArrayEquals(new byte[] {(byte) 200, 30, 90}, new byte[] {out[i], out[i + 1], out[i + 2]});
        }
    }

    @Test
    void refusesUnknownFiltersAndBadSizes() {
        byte[] px = new byte[3];
        assertThrows(IllegalArgumentException.class, () -> PilResample.resize(px, 1, 1, 3, 2, 2, 7));
        assertThrows(IllegalArgumentException.class, () -> PilResample.resize(px, 1, 1, 3, 0, 2, 3));
        assertThrows(IllegalArgumentException.class, () -> PilResample.resize(px, 2, 1, 3, 2, 2, 3));
    }
}
