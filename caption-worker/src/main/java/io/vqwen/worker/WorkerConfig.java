package io.vqwen.worker;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.time.Duration;
import java.util.Optional;

/** The worker's own settings ({@code vqwen.worker.*}); Kafka topics are {@link TopicsConfig}, clients {@code kafka.*}. */
@ConfigMapping(prefix = "vqwen.worker")
public interface WorkerConfig {
    /**
     * Jobs running at once on this replica (each is one chat call on the gateway). Keep it well below the decoder's
     * {@code vqwen.decoder.max-running} so that interactive chat always finds free decoder slots.
     */
    @WithDefault("16")
    int maxInFlight();

    /**
     * Kafka static membership ({@code group.instance.id}): a replica restarted under the same id gets its partitions
     * back at once instead of after a rebalance. Set it to a stable per-replica name (a StatefulSet pod name).
     */
    Optional<String> instanceId();

    /** Bearer key sent to the gateway's gRPC chat when it has API keys on. */
    Optional<String> apiKey();

    /** Deadline of one chat call; a call that runs longer counts as a retryable failure. */
    @WithDefault("10m")
    Duration jobTimeout();

    /** On shutdown (and when partitions are revoked): how long running jobs may finish before they are released. */
    @WithDefault("20s")
    Duration drainTimeout();

    /** How long {@code POST /v1/jobs} waits for Kafka to acknowledge the request record. */
    @WithDefault("10s")
    Duration submitTimeout();

    /** Completed job ids (and their results) kept in memory for dedupe and {@code GET /v1/jobs/{id}}. */
    @WithDefault("200000")
    int indexMaxEntries();

    Retry retry();

    interface Retry {
        /** First wait after a retryable failure; it doubles up to {@link #maxBackoff()}, with jitter. */
        @WithDefault("250ms")
        Duration initialBackoff();

        @WithDefault("5s")
        Duration maxBackoff();

        /**
         * Attempts for failures that may be the job's own doing (INTERNAL, UNKNOWN, DEADLINE_EXCEEDED, DATA_LOSS):
         * after these the job fails and goes to the DLQ. Unavailability (UNAVAILABLE, RESOURCE_EXHAUSTED, ...) is
         * retried without limit: the job waits for the mesh instead of failing.
         */
        @WithDefault("6")
        int maxAttempts();
    }
}
