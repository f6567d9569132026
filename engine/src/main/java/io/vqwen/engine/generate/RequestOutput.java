package io.vqwen.engine.generate;

import io.vqwen.engine.text.StreamingDetokenizer;

/**
 * A request's output side: its text so far, stop-string state and listener. After submission only the
 * {@link OutputProcessor}'s thread touches it.
 */
final class RequestOutput {
    /** What the processor asks of the engine that owns the request. */
    interface Control {
        /** The completion record if the request ended now with this many generated tokens. */
        Completion completion(String reason, int completionTokens);

        /** Ends the request early (a stop string matched): the step thread frees it at its next step. */
        void abort();
    }

    final GenerationRequest req;
    final GenerationListener listener;
    final Control control;
    final StreamingDetokenizer detok;
    final StringBuilder text = new StringBuilder();
    int emitted; // chars of text already given to the listener
    int tokens; // ids given to the listener
    boolean closed; // onFinish or onError was called: later events for this request are dropped

    RequestOutput(GenerationRequest req, GenerationListener listener, Control control, StreamingDetokenizer detok) {
        this.req = req;
        this.listener = listener;
        this.control = control;
        this.detok = detok;
    }
}
