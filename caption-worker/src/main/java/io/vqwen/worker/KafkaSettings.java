package io.vqwen.worker;

import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.eclipse.microprofile.config.Config;

/**
 * Kafka client settings from the configuration: every {@code kafka.<setting>} property (application.properties,
 * system properties, the Helm chart's {@code kafka.*} values) goes to the clients that know that setting, and
 * {@code kafka.bootstrap.servers} also reads env {@code KAFKA_BOOTSTRAP_SERVERS}.
 */
final class KafkaSettings {
    private static final String PREFIX = "kafka.";

    private KafkaSettings() {
    }

    static Map<String, Object> all(Config config) {
        Map<String, Object> out = new HashMap<>();
        for (String name : config.getPropertyNames()) {
            if (!name.startsWith(PREFIX)) continue;
            config.getOptionalValue(name, String.class).ifPresent(v -> out.put(name.substring(PREFIX.length()), v));
        }
        out.put("bootstrap.servers", config.getOptionalValue("kafka.bootstrap.servers", String.class).orElse("localhost:9092"));
        return out;
    }

    static Map<String, Object> consumer(Map<String, Object> all) {
        return only(all, ConsumerConfig.configNames());
    }

    static Map<String, Object> producer(Map<String, Object> all) {
        return only(all, ProducerConfig.configNames());
    }

    static Map<String, Object> admin(Map<String, Object> all) {
        return only(all, AdminClientConfig.configNames());
    }

    private static Map<String, Object> only(Map<String, Object> all, Set<String> known) {
        Map<String, Object> out = new HashMap<>();
        all.forEach((k, v) -> {
            if (known.contains(k)) out.put(k, v);
        });
        return out;
    }
}
