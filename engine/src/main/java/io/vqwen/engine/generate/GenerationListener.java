package io.vqwen.engine.generate;

/** Receives a request's output on the engine's step thread; implementations must not block. */
public interface GenerationListener {
    void onDelta(TokenDelta delta);

    void onFinish(Completion completion);

    void onError(Throwable error);
}
