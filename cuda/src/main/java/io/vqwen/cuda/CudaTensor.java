package io.vqwen.cuda;

import io.vqwen.engine.backend.Tensor;
import jcuda.driver.CUdeviceptr;

/**
 * A 2-D row-major tensor in device memory: bf16 (weights and activations) or float32 (logits).
 * {@code owned} tensors return their buffer to its pool when freed; row slices, weights and a decode graph's
 * output do not.
 */
final class CudaTensor implements Tensor {
    enum Dtype {
        BF16(2), F32(4);

        final int bytes;

        Dtype(int bytes) {
            this.bytes = bytes;
        }
    }

    final int rows;
    final int cols;
    final Dtype dtype;
    final CudaDevice.DevPtr base; // the allocation
    final long offset;            // bytes from base
    final DevicePool.Buffer pooled; // non-null when owned and pooled
    final boolean weight;
    boolean freed;

    CudaTensor(int rows, int cols, Dtype dtype, CudaDevice.DevPtr base, long offset, DevicePool.Buffer pooled, boolean weight) {
        this.rows = rows;
        this.cols = cols;
        this.dtype = dtype;
        this.base = base;
        this.offset = offset;
        this.pooled = pooled;
        this.weight = weight;
    }

    long address() {
        return base.address() + offset;
    }

    CUdeviceptr ptr() {
        return base.withByteOffset(offset);
    }

    long bytes() {
        return (long) rows * cols * dtype.bytes;
    }

    @Override
    public int rows() {
        return rows;
    }

    @Override
    public int cols() {
        return cols;
    }

    @Override
    public String toString() {
        return (weight ? "weight " : "") + rows + "x" + cols + " " + dtype;
    }
}
