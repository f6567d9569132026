package io.vqwen.engine.backend;

/**
 * A 2-D row-major tensor resident on a {@link Backend}: an activation buffer (float32 on the CPU, bf16 on the GPU)
 * or a weight. Model code only passes these back to the backend that made them.
 */
public interface Tensor {
    int rows();

    int cols();

    default long numel() {
        return (long) rows() * cols();
    }
}
