package io.vqwen.worker;

import io.grpc.Status;

/** What a failed chat call means for the job. */
public enum Fault {
    /** The request itself is wrong (bad image, prompt over the context, invalid params): fail it, to the DLQ. */
    POISON,
    /** Maybe the job's doing, maybe a glitch: retried up to vqwen.worker.retry.max-attempts, then POISON. */
    RETRY_LIMITED,
    /** The mesh cannot serve now (down, at capacity, misconfigured key): the job waits and is retried forever. */
    RETRY;

    /**
     * The gateway's mapping: 400/404/413 -> INVALID_ARGUMENT, 401 -> UNAUTHENTICATED, 429 -> RESOURCE_EXHAUSTED,
     * 503 -> UNAVAILABLE, 504 -> DEADLINE_EXCEEDED, other 5xx -> INTERNAL.
     */
    public static Fault of(Status.Code code) {
        return switch (code) {
            case INVALID_ARGUMENT, NOT_FOUND, OUT_OF_RANGE, FAILED_PRECONDITION, ALREADY_EXISTS -> POISON;
            case INTERNAL, UNKNOWN, DEADLINE_EXCEEDED, DATA_LOSS -> RETRY_LIMITED;
            // Not the job's fault: UNAVAILABLE, RESOURCE_EXHAUSTED, CANCELLED (the gateway shutting down), ABORTED,
            // and the worker's own configuration (UNAUTHENTICATED, PERMISSION_DENIED, UNIMPLEMENTED: not a gateway).
            case UNAVAILABLE, RESOURCE_EXHAUSTED, CANCELLED, ABORTED, UNAUTHENTICATED, PERMISSION_DENIED, UNIMPLEMENTED, OK -> RETRY;
        };
    }
}
