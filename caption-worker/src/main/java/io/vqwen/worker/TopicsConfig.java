package io.vqwen.worker;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

/**
 * Topic names and how the worker creates them when absent ({@code vqwen.kafka.*}; the Helm chart sets the names
 * through {@code VQWEN_KAFKA_TOPIC_REQUESTS}, {@code _RESULTS} and {@code _DLQ}).
 */
@ConfigMapping(prefix = "vqwen.kafka")
public interface TopicsConfig {
    Topic topic();

    /** Consumer group of the workers: replicas in one group share the request partitions. */
    @WithDefault("vqwen-caption-worker")
    String groupId();

    /** Partitions of the topics the worker creates (an existing topic keeps its own). */
    @WithDefault("6")
    int partitions();

    /** Replication factor of the topics the worker creates; -1 takes the broker's default.replication.factor. */
    @WithDefault("-1")
    short replicationFactor();

    /** max.message.bytes of the request and DLQ topics it creates: a request carries its images inline. */
    @WithDefault("16777216")
    int maxMessageBytes();

    interface Topic {
        @WithDefault("vqwen.caption.requests")
        String requests();

        @WithDefault("vqwen.caption.results")
        String results();

        @WithDefault("vqwen.caption.dlq")
        String dlq();
    }
}
