package io.vqwen.engine.cpu;

import io.vqwen.engine.backend.Tensor;
import io.vqwen.engine.safetensors.DType;
import io.vqwen.engine.safetensors.TensorView;
import java.lang.foreign.MemorySegment;

/**
 * A CPU tensor: either float32 activations on the heap ({@code data} from {@code offset}), or a weight that stays
 * a slice of the checkpoint's mmap ({@code weight}, BF16/F16/F32, never copied).
 */
final class CpuTensor implements Tensor {
    final int rows;
    final int cols;
    final float[] data;       // (rows, cols) at offset, or null for a weight
    final int offset;
    final MemorySegment weight; // (rows, cols) in weightType, or null for an activation
    final DType weightType;

    private CpuTensor(int rows, int cols, float[] data, int offset, MemorySegment weight, DType weightType) {
        this.rows = rows;
        this.cols = cols;
        this.data = data;
        this.offset = offset;
        this.weight = weight;
        this.weightType = weightType;
    }

    static CpuTensor activation(float[] data, int offset, int rows, int cols) {
        return new CpuTensor(rows, cols, data, offset, null, null);
    }

    static CpuTensor weight(TensorView view) {
        int rows = view.shape().length <= 1 ? 1 : view.rows();
        int cols = (int) (view.numel() / rows);
        if (view.dtype() == DType.F32 && view.numel() < Integer.MAX_VALUE) {
            // F32 weights (and norms) are read as heap floats so every kernel has one fast path for them.
            return activation(view.toFloatArray(), 0, rows, cols);
        }
        return new CpuTensor(rows, cols, null, 0, view.data(), view.dtype());
    }

    boolean isWeight() {
        return weight != null;
    }

    /** Row r as float32 into dst (widening bf16/f16). */
    void readRow(int r, float[] dst) {
        if (weight == null) {
            System.arraycopy(data, offset + r * cols, dst, 0, cols);
        } else {
            CpuKernels.widen(weight, weightType, (long) r * cols, dst, cols);
        }
    }

    /** Element i of a weight or activation, for small vectors (norm gammas, biases). */
    float[] toFloats() {
        float[] out = new float[rows * cols];
        if (weight == null) System.arraycopy(data, offset, out, 0, out.length);
        else CpuKernels.widen(weight, weightType, 0, out, out.length);
        return out;
    }

    @Override
    public int rows() {
        return rows;
    }

    @Override
    public int cols() {
        return cols;
    }
}
