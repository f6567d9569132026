package io.vqwen.service;

import io.quarkus.runtime.Quarkus;
import io.quarkus.runtime.ShutdownDelayInitiatedEvent;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.vqwen.proto.v1.InfoResponse;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * Drives a service's {@link ServedModel}. The HTTP and gRPC servers start at once, so health answers while the
 * model loads (startup DOWN); then, on a background thread: load, warm-up forward, peer check, each opening one
 * gate of readiness. On SIGTERM readiness goes DOWN first, calls in flight get up to
 * {@code vqwen.shutdown.drain-seconds} to finish, and only then do the servers stop and the model close.
 */
@ApplicationScoped
public class ServiceLifecycle {
    private static final Logger LOG = Logger.getLogger(ServiceLifecycle.class);

    @Inject
    ServiceState state;

    @Inject
    ServedModel model;

    /** Test-only: sleep this long before loading, so that a test can watch startup health DOWN. */
    @ConfigProperty(name = "vqwen.test.load-delay-ms", defaultValue = "0")
    long loadDelayMs;

    @ConfigProperty(name = "vqwen.shutdown.drain-seconds", defaultValue = "30")
    int drainSeconds;

    @ConfigProperty(name = "vqwen.peer-check.enabled", defaultValue = "true")
    boolean peerCheckEnabled;

    /** Retry period until the peer has answered well once; after that, how often a changed peer is looked for. */
    @ConfigProperty(name = "vqwen.peer-check.retry-ms", defaultValue = "1000")
    long peerRetryMs;

    @ConfigProperty(name = "vqwen.peer-check.recheck-ms", defaultValue = "15000")
    long peerRecheckMs;

    private volatile Thread worker;
    private volatile boolean stopping;
    private boolean drained;

    void onStart(@Observes StartupEvent ev) {
        worker = Thread.ofPlatform().name("vqwen-" + model.component() + "-lifecycle").daemon().start(this::run);
    }

    private void run() {
        String c = model.component();
        try {
            if (loadDelayMs > 0) {
                state.loading("loading (test delay " + loadDelayMs + " ms)");
                Thread.sleep(loadDelayMs);
            }
            long t0 = System.nanoTime();
            String loaded = model.load();
            state.markLoaded(loaded);
            LOG.infof("%s: model loaded in %.0f ms: %s", c, ms(t0), loaded);
        } catch (InterruptedException e) {
            return;
        } catch (Throwable e) {
            // A model that cannot load will not load on the next probe either: exit, so the supervisor (./vqwen up,
            // Kubernetes) restarts us with backoff and the log says why.
            LOG.errorf(e, "%s: cannot load the model", c);
            Quarkus.asyncExit(1);
            return;
        }
        try {
            long t0 = System.nanoTime();
            String warm = model.warmUp();
            state.markWarm(true, String.format("passed in %.0f ms: %s", ms(t0), warm));
            LOG.infof("%s: warm-up passed in %.0f ms", c, ms(t0));
        } catch (Throwable e) {
            state.markWarm(false, "failed: " + e);
            LOG.errorf(e, "%s: warm-up forward failed; readiness stays DOWN", c);
            return;
        }
        Optional<PeerCheck> peer = model.peerCheck();
        if (peer.isPresent() && peerCheckEnabled) {
            checkPeerForever(peer.get());
        } else {
            state.peer(new ServiceState.PeerStatus(true, peer.isPresent() ? "check disabled (vqwen.peer-check.enabled=false)" : "none"));
        }
    }

    /**
     * Until the peer has answered with a matching Info, readiness stays DOWN ("waiting for" / "mismatch"). After
     * that only a mismatch (a peer redeployed with another model) takes it DOWN again: an unreachable peer does
     * not, because this service does not call it on the request path, and failing with it would only spread the
     * outage.
     */
    private void checkPeerForever(PeerCheck check) {
        boolean matchedOnce = false;
        state.peer(new ServiceState.PeerStatus(false, "waiting for " + check.peer() + " at " + check.address()));
        while (!stopping) {
            ServiceState.PeerStatus before = state.peer();
            ServiceState.PeerStatus now;
            try {
                InfoResponse info = check.info().get();
                String why = check.mismatch().apply(info);
                if (why == null) {
                    matchedOnce = true;
                    now = new ServiceState.PeerStatus(true, check.peer() + " at " + check.address() + " matches (revision "
                            + info.getRevision() + ", " + info.getBackend() + ")");
                } else {
                    now = new ServiceState.PeerStatus(false, "mismatch with " + check.peer() + " at " + check.address() + ": " + why);
                }
            } catch (RuntimeException e) {
                String err = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
                now = matchedOnce
                        ? new ServiceState.PeerStatus(before.ok(), before.detail() + "; last check: unreachable (" + err + ")")
                        : new ServiceState.PeerStatus(false, "waiting for " + check.peer() + " at " + check.address() + ": " + err);
            }
            if (now.ok() != before.ok()) {
                if (now.ok()) LOG.infof("%s: peer check passed: %s", model.component(), now.detail());
                else LOG.warnf("%s: readiness DOWN: %s", model.component(), now.detail());
            }
            state.peer(now);
            try {
                Thread.sleep(matchedOnce && now.ok() ? peerRecheckMs : peerRetryMs);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    /**
     * SIGTERM, first phase: Quarkus's pre-shutdown, while the HTTP and gRPC servers still serve (needs
     * {@code quarkus.shutdown.delay-enabled=true}, a build-time property each service sets). Readiness goes DOWN,
     * new calls get UNAVAILABLE, and calls in flight get up to {@code vqwen.shutdown.drain-seconds} to finish.
     */
    void onShutdownDelay(@Observes ShutdownDelayInitiatedEvent ev) {
        drain();
    }

    /** SIGTERM, last phase: drain (a no-op when pre-shutdown did it), then free the model. */
    void onStop(@Observes @Priority(1) ShutdownEvent ev) {
        drain();
        model.close();
    }

    private synchronized void drain() {
        if (drained) return;
        drained = true;
        stopping = true;
        Thread w = worker;
        if (w != null) w.interrupt();
        long t0 = System.nanoTime();
        int before = state.inflight();
        LOG.infof("%s: draining: readiness DOWN, %d call(s) in flight, up to %d s", model.component(), before, drainSeconds);
        boolean idle = state.drain(Duration.ofSeconds(drainSeconds));
        if (idle) {
            LOG.infof("%s: drained %d call(s) in flight in %.0f ms", model.component(), before, ms(t0));
        } else {
            LOG.warnf("%s: %d call(s) still in flight after the %d s drain deadline; closing anyway", model.component(),
                    state.inflight(), drainSeconds);
        }
    }

    private static double ms(long t0) {
        return (System.nanoTime() - t0) / (double) TimeUnit.MILLISECONDS.toNanos(1);
    }
}
