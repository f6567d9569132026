package io.vqwen.engine.safetensors;

/** A checkpoint that cannot be loaded; the message names the file or tensor at fault. */
public final class CheckpointException extends RuntimeException {
    public CheckpointException(String message) {
        super(message);
    }

    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}
