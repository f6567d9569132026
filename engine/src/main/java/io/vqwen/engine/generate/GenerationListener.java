package io.vqwen.engine.generate;

/**
 * Receives a request's output. The engine calls it on its output thread, not the step thread: one request's
 * calls come in order and never concurrently, and end with exactly one onFinish or onError. Implementations must
 * not block: a slow listener delays every request's output (never the GPU steps).
 */
public interface GenerationListener {
    void onDelta(TokenDelta delta);

    void onFinish(Completion completion);

    void onError(Throwable error);
}
