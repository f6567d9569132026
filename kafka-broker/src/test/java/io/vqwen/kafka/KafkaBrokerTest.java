package io.vqwen.kafka;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The broker is a real Kafka: clients of the real protocol produce, consume and find their data after restarts. */
class KafkaBrokerTest {

    @Test
    void servesOnLoopbackAndKeepsPortAndDataAcrossStopKillAndRestart() throws Exception {
        try (KafkaBroker broker = KafkaBroker.start()) {
            String address = broker.bootstrapServers();
            assertTrue(address.startsWith("127.0.0.1:"), address);
            createTopic(broker, "t");
            produce(broker, "t", "a");

            broker.stop();
            assertFalse(broker.isRunning());
            assertThrows(IOException.class, () -> KafkaProbe.liveBrokers(
                    new InetSocketAddress(InetAddress.getLoopbackAddress(), broker.port()), Duration.ofSeconds(1)),
                    "a stopped broker still answered");
            broker.restart();
            assertEquals(address, broker.bootstrapServers());
            produce(broker, "t", "b");

            // SIGKILL: no controlled shutdown; the log is recovered on the next start.
            broker.kill();
            broker.restart();
            produce(broker, "t", "c");
            assertEquals(List.of("a", "b", "c"), readAll(broker, "t"));
        }
    }

    @Test
    void startLocalKeepsTopicsAndPortAcrossRuns(@TempDir Path dir) throws Exception {
        int port;
        try (KafkaBroker first = KafkaBroker.startLocal(dir)) {
            port = first.port();
            createTopic(first, "kept");
            produce(first, "kept", "x");
        }
        assertTrue(Files.exists(dir.resolve(KafkaBroker.STATE_FILE)));
        try (KafkaBroker second = KafkaBroker.startLocal(dir)) {
            assertEquals(port, second.port(), "the remembered port was free but not reused");
            assertEquals(List.of("x"), readAll(second, "kept"));
        }
    }

    @Test
    void closeDeletesTheTempDataDirAndStopsTheProcess() throws Exception {
        KafkaBroker broker = KafkaBroker.start(Map.of("num.partitions", "3"));
        Path dir = broker.dataDir();
        assertTrue(broker.isRunning());
        broker.close();
        assertFalse(broker.isRunning());
        assertFalse(Files.exists(dir), dir + " left behind");
    }

    @Test
    void theBrokerDiesWithTheJvmThatStartedItEvenOnSigkill() throws Exception {
        // A JVM running KafkaBroker.main, killed without a chance to run its shutdown hook.
        Process parent = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), KafkaBroker.class.getName())
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String address;
        try (var out = new java.io.BufferedReader(new java.io.InputStreamReader(parent.getInputStream()))) {
            address = out.readLine();
            assertTrue(address != null && address.startsWith("127.0.0.1:"), "no address printed: " + address);
            InetSocketAddress broker = new InetSocketAddress(InetAddress.getLoopbackAddress(),
                    Integer.parseInt(address.substring(address.indexOf(':') + 1)));
            assertEquals(1, KafkaProbe.liveBrokers(broker, Duration.ofSeconds(5)));
            List<ProcessHandle> children = parent.descendants().toList();
            parent.destroyForcibly().waitFor();
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (children.stream().anyMatch(ProcessHandle::isAlive) && System.nanoTime() < deadline) Thread.sleep(200);
            assertFalse(children.stream().anyMatch(ProcessHandle::isAlive), "the broker outlived the JVM that started it");
            assertThrows(IOException.class, () -> KafkaProbe.liveBrokers(broker, Duration.ofSeconds(1)));
        }
    }

    // ------------------------------------------------------------------ clients

    private static void createTopic(KafkaBroker b, String topic) throws Exception {
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, b.bootstrapServers()))) {
            admin.createTopics(Set.of(new NewTopic(topic, 1, (short) 1))).all().get();
        }
    }

    private static void produce(KafkaBroker b, String topic, String value) throws Exception {
        try (KafkaProducer<String, String> p = new KafkaProducer<>(Map.of(
                ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, b.bootstrapServers(),
                ProducerConfig.ACKS_CONFIG, "all"), new StringSerializer(), new StringSerializer())) {
            p.send(new ProducerRecord<>(topic, value)).get();
        }
    }

    private static List<String> readAll(KafkaBroker b, String topic) {
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(Map.of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, b.bootstrapServers(),
                ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest"), new StringDeserializer(), new StringDeserializer())) {
            TopicPartition tp = new TopicPartition(topic, 0);
            c.assign(List.of(tp));
            c.seekToBeginning(List.of(tp));
            long end = c.endOffsets(List.of(tp)).get(tp);
            List<String> out = new ArrayList<>();
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (c.position(tp) < end && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) out.add(r.value());
            }
            return out;
        }
    }
}
