package io.vqwen.engine.hub;

import java.io.IOException;

/** A download or cache lookup that failed, with a message that says what to do about it. */
public class HubException extends IOException {

    /** What went wrong, for callers that react differently (the CLI maps them to the same exit code). */
    public enum Reason {
        /** 401/403: gated or private, or the token was refused. */
        UNAUTHORIZED,
        /** 404: no such model, revision or file. */
        NOT_FOUND,
        /** HF_HUB_OFFLINE=1 and the cache does not have it. */
        OFFLINE,
        /** The connection failed or broke off; the partial file is kept for the next attempt. */
        NETWORK,
        /** The bytes did not match the Hub's SHA-256 (or git hash); the partial file was discarded. */
        CHECKSUM,
        /** No space left on the device holding the cache. */
        DISK_FULL,
        /** The server answered something this client does not understand. */
        PROTOCOL,
        /** Downloaded, but the checkpoint is missing files the engine needs. */
        INCOMPLETE_CHECKPOINT
    }

    private final Reason reason;

    public HubException(Reason reason, String message) {
        super(message);
        this.reason = reason;
    }

    public HubException(Reason reason, String message, Throwable cause) {
        super(message, cause);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }
}
