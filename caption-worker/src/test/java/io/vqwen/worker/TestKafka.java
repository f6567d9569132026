package io.vqwen.worker;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** What a test does to a real broker from the outside: create topics, produce, read everything back. */
final class TestKafka implements AutoCloseable {
    final String bootstrap;
    private final KafkaProducer<String, byte[]> producer;
    private final Admin admin;

    TestKafka(String bootstrap) {
        this.bootstrap = bootstrap;
        this.producer = new KafkaProducer<>(Map.of("bootstrap.servers", bootstrap, "acks", "all", "linger.ms", "5",
                "max.request.size", "16777216"), new StringSerializer(), new ByteArraySerializer());
        this.admin = Admin.create(Map.of("bootstrap.servers", bootstrap));
    }

    void createTopics(int partitions, String... names) throws Exception {
        List<NewTopic> t = new ArrayList<>();
        for (String n : names) t.add(new NewTopic(n, partitions, (short) 1).configs(Map.of("max.message.bytes", "16777216")));
        admin.createTopics(t).all().get(30, TimeUnit.SECONDS);
    }

    void send(String topic, String key, String value) throws Exception {
        send(topic, key, value == null ? null : value.getBytes(StandardCharsets.UTF_8));
    }

    /** A record with headers (for example a W3C {@code traceparent}). */
    void send(String topic, String key, String value, Map<String, String> headers) throws Exception {
        ProducerRecord<String, byte[]> r = new ProducerRecord<>(topic, key, value.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        headers.forEach((k, v) -> r.headers().add(k, v.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
        producer.send(r).get(30, TimeUnit.SECONDS);
    }

    void send(String topic, String key, byte[] value) throws Exception {
        producer.send(new ProducerRecord<>(topic, key, value)).get(30, TimeUnit.SECONDS);
    }

    /** Every record of a topic as it is now (all partitions, from the beginning). */
    List<ConsumerRecord<String, byte[]>> readAll(String topic) {
        try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(Map.of("bootstrap.servers", bootstrap),
                new StringDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> parts = c.partitionsFor(topic, Duration.ofSeconds(10)).stream()
                    .map(p -> new TopicPartition(topic, p.partition())).toList();
            c.assign(parts);
            c.seekToBeginning(parts);
            Map<TopicPartition, Long> end = c.endOffsets(parts);
            List<ConsumerRecord<String, byte[]>> out = new ArrayList<>();
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (parts.stream().anyMatch(p -> c.position(p) < end.get(p))) {
                if (System.nanoTime() > deadline) throw new AssertionError("could not read " + topic + " to its end");
                c.poll(Duration.ofMillis(200)).forEach(out::add);
            }
            return out;
        }
    }

    /** Sum over partitions of (end offset - committed offset of the group): records not yet finished. */
    long uncommitted(String group, String topic) throws Exception {
        Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(group)
                .partitionsToOffsetAndMetadata().get(10, TimeUnit.SECONDS);
        Set<TopicPartition> parts = admin.describeTopics(List.of(topic)).allTopicNames().get(10, TimeUnit.SECONDS).get(topic)
                .partitions().stream().map(p -> new TopicPartition(topic, p.partition())).collect(Collectors.toSet());
        var ends = admin.listOffsets(parts.stream().collect(Collectors.toMap(p -> p, p -> OffsetSpec.latest())))
                .all().get(10, TimeUnit.SECONDS);
        long lag = 0;
        for (TopicPartition p : parts) {
            OffsetAndMetadata c = committed.get(p);
            lag += ends.get(p).offset() - (c == null ? 0 : c.offset());
        }
        return lag;
    }

    static String text(ConsumerRecord<String, byte[]> r) {
        return r.value() == null ? null : new String(r.value(), StandardCharsets.UTF_8);
    }

    static String header(ConsumerRecord<String, byte[]> r, String key) {
        var h = r.headers().lastHeader(key);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }

    @Override
    public void close() {
        producer.close(Duration.ofSeconds(5));
        admin.close(Duration.ofSeconds(5));
    }
}
