package io.vqwen.engine.backend;

/** A {@link BatchLayout} made resident on a backend (host arrays on the CPU, device buffers on the GPU). */
public interface StepBatch {
    BatchLayout layout();
}
