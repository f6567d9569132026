package io.vqwen.service;

import java.util.Optional;

/**
 * The one model a service serves (vision tower, projector or decoder), driven by {@link ServiceLifecycle}:
 * load in the background, warm up, check the peer, close after the drain. Each service has exactly one bean of this
 * type.
 */
public interface ServedModel {
    /** "vision", "projector" or "decoder": the InfoResponse.service name and the log prefix. */
    String component();

    /** Loads weights onto the backend; returns a one-line description for /q/health/started. */
    String load() throws Exception;

    /** One real forward pass on made-up input; throws if it fails. Returns a one-line description. */
    String warmUp() throws Exception;

    /** The peer this service checks through Info before it calls itself ready, if any. */
    Optional<PeerCheck> peerCheck();

    /** Frees the model after the drain. */
    void close();
}
