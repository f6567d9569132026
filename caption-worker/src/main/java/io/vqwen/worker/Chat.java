package io.vqwen.worker;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/** Runs one chat completion to its end: what the worker needs from the gateway. */
public interface Chat {

    /**
     * @param body   the {@code /v1/chat/completions} request body
     * @param cancel cancelled when the job is released (shutdown, partition revoked); the call should stop then
     * @throws Failure when the gateway refuses or cannot answer
     */
    Outcome run(ObjectNode body, Cancel cancel) throws Failure;

    /** Whether the gateway answers at all (readiness); a short call. */
    boolean reachable();

    /** Where the chat is served, for messages. */
    String address();

    /**
     * A whole answer, the same as one {@code chat.completion} of {@code /v1/chat/completions}.
     *
     * @param completionId the gateway's {@code chatcmpl-...} id
     * @param usage        {@code {prompt_tokens, completion_tokens, total_tokens}}
     * @param timings      the gateway's {@code timings} extension (encode, queue, prefill, decode ms ...)
     */
    record Outcome(String text, String finishReason, JsonNode usage, JsonNode timings, String model, String completionId) {
    }

    /** A failed call: the gRPC status and the OpenAI error the gateway sent with it. */
    final class Failure extends Exception {
        private final io.grpc.Status.Code code;
        private final transient JobError error;

        public Failure(io.grpc.Status.Code code, JobError error, Throwable cause) {
            super(code + ": " + error.message(), cause, false, false);
            this.code = code;
            this.error = error;
        }

        public io.grpc.Status.Code code() {
            return code;
        }

        public JobError error() {
            return error;
        }
    }
}
