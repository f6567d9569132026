package io.vqwen.service;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.HealthCheckResponseBuilder;
import org.eclipse.microprofile.health.Liveness;
import org.eclipse.microprofile.health.Readiness;
import org.eclipse.microprofile.health.Startup;

/**
 * /q/health/started: the model is loaded. /q/health/ready: warm-up passed, peers match, not draining; its data
 * says which gate is closed. /q/health/live: the process answers.
 */
@ApplicationScoped
public class HealthChecks {
    @Inject
    ServiceState state;

    @Produces
    @Startup
    HealthCheck modelLoaded() {
        return () -> {
            HealthCheckResponseBuilder b = HealthCheckResponse.named("model-loaded").status(state.loaded());
            b.withData("model", state.loadDetail());
            return b.build();
        };
    }

    @Produces
    @Readiness
    HealthCheck ready() {
        return () -> {
            HealthCheckResponseBuilder b = HealthCheckResponse.named("model-ready").status(state.ready());
            state.details().forEach((k, v) -> {
                if (v instanceof Boolean x) b.withData(k, x);
                else if (v instanceof Number n) b.withData(k, n.longValue());
                else b.withData(k, String.valueOf(v));
            });
            return b.build();
        };
    }

    @Produces
    @Liveness
    HealthCheck alive() {
        return () -> HealthCheckResponse.up("alive");
    }
}
