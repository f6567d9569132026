package io.vqwen.engine.safetensors;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A read-only view of one tensor inside a memory-mapped safetensors file: no copy is made.
 * {@code data} is a slice of the shard's mmap, valid while its {@link SafeTensors} is open.
 */
public record TensorView(String name, DType dtype, long[] shape, MemorySegment data) {
    static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong LONG_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public long numel() {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }

    public int rows() {
        return shape.length == 0 ? 1 : (int) shape[0];
    }

    /** Elements per row: the product of all dimensions but the first. */
    public int cols() {
        return (int) (numel() / Math.max(1, rows()));
    }

    /** Element i as float32 (BF16/F16 widened exactly). */
    public float getFloat(long i) {
        return switch (dtype) {
            case BF16 -> Float.intBitsToFloat((data.get(SHORT_LE, i * 2) & 0xffff) << 16);
            case F16 -> Float.float16ToFloat(data.get(SHORT_LE, i * 2));
            case F32 -> data.get(FLOAT_LE, i * 4);
            case F64 -> (float) data.get(ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i * 8);
            default -> throw new CheckpointException(name + ": dtype " + dtype + " is not a float tensor");
        };
    }

    public float[] toFloatArray() {
        long n = numel();
        if (n > Integer.MAX_VALUE) throw new CheckpointException(name + ": too large for a float[] (" + n + " elements)");
        float[] out = new float[(int) n];
        if (dtype == DType.F32) {
            MemorySegment.copy(data, FLOAT_LE, 0, out, 0, out.length);
        } else {
            for (int i = 0; i < out.length; i++) out[i] = getFloat(i);
        }
        return out;
    }

    public long[] toLongArray() {
        long[] out = new long[(int) numel()];
        for (int i = 0; i < out.length; i++) {
            out[i] = switch (dtype) {
                case I64 -> data.get(LONG_LE, i * 8L);
                case I32 -> data.get(INT_LE, i * 4L);
                default -> throw new CheckpointException(name + ": dtype " + dtype + " is not an integer tensor");
            };
        }
        return out;
    }

    public int[] toIntArray() {
        return Arrays.stream(toLongArray()).mapToInt(Math::toIntExact).toArray();
    }

    /** Throws with expected vs actual shape when they differ. */
    public TensorView requireShape(long... expected) {
        if (!Arrays.equals(shape, expected)) {
            throw new CheckpointException("tensor " + name + ": expected shape " + Arrays.toString(expected)
                    + " but the checkpoint has " + Arrays.toString(shape));
        }
        return this;
    }
}
