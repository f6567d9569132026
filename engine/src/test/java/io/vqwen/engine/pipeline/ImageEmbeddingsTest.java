package io.vqwen.engine.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class ImageEmbeddingsTest {
    private final SplittableRandom rnd = new SplittableRandom(7);

    private float[] randn(int n) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) f[i] = (float) rnd.nextGaussian();
        return f;
    }

    @Test
    void bf16WidensExactlyAndRoundsToNearestEven() {
        for (int i = 0; i < 1 << 16; i++) {
            short h = (short) i;
            float f = Bf16.toFloat(h);
            if (!Float.isNaN(f)) assertEquals(h, Bf16.fromFloat(f), "bf16 -> f32 -> bf16 is the identity");
        }
        assertEquals((short) 0x3F80, Bf16.fromFloat(Float.intBitsToFloat(0x3F808000)), "a tie rounds to even (down)");
        assertEquals((short) 0x3F82, Bf16.fromFloat(Float.intBitsToFloat(0x3F818000)), "a tie rounds to even (up)");
        assertTrue(Float.isNaN(Bf16.toFloat(Bf16.fromFloat(Float.NaN))));
    }

    @Test
    void littleEndianBytesRoundTripInBothDtypes() {
        ImageEmbeddings f = ImageEmbeddings.f32(randn(6 * 5), 6, 5);
        ImageEmbeddings back = ImageEmbeddings.fromLittleEndian(ImageEmbeddings.Dtype.F32, f.littleEndian(), 6, 5);
        assertArrayEquals(f.toF32(), back.toF32());
        ImageEmbeddings b = f.as(ImageEmbeddings.Dtype.BF16);
        assertEquals(60, b.byteSize());
        ImageEmbeddings bBack = ImageEmbeddings.fromLittleEndian(ImageEmbeddings.Dtype.BF16, b.littleEndian(), 6, 5);
        assertArrayEquals(b.toBf16(), bBack.toBf16());
        assertArrayEquals(b.toF32(), bBack.as(ImageEmbeddings.Dtype.F32).toF32());
        assertThrows(IllegalArgumentException.class,
                () -> ImageEmbeddings.fromLittleEndian(ImageEmbeddings.Dtype.BF16, f.littleEndian(), 6, 5), "f32 bytes read as bf16");
    }

    @Test
    void gatherKeepsBf16OnlyWhenEverySourceIsBf16() {
        ImageEmbeddings a = ImageEmbeddings.f32(randn(3 * 4), 3, 4), b = ImageEmbeddings.f32(randn(2 * 4), 2, 4).as(ImageEmbeddings.Dtype.BF16);
        ImageEmbeddings mixed = ImageEmbeddings.gather(List.of(b, a), new int[] {1, 2});
        assertEquals(ImageEmbeddings.Dtype.F32, mixed.dtype());
        float[] m = mixed.toF32();
        for (int j = 0; j < 4; j++) {
            assertEquals(b.toF32()[4 + j], m[j]);
            assertEquals(a.toF32()[8 + j], m[4 + j]);
        }
        ImageEmbeddings both = ImageEmbeddings.concat(List.of(b, b));
        assertEquals(ImageEmbeddings.Dtype.BF16, both.dtype());
        assertEquals(4, both.rows());
        assertArrayEquals(b.toBf16(), both.slice(2, 2).toBf16());
    }
}
