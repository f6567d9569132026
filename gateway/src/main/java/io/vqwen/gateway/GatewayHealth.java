package io.vqwen.gateway;

import io.smallrye.health.api.AsyncHealthCheck;
import io.smallrye.mutiny.Uni;
import io.vqwen.gateway.MeshClients.Peer;
import jakarta.enterprise.context.ApplicationScoped;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;
import org.eclipse.microprofile.health.Startup;

/**
 * Startup: the prompt side of the model is loaded (it is by the time the bean exists). Readiness: the whole
 * pipeline can answer now (see {@link MeshCheck}); when it cannot, the response says why.
 */
public final class GatewayHealth {
    private GatewayHealth() {
    }

    @Startup
    @ApplicationScoped
    public static class Loaded implements HealthCheck {
        private final ModelFiles model;

        public Loaded(ModelFiles model) {
            this.model = model;
        }

        @Override
        public HealthCheckResponse call() {
            return HealthCheckResponse.named("model").up().withData("model", model.servedName())
                    .withData("revision", model.revision()).withData("dir", model.dir().toString()).build();
        }
    }

    @Readiness
    @ApplicationScoped
    public static class Pipeline implements AsyncHealthCheck {
        private final MeshCheck check;

        public Pipeline(MeshCheck check) {
            this.check = check;
        }

        @Override
        public Uni<HealthCheckResponse> call() {
            return check.check().map(s -> {
                var b = HealthCheckResponse.named("pipeline").status(s.ready());
                for (Peer p : Peer.values()) {
                    var info = s.infos().get(p);
                    b.withData(p.label, info == null ? "unreachable at " + MeshCheck.address(p)
                            : MeshCheck.address(p) + " " + info.getBackend() + " rev " + info.getRevision());
                }
                if (!s.ready()) b.withData("problems", String.join("; ", s.problems()));
                return b.build();
            });
        }
    }
}
