package io.vqwen.service;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.vqwen.proto.v1.DType;
import io.vqwen.proto.v1.Tensor;
import java.util.Random;
import org.junit.jupiter.api.Test;

class TensorCodecTest {
    @Test
    void f32RoundTripIsExactAndFullSizeEmbeddingsAre5_9MB() {
        int rows = 576, cols = 2560; // one image's embeddings for a Qwen3-4B decoder
        float[] x = random(rows * cols, 1);
        Tensor t = TensorCodec.encode(x, rows, cols, DType.F32);
        assertEquals(5_898_240, t.getData().size());
        assertEquals(java.util.List.of(576L, 2560L), t.getShapeList());
        assertArrayEquals(x, TensorCodec.decode(t, "embeddings", 2560));
    }

    @Test
    void bf16HalvesTheBytesAndRoundsToNearestEven() {
        float[] x = random(576 * 2560, 2);
        Tensor t = TensorCodec.encode(x, 576, 2560, DType.BF16);
        assertEquals(2_949_120, t.getData().size());
        float[] y = TensorCodec.decode(t, "embeddings", 2560);
        for (int i = 0; i < x.length; i++) {
            // bf16 keeps 8 significant bits: rounding to nearest errs by at most half a unit, 2^-8 relative.
            assertTrue(Math.abs(y[i] - x[i]) <= Math.abs(x[i]) * 0x1p-8f, "element " + i + ": " + x[i] + " -> " + y[i]);
        }
        // Ties go to even, as torch's .to(torch.bfloat16): 1 + 2^-8 lies halfway between 1 and 1 + 2^-7.
        assertEquals(1.0f, TensorCodec.fromBf16(TensorCodec.toBf16(1f + 0x1p-8f)));
        assertEquals(1f + 0x1p-6f, TensorCodec.fromBf16(TensorCodec.toBf16(1f + 3 * 0x1p-8f)));
        assertTrue(Float.isNaN(TensorCodec.fromBf16(TensorCodec.toBf16(Float.NaN))));
        assertEquals(Float.POSITIVE_INFINITY, TensorCodec.fromBf16(TensorCodec.toBf16(Float.POSITIVE_INFINITY)));
    }

    @Test
    void unspecifiedDtypeMeansF32() {
        Tensor t = TensorCodec.encode(new float[] {1, 2, 3, 4, 5, 6}, 2, 3, DType.DTYPE_UNSPECIFIED);
        assertEquals(DType.F32, t.getDtype());
    }

    @Test
    void rejectionsNameTheTensorAndBothShapes() {
        Tensor good = TensorCodec.encode(new float[6], 2, 3, DType.F32);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TensorCodec.decode(good, "features", 64));
        assertEquals("features: expected shape (N, 64), got [2, 3]", e.getMessage());

        Tensor shortData = good.toBuilder().setData(ByteString.copyFrom(new byte[20])).build();
        e = assertThrows(IllegalArgumentException.class, () -> TensorCodec.decode(shortData, "features", 3));
        assertEquals("features: shape [2, 3] in F32 needs 24 bytes, got 20", e.getMessage());

        Tensor noDtype = good.toBuilder().setDtype(DType.DTYPE_UNSPECIFIED).build();
        e = assertThrows(IllegalArgumentException.class, () -> TensorCodec.decode(noDtype, "features", 3));
        assertEquals("features: dtype must be F32 or BF16, got DTYPE_UNSPECIFIED", e.getMessage());

        Tensor threeD = good.toBuilder().clearShape().addShape(1).addShape(2).addShape(3).build();
        e = assertThrows(IllegalArgumentException.class, () -> TensorCodec.decode(threeD, "features", 3));
        assertEquals("features: expected a 2-D tensor (rows, cols), got shape [1, 2, 3]", e.getMessage());

        Tensor empty = Tensor.getDefaultInstance().toBuilder().setDtype(DType.F32).addShape(0).addShape(3).build();
        e = assertThrows(IllegalArgumentException.class, () -> TensorCodec.decode(empty, "features", 3));
        assertEquals("features: shape [0, 3] has an empty or negative dimension", e.getMessage());
    }

    private static float[] random(int n, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) r.nextGaussian();
        return x;
    }
}
