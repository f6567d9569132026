package io.vqwen.engine.generate;

/** A submitted request; cancel() frees its sequence at the next step. */
public interface RequestHandle {
    String requestId();

    void cancel();
}
