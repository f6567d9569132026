package io.vqwen.service;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import io.vqwen.engine.pipeline.Bf16;
import io.vqwen.engine.pipeline.ImageEmbeddings;
import io.vqwen.proto.v1.DType;
import io.vqwen.proto.v1.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;

/**
 * float[] (rows, cols) <-> proto {@link Tensor}: little-endian bytes + shape + dtype. BF16 halves the bytes (one
 * image's 576 x 2560 embeddings: 2.9 MB instead of 5.9 MB) at bf16 precision, which is what the GPU path computes in.
 */
public final class TensorCodec {
    private TensorCodec() {
    }

    /** A (rows, cols) row-major matrix as a Tensor of the given dtype (F32 when unspecified). */
    public static Tensor encode(float[] data, int rows, int cols, DType dtype) {
        if ((long) rows * cols != data.length) {
            throw new IllegalArgumentException("tensor of " + data.length + " values is not (" + rows + ", " + cols + ")");
        }
        DType d = dtype == DType.DTYPE_UNSPECIFIED || dtype == DType.UNRECOGNIZED ? DType.F32 : dtype;
        ByteBuffer buf = ByteBuffer.allocate(data.length * bytesPer(d)).order(ByteOrder.LITTLE_ENDIAN);
        if (d == DType.F32) {
            buf.asFloatBuffer().put(data);
        } else {
            ShortBuffer s = buf.asShortBuffer();
            for (float f : data) s.put(toBf16(f));
        }
        // The buffer is ours and never written again, so protobuf may keep it without a copy.
        ByteString bytes = UnsafeByteOperations.unsafeWrap(buf.array());
        return Tensor.newBuilder().setData(bytes).addShape(rows).addShape(cols).setDtype(d).build();
    }

    /**
     * The values of a 2-D tensor, checked against what the caller expects; {@code expectedCols} < 0 accepts any
     * width. Every rejection names the tensor and both shapes, for an INVALID_ARGUMENT the caller can act on.
     */
    public static float[] decode(Tensor t, String what, long expectedCols) {
        long numel = check(t, what, expectedCols);
        float[] out = new float[(int) numel];
        ByteBuffer buf = t.getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        if (t.getDtype() == DType.F32) {
            FloatBuffer f = buf.asFloatBuffer();
            f.get(out);
        } else {
            ShortBuffer s = buf.asShortBuffer();
            for (int i = 0; i < out.length; i++) out[i] = fromBf16(s.get(i));
        }
        return out;
    }

    /** A 2-D tensor as host embeddings in its own dtype (bf16 stays bf16), checked as {@link #decode} checks. */
    public static ImageEmbeddings decodeEmbeddings(Tensor t, String what, long expectedCols) {
        check(t, what, expectedCols);
        ImageEmbeddings.Dtype d = t.getDtype() == DType.F32 ? ImageEmbeddings.Dtype.F32 : ImageEmbeddings.Dtype.BF16;
        return ImageEmbeddings.fromLittleEndian(d, t.getData().asReadOnlyByteBuffer(), (int) t.getShape(0), (int) t.getShape(1));
    }

    /** Host embeddings as a Tensor in their own dtype; the bytes are wrapped, not copied again. */
    public static Tensor encode(ImageEmbeddings e) {
        DType d = e.dtype() == ImageEmbeddings.Dtype.F32 ? DType.F32 : DType.BF16;
        ByteString bytes = UnsafeByteOperations.unsafeWrap(e.littleEndian().array());
        return Tensor.newBuilder().setData(bytes).addShape(e.rows()).addShape(e.width()).setDtype(d).build();
    }

    /** Checks a 2-D tensor's dtype, shape and byte count; returns its element count. */
    private static long check(Tensor t, String what, long expectedCols) {
        if (t.getDtype() != DType.F32 && t.getDtype() != DType.BF16) {
            throw new IllegalArgumentException(what + ": dtype must be F32 or BF16, got " + t.getDtype());
        }
        if (t.getShapeCount() != 2) {
            throw new IllegalArgumentException(what + ": expected a 2-D tensor (rows, cols), got shape " + t.getShapeList());
        }
        long rows = t.getShape(0), cols = t.getShape(1);
        if (rows <= 0 || cols <= 0) {
            throw new IllegalArgumentException(what + ": shape " + t.getShapeList() + " has an empty or negative dimension");
        }
        if (expectedCols >= 0 && cols != expectedCols) {
            throw new IllegalArgumentException(what + ": expected shape (N, " + expectedCols + "), got " + t.getShapeList());
        }
        long numel = rows * cols;
        if (numel > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(what + ": shape " + t.getShapeList() + " is too large");
        }
        long want = numel * bytesPer(t.getDtype());
        if (t.getData().size() != want) {
            throw new IllegalArgumentException(what + ": shape " + t.getShapeList() + " in " + t.getDtype() + " needs " + want
                    + " bytes, got " + t.getData().size());
        }
        return numel;
    }

    /** Rows of a tensor already checked by {@link #decode}. */
    public static int rows(Tensor t) {
        return (int) t.getShape(0);
    }

    public static int bytesPer(DType d) {
        return switch (d) {
            case F32 -> 4;
            case BF16 -> 2;
            default -> throw new IllegalArgumentException("dtype must be F32 or BF16, got " + d);
        };
    }

    /** Round to nearest even, as torch's float -> bfloat16; NaN stays a (quiet) NaN. */
    static short toBf16(float f) {
        return Bf16.fromFloat(f);
    }

    static float fromBf16(short h) {
        return Bf16.toFloat(h);
    }
}
