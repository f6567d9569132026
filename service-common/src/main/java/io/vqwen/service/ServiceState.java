package io.vqwen.service;

import io.grpc.Status;
import jakarta.enterprise.context.ApplicationScoped;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Where a model service stands, as its health checks report it:
 * <ul>
 * <li>started: the model is loaded;</li>
 * <li>ready: a real warm-up forward passed, the peers answered {@code Info} with matching shapes and revision, and
 *     the service is not draining;</li>
 * <li>in flight: calls being served, which a drain waits for.</li>
 * </ul>
 * Written by {@link ServiceLifecycle} and the services, read by {@link HealthChecks}.
 */
@ApplicationScoped
public class ServiceState {
    /** The result of the latest peer check: ok, or why not. */
    public record PeerStatus(boolean ok, String detail) {
    }

    private volatile boolean loaded;
    private volatile String loadDetail = "loading";
    private volatile boolean warm;
    private volatile String warmDetail = "pending (the model is loading)";
    // Closed until the lifecycle has looked at the peer (or found there is none): warm alone is not ready.
    private volatile PeerStatus peer = new PeerStatus(false, "not checked yet");
    private volatile boolean draining;
    private final AtomicInteger inflight = new AtomicInteger();

    public boolean loaded() {
        return loaded;
    }

    public boolean ready() {
        return loaded && warm && peer.ok() && !draining;
    }

    public boolean draining() {
        return draining;
    }

    public int inflight() {
        return inflight.get();
    }

    void loading(String detail) {
        loadDetail = detail;
    }

    void markLoaded(String detail) {
        loadDetail = detail;
        warmDetail = "running";
        loaded = true;
    }

    void markWarm(boolean ok, String detail) {
        warmDetail = detail;
        warm = ok;
    }

    void peer(PeerStatus status) {
        peer = status;
    }

    PeerStatus peer() {
        return peer;
    }

    /** Data for the health checks: why each gate is open or closed. */
    Map<String, Object> details() {
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("model", loadDetail);
        d.put("warmup", warmDetail);
        d.put("peer", peer.detail());
        d.put("draining", draining);
        d.put("inflight", inflight.get());
        return d;
    }

    String loadDetail() {
        return loadDetail;
    }

    /**
     * Registers a call. Fails with UNAVAILABLE while the model loads or the service drains, so that a caller (the
     * gateway) can retry another replica; the description says which.
     */
    public void enter() {
        inflight.incrementAndGet();
        // Incremented before the checks, so a drain that saw zero in flight cannot miss a call that got past them.
        if (draining) {
            inflight.decrementAndGet();
            throw Status.UNAVAILABLE.withDescription("the service is shutting down").asRuntimeException();
        }
        if (!loaded) {
            inflight.decrementAndGet();
            throw Status.UNAVAILABLE.withDescription("the model is still loading").asRuntimeException();
        }
    }

    /** Ends a call registered by {@link #enter()}. */
    public void exit() {
        inflight.decrementAndGet();
    }

    /** Readiness goes DOWN and new calls are refused; then waits up to {@code deadline} for calls in flight. */
    boolean drain(Duration deadline) {
        draining = true;
        long end = System.nanoTime() + deadline.toNanos();
        while (inflight.get() > 0) {
            if (System.nanoTime() >= end) return false;
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(20));
        }
        return true;
    }
}
