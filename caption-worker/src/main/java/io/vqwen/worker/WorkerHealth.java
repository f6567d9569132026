package io.vqwen.worker;

import io.smallrye.health.api.HealthGroup;
import jakarta.enterprise.context.ApplicationScoped;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Liveness;
import org.eclipse.microprofile.health.Readiness;

/**
 * Readiness: Kafka answers, the gateway's gRPC answers, and the results index has caught up (before that the job
 * API cannot say what is done). Liveness: the consumer loop has not died or hung. The Kafka check is also in the
 * health group {@code kafka} ({@code /q/health/group/kafka}).
 */
public final class WorkerHealth {
    private WorkerHealth() {
    }

    @Readiness
    @HealthGroup("kafka")
    @ApplicationScoped
    public static class KafkaCheck implements HealthCheck {
        private final Worker worker;

        public KafkaCheck(Worker worker) {
            this.worker = worker;
        }

        @Override
        public HealthCheckResponse call() {
            var b = HealthCheckResponse.named("kafka").withData("bootstrap.servers", worker.bootstrapServers());
            try {
                int brokers = worker.kafkaBrokers();
                return b.status(brokers > 0).withData("brokers", brokers).build();
            } catch (Exception e) {
                return b.down().withData("error", e.toString()).build();
            }
        }
    }

    @Readiness
    @ApplicationScoped
    public static class GatewayCheck implements HealthCheck {
        private final Chat chat;

        public GatewayCheck(Chat chat) {
            this.chat = chat;
        }

        @Override
        public HealthCheckResponse call() {
            boolean ok = chat.reachable();
            var b = HealthCheckResponse.named("gateway").status(ok).withData("address", chat.address());
            if (!ok) b.withData("error", "the gateway's gRPC health service does not answer SERVING at " + chat.address());
            return b.build();
        }
    }

    @Readiness
    @ApplicationScoped
    public static class IndexCheck implements HealthCheck {
        private final Worker worker;

        public IndexCheck(Worker worker) {
            this.worker = worker;
        }

        @Override
        public HealthCheckResponse call() {
            return HealthCheckResponse.named("jobs").status(worker.index().isCaughtUp() && worker.consumer().isConsuming())
                    .withData("stage", worker.stage()).withData("results_known", worker.index().size())
                    .withData("in_flight", worker.consumer().inFlight()).build();
        }
    }

    @Liveness
    @ApplicationScoped
    public static class ConsumerAlive implements HealthCheck {
        private final Worker worker;

        public ConsumerAlive(Worker worker) {
            this.worker = worker;
        }

        @Override
        public HealthCheckResponse call() {
            Throwable crash = worker.consumer().crash();
            var b = HealthCheckResponse.named("job-consumer").status(crash == null);
            if (crash != null) b.withData("error", crash.toString());
            return b.build();
        }
    }
}
