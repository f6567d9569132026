package io.vqwen.cuda;

/** A failed CUDA driver, cuBLAS or kernel call; the message names the operation and the error. */
public final class CudaException extends RuntimeException {
    public CudaException(String message) {
        super(message);
    }

    public CudaException(String message, Throwable cause) {
        super(message, cause);
    }
}
