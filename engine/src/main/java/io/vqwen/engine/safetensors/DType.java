package io.vqwen.engine.safetensors;

/** Storage dtypes of safetensors files (the names are the header's "dtype" strings). */
public enum DType {
    BF16(2), F16(2), F32(4), F64(8), I64(8), I32(4), I16(2), I8(1), U8(1), BOOL(1);

    public final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }

    /** Whether the engine can compute with weights stored in this dtype. */
    public boolean isFloatWeight() {
        return this == BF16 || this == F16 || this == F32;
    }

    public static DType parse(String name, String where) {
        try {
            return valueOf(name);
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(where + ": unsupported dtype " + name + " (supported: BF16, F16, F32, I64, I32)");
        }
    }
}
