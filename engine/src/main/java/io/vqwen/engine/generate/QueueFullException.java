package io.vqwen.engine.generate;

/** The waiting queue is full: the caller should retry later (HTTP 429, gRPC RESOURCE_EXHAUSTED). */
public final class QueueFullException extends RuntimeException {
    public QueueFullException(int waiting) {
        super("the decoder's queue is full (" + waiting + " requests waiting); retry later");
    }
}
