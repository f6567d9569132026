package io.vqwen.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.grpc.Status;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vqwen.kafka.KafkaBroker;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/**
 * The job loop against a real Kafka broker, with a stand-in for the gateway's chat (the real mesh runs in
 * CaptionWorkerIT): delivery, DLQ, dedupe, backpressure, retries and shutdown are Kafka-side facts.
 */
class JobConsumerTest {
    static KafkaBroker broker;
    static TestKafka kafka;

    String requests, results, dlq, group;

    @BeforeAll
    static void startBroker() throws Exception {
        broker = KafkaBroker.start();
        kafka = new TestKafka(broker.bootstrapServers());
    }

    @AfterAll
    static void stopBroker() {
        if (kafka != null) kafka.close();
        if (broker != null) broker.close();
    }

    @BeforeEach
    void topics(TestInfo info) throws Exception {
        String n = info.getTestMethod().orElseThrow().getName();
        requests = n + ".requests";
        results = n + ".results";
        dlq = n + ".dlq";
        group = n + ".group";
        kafka.createTopics(3, requests, results, dlq);
    }

    // ------------------------------------------------------------------ tests

    @Test
    void twoHundredJobsWithTwentyPoisonGiveExactly180Completed20FailedAnd20DeadLetters() throws Exception {
        FakeChat chat = new FakeChat();
        Map<String, String> poison = new HashMap<>();
        List<String> valid = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            String id = "job-" + i;
            String value;
            if (i % 10 == 3) {
                // Four kinds of poison: not JSON, a bad batch line, a bad id, and one the gateway refuses.
                value = switch (i / 10 % 4) {
                    case 0 -> "{\"id\":\"" + id + "\",\"messages\":[";
                    case 1 -> "{\"custom_id\":\"" + id + "\",\"method\":\"POST\",\"url\":\"/v1/completions\",\"body\":{}}";
                    case 2 -> "{\"id\":" + i + ",\"messages\":[]}";
                    default -> job(id, "POISON image " + i);
                };
                poison.put(id, value);
            } else if (i % 10 == 5) {
                value = "{\"custom_id\":\"" + id + "\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":"
                        + body(id, "prompt " + i) + "}";
                valid.add(id);
            } else {
                value = job(id, "prompt " + i);
                valid.add(id);
            }
            kafka.send(requests, id, value);
        }
        try (Rig rig = new Rig(chat, 4)) {
            await("200 results", Duration.ofSeconds(90), () -> rig.finished() >= 200);
            await("offsets committed", Duration.ofSeconds(20), () -> uncommitted() == 0);
        }
        List<ConsumerRecord<String, byte[]>> out = kafka.readAll(results);
        Map<String, JsonNode> byId = new HashMap<>();
        for (var r : out) assertEquals(null, byId.put(r.key(), Json.MAPPER.readTree(r.value())), "two results for " + r.key());
        assertEquals(200, out.size());
        int completed = 0;
        for (String id : valid) {
            JsonNode r = byId.get(id);
            assertNotNull(r, "no result for " + id);
            assertEquals("completed", r.get("status").asText(), id + ": " + r);
            assertEquals(FakeChat.textFor(id), r.get("text").asText());
            completed++;
        }
        assertEquals(180, completed);
        assertEquals("job-15", byId.get("job-15").get("custom_id").asText(), "a batch line's result names its custom_id");
        assertEquals("test", byId.get("job-0").path("metadata").path("source").asText(), "metadata is echoed");

        List<ConsumerRecord<String, byte[]>> dead = kafka.readAll(dlq);
        assertEquals(20, dead.size());
        Set<String> failedIds = new HashSet<>();
        for (var d : dead) {
            String jobId = TestKafka.header(d, "vqwen.job.id");
            String original = poison.get(d.key());
            assertEquals(original, TestKafka.text(d), "the DLQ value is the original record");
            String message = TestKafka.header(d, "vqwen.error.message");
            assertTrue(message != null && !message.isBlank());
            JsonNode failed = byId.get(jobId);
            assertNotNull(failed, "no failed result under " + jobId);
            assertEquals("failed", failed.get("status").asText());
            assertEquals(message, failed.get("error").get("message").asText());
            failedIds.add(jobId);
        }
        assertEquals(20, failedIds.size());
        // Each kind says what is wrong.
        // A record whose id is unusable is named by its topic, partition and offset.
        String unnamed = TestKafka.header(dead.stream().filter(d -> "job-23".equals(d.key())).findFirst().orElseThrow(), "vqwen.job.id");
        assertTrue(unnamed.matches(java.util.regex.Pattern.quote(requests) + "-[0-2]-\\d+"), unnamed);
        assertTrue(errorOf(byId, dead, "job-3").startsWith("The record is not valid JSON: "), errorOf(byId, dead, "job-3"));
        assertTrue(errorOf(byId, dead, "job-13").startsWith("url must be \"/v1/chat/completions\""));
        assertEquals("id must be a string, got a number.", errorOf(byId, dead, "job-23"));
        assertEquals("messages[0].content[0].image_url: cannot identify image file (corrupt PNG)", errorOf(byId, dead, "job-33"));
        assertEquals("INVALID_ARGUMENT", failedResult(byId, dead, "job-33").get("error").get("grpc_status").asText());
    }

    @Test
    void runsAtMostMaxInFlightJobsAndLeavesTheRestOnKafka() throws Exception {
        FakeChat chat = new FakeChat();
        chat.gate = new Semaphore(0);
        for (int i = 0; i < 40; i++) kafka.send(requests, "b" + i, job("b" + i, "p" + i));
        try (Rig rig = new Rig(chat, 4)) {
            await("4 running", Duration.ofSeconds(30), () -> chat.running.get() == 4);
            Thread.sleep(1500);
            assertEquals(4, chat.running.get(), "more jobs started than max-in-flight");
            assertTrue(rig.metrics.backlog.get() <= 4, "fetched and waiting: " + rig.metrics.backlog.get() + " > max.poll.records");
            await("lag reported", Duration.ofSeconds(5), () -> rig.metrics.lag.get() == 40);
            chat.gate.release(1000);
            await("40 results", Duration.ofSeconds(60), () -> rig.finished() >= 40);
            assertEquals(4, chat.maxRunning.get(), "concurrency never exceeded max-in-flight");
        }
        assertEquals(40, kafka.readAll(results).size());
    }

    @Test
    void aGatewayOutageMakesJobsWaitThenComplete() throws Exception {
        FakeChat chat = new FakeChat();
        chat.unavailableUntil = System.nanoTime() + Duration.ofSeconds(3).toNanos();
        for (int i = 0; i < 12; i++) kafka.send(requests, "u" + i, job("u" + i, "p" + i));
        try (Rig rig = new Rig(chat, 4)) {
            await("12 results", Duration.ofSeconds(60), () -> rig.finished() >= 12);
            assertTrue(rig.metrics.retried.count() >= 4, "retried " + rig.metrics.retried.count());
            assertEquals(0, rig.metrics.failed.count());
        }
        for (var r : kafka.readAll(results)) assertEquals("completed", Json.MAPPER.readTree(r.value()).get("status").asText());
    }

    @Test
    void internalErrorsAreRetriedAFewTimesThenTheJobFails() throws Exception {
        FakeChat chat = new FakeChat();
        chat.internal = true;
        kafka.send(requests, "i1", job("i1", "p"));
        kafka.send(requests, "i2", job("i2", "p"));
        try (Rig rig = new Rig(chat, 4)) {
            await("2 results", Duration.ofSeconds(30), () -> rig.finished() >= 2);
        }
        for (var r : kafka.readAll(results)) {
            JsonNode n = Json.MAPPER.readTree(r.value());
            assertEquals("failed", n.get("status").asText());
            assertEquals("decoder exploded (gave up after 3 attempts)", n.get("error").get("message").asText());
            assertEquals(3, n.get("job").get("attempts").asInt());
        }
        assertEquals(6, chat.calls.get());
        assertEquals(2, kafka.readAll(dlq).size());
    }

    @Test
    void aJobDeliveredTwiceOrAlreadyDoneRunsOnce() throws Exception {
        FakeChat chat = new FakeChat();
        // A result from an earlier run (e.g. written just before a crash, with the offset not committed).
        kafka.send(results, "done-1", "{\"id\":\"done-1\",\"status\":\"completed\",\"text\":\"earlier\"}");
        kafka.send(requests, "done-1", job("done-1", "p"));
        kafka.send(requests, "dup-1", job("dup-1", "p"));
        kafka.send(requests, "dup-1", job("dup-1", "p"));
        kafka.send(requests, "other", job("other", "p"));
        try (Rig rig = new Rig(chat, 4)) {
            await("3 records handled", Duration.ofSeconds(30), () -> rig.finished() >= 2 && rig.metrics.deduplicated.count() >= 2);
            await("offsets committed", Duration.ofSeconds(20), () -> uncommitted() == 0);
        }
        Map<String, Integer> count = new HashMap<>();
        for (var r : kafka.readAll(results)) count.merge(r.key(), 1, Integer::sum);
        assertEquals(Map.of("done-1", 1, "dup-1", 1, "other", 1), count);
        assertEquals(0, chat.callsFor("done-1"));
        assertEquals(1, chat.callsFor("dup-1"));
    }

    @Test
    void shutdownReleasesRunningJobsAndTheNextWorkerRunsThem() throws Exception {
        FakeChat stuck = new FakeChat();
        stuck.gate = new Semaphore(0);
        for (int i = 0; i < 6; i++) kafka.send(requests, "s" + i, job("s" + i, "p" + i));
        Rig first = new Rig(stuck, 3);
        await("3 running", Duration.ofSeconds(30), () -> stuck.running.get() == 3);
        long t0 = System.nanoTime();
        first.close();
        assertTrue(System.nanoTime() - t0 < Duration.ofSeconds(20).toNanos(), "shutdown took longer than drain + release");
        assertEquals(3.0, first.metrics.released.count());
        assertEquals(0, kafka.readAll(results).size());
        assertEquals(6, uncommitted(), "released jobs must stay uncommitted");

        FakeChat chat = new FakeChat();
        try (Rig second = new Rig(chat, 3)) {
            await("6 results", Duration.ofSeconds(60), () -> second.finished() >= 6);
            await("offsets committed", Duration.ofSeconds(20), () -> uncommitted() == 0);
        }
        Set<String> ids = new HashSet<>();
        for (var r : kafka.readAll(results)) assertTrue(ids.add(r.key()), "duplicate " + r.key());
        assertEquals(6, ids.size());
    }

    @Test
    void aBrokerRestartMidRunLosesNothingAndDuplicatesNothing() throws Exception {
        FakeChat chat = new FakeChat();
        chat.delayMs = 100;
        for (int i = 0; i < 60; i++) kafka.send(requests, "k" + i, job("k" + i, "p" + i));
        try (Rig rig = new Rig(chat, 4)) {
            await("some done", Duration.ofSeconds(30), () -> rig.finished() >= 10);
            assertTrue(rig.finished() < 40, "the run was nearly over before the restart: " + rig.finished());
            broker.restart();
            await("60 results", Duration.ofSeconds(120), () -> rig.finished() >= 60);
            await("offsets committed", Duration.ofSeconds(60), () -> uncommitted() == 0);
        }
        Map<String, String> text = new HashMap<>();
        for (var r : kafka.readAll(results)) {
            String t = Json.MAPPER.readTree(r.value()).get("text").asText();
            String before = text.put(r.key(), t);
            assertTrue(before == null || before.equals(t), "two different results for " + r.key());
        }
        assertEquals(60, text.size());
    }

    // ------------------------------------------------------------------ rig

    /** The worker's wiring (as Worker does it), on the test's topics. */
    final class Rig implements AutoCloseable {
        final WorkerMetrics metrics = new WorkerMetrics(new SimpleMeterRegistry());
        final KafkaProducer<String, byte[]> producer;
        final ResultIndex index;
        final JobConsumer consumer;

        Rig(Chat chat, int maxInFlight) {
            Map<String, Object> c = new HashMap<>(Map.of("bootstrap.servers", broker.bootstrapServers(), "group.id", group,
                    "session.timeout.ms", "10000"));
            producer = new KafkaProducer<>(Map.of("bootstrap.servers", broker.bootstrapServers(), "enable.idempotence", "true",
                    "acks", "all", "max.block.ms", "5000"), new StringSerializer(), new ByteArraySerializer());
            index = new ResultIndex(results, c, 10_000);
            consumer = new JobConsumer(new JobConsumer.Settings(requests, results, dlq, maxInFlight, Duration.ofSeconds(1),
                    Duration.ofMillis(100), Duration.ofMillis(800), 3, "test"), c, producer, index, chat, metrics);
            index.start();
            consumer.start();
        }

        int finished() {
            return (int) (metrics.completed.count() + metrics.failed.count());
        }

        @Override
        public void close() {
            consumer.close();
            index.close();
            producer.close(Duration.ofSeconds(5));
        }
    }

    /** A stand-in for the gateway's chat: deterministic text per job, poison on request, outages, a gate. */
    static final class FakeChat implements Chat {
        final AtomicInteger calls = new AtomicInteger();
        final AtomicInteger running = new AtomicInteger();
        final AtomicInteger maxRunning = new AtomicInteger();
        final Map<String, AtomicInteger> perJob = new ConcurrentHashMap<>();
        volatile Semaphore gate;
        volatile long unavailableUntil;
        volatile boolean internal;
        volatile long delayMs;

        static String textFor(String jobId) {
            return "a caption of " + jobId;
        }

        int callsFor(String id) {
            AtomicInteger n = perJob.get(id);
            return n == null ? 0 : n.get();
        }

        @Override
        public Outcome run(ObjectNode body, Cancel cancel) throws Failure {
            calls.incrementAndGet();
            String id = body.path("user").asText();
            perJob.computeIfAbsent(id, k -> new AtomicInteger()).incrementAndGet();
            int now = running.incrementAndGet();
            maxRunning.accumulateAndGet(now, Math::max);
            try {
                if (System.nanoTime() < unavailableUntil) {
                    throw new Failure(Status.Code.UNAVAILABLE, new JobError("decoder-service is unavailable", "server_error",
                            "service_unavailable", null, "UNAVAILABLE"), null);
                }
                if (internal) {
                    throw new Failure(Status.Code.INTERNAL, new JobError("decoder exploded", "server_error", "internal_error",
                            null, "INTERNAL"), null);
                }
                if (body.toString().contains("POISON")) {
                    throw new Failure(Status.Code.INVALID_ARGUMENT, new JobError(
                            "messages[0].content[0].image_url: cannot identify image file (corrupt PNG)",
                            "invalid_request_error", null, "messages[0].content[0].image_url", "INVALID_ARGUMENT"), null);
                }
                Semaphore g = gate;
                if (g != null) {
                    while (!g.tryAcquire(50, TimeUnit.MILLISECONDS)) {
                        if (cancel.isCancelled()) {
                            throw new Failure(Status.Code.CANCELLED, new JobError("cancelled", "server_error", null, null,
                                    "CANCELLED"), null);
                        }
                    }
                }
                if (delayMs > 0) Thread.sleep(delayMs);
                ObjectNode usage = Json.MAPPER.createObjectNode().put("prompt_tokens", 10).put("completion_tokens", 4);
                return new Outcome(textFor(id), "length", usage, Json.MAPPER.createObjectNode(), "fake", "chatcmpl-" + id);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new Failure(Status.Code.CANCELLED, new JobError("interrupted", "server_error", null, null, "CANCELLED"), e);
            } finally {
                running.decrementAndGet();
            }
        }

        @Override
        public boolean reachable() {
            return true;
        }

        @Override
        public String address() {
            return "fake";
        }
    }

    // ------------------------------------------------------------------ helpers

    static String body(String id, String prompt) {
        ObjectNode b = Json.MAPPER.createObjectNode();
        b.putArray("messages").addObject().put("role", "user").put("content", prompt);
        b.put("max_tokens", 4);
        b.put("temperature", 0);
        b.put("user", id);
        return b.toString();
    }

    static String job(String id, String prompt) throws Exception {
        ObjectNode b = (ObjectNode) Json.MAPPER.readTree(body(id, prompt));
        b.put("id", id);
        b.putObject("metadata").put("source", "test");
        return b.toString();
    }

    private long uncommitted() {
        try {
            return kafka.uncommitted(group, requests);
        } catch (Exception e) {
            return -1;
        }
    }

    /** The failed result of a poison record produced under key {@code key}: its id may be the record's offset name. */
    private static JsonNode failedResult(Map<String, JsonNode> byId, List<ConsumerRecord<String, byte[]>> dead, String key) {
        for (var d : dead) {
            if (key.equals(d.key())) return byId.get(TestKafka.header(d, "vqwen.job.id"));
        }
        throw new AssertionError("no DLQ record with key " + key);
    }

    private static String errorOf(Map<String, JsonNode> byId, List<ConsumerRecord<String, byte[]>> dead, String key) {
        return failedResult(byId, dead, key).get("error").get("message").asText();
    }

    static void await(String what, Duration timeout, BooleanSupplier done) throws InterruptedException {
        long end = System.nanoTime() + timeout.toNanos();
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > end) throw new AssertionError("timed out after " + timeout + " waiting for " + what);
            Thread.sleep(50);
        }
    }
}
