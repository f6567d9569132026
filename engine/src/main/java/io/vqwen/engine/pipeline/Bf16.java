package io.vqwen.engine.pipeline;

/** bfloat16 bits <-> float32: the upper half of a float32, so widening is exact and narrowing rounds. */
public final class Bf16 {
    private Bf16() {
    }

    /** Round to nearest even, as torch's float -> bfloat16 (and CUDA's __float2bfloat16); NaN stays a quiet NaN. */
    public static short fromFloat(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) return (short) ((bits >>> 16) | 0x0040);
        int rounding = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    /** Exact. */
    public static float toFloat(short h) {
        return Float.intBitsToFloat((h & 0xFFFF) << 16);
    }
}
