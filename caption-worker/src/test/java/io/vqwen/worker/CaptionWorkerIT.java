package io.vqwen.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vqwen.cli.mesh.MeshLayout;
import io.vqwen.cli.mesh.MeshService;
import io.vqwen.kafka.KafkaBroker;
import io.vqwen.mesh.MeshHarness;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/**
 * The caption worker as a real process, between a real Kafka broker (KafkaBroker) and the real mesh (MeshHarness:
 * vision, projector, decoder and gateway on the bundled tiny model): every completed job's text must equal what
 * {@code /v1/chat/completions} answers for the same input, and nothing may be lost or answered twice differently
 * when the worker is killed, the broker restarts or the decoder is down.
 */
class CaptionWorkerIT {
    static final String PROMPT = "Describe this image in detail.";
    /** Tokens of the failure-scenario jobs: fewer than the golden's 24 keeps them quick on two CPU cores. */
    static final int SHORT = 8;

    static KafkaBroker broker;
    static TestKafka kafka;
    static MeshHarness mesh;
    static JsonNode golden;
    static final Map<String, String> imageUrls = new HashMap<>();
    /** "image/24" -> the text /v1/chat/completions answers for it. */
    static final Map<String, String> expected = new HashMap<>();

    String requests, results, dlq, group;

    @BeforeAll
    static void start() throws Exception {
        Path model = MeshLayout.findRepo().resolve("testdata/tiny-llava");
        golden = Json.MAPPER.readTree(model.resolve("golden.json").toFile());
        for (String image : List.of("image", "image2")) {
            imageUrls.put(image, "data:image/png;base64," + Base64.getEncoder().encodeToString(Files.readAllBytes(model.resolve(image + ".png"))));
        }
        broker = KafkaBroker.start();
        kafka = new TestKafka(broker.bootstrapServers());
        mesh = MeshHarness.start(model, Map.of());
        try (HttpClient http = HttpClient.newHttpClient()) {
            for (String image : List.of("image", "image2")) {
                for (int tokens : new int[] {24, SHORT}) {
                    HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(mesh.httpUri(MeshService.GATEWAY) + "/v1/chat/completions"))
                            .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(chatBody(image, tokens).toString()))
                            .build(), HttpResponse.BodyHandlers.ofString());
                    assertEquals(200, r.statusCode(), r.body());
                    expected.put(image + "/" + tokens, Json.MAPPER.readTree(r.body()).at("/choices/0/message/content").asText());
                }
            }
        }
        // The chat API itself agrees with transformers; the jobs must agree with the chat API.
        assertEquals(golden.get("generated_text").asText(), expected.get("image/24"));
        assertEquals(golden.get("image2_generated_text").asText(), expected.get("image2/24"));
    }

    @AfterAll
    static void stop() {
        if (mesh != null) mesh.close();
        if (kafka != null) kafka.close();
        if (broker != null) broker.close();
    }

    @BeforeEach
    void topics(TestInfo info) {
        String n = info.getTestMethod().orElseThrow().getName();
        requests = n + ".requests";
        results = n + ".results";
        dlq = n + ".dlq";
        group = n + ".group";
    }

    // ------------------------------------------------------------------ tests

    @Test
    void twoHundredJobsTenPercentPoisonGiveExactly180GoldenResults20FailuresAnd20DeadLetters() throws Exception {
        Map<String, String> poisonKind = new LinkedHashMap<>();
        Map<String, String> poisonValue = new HashMap<>();
        Map<String, String> validImage = new HashMap<>(); // job id, or "#i" for a record without id -> image
        try (WorkerProcess w = worker("big", 8)) {
            for (int i = 0; i < 200; i++) {
                String image = i % 2 == 0 ? "image" : "image2";
                String id = "big-" + i;
                String value;
                if (i % 10 == 7) {
                    String kind = switch (i / 10 % 4) {
                        case 0 -> "json";
                        case 1 -> "image";
                        case 2 -> "context";
                        default -> "params";
                    };
                    ObjectNode job = job(id, image, 24, i);
                    value = switch (kind) {
                        case "json" -> job.toString().substring(0, 80);
                        case "image" -> {
                            ((ObjectNode) job.at("/messages/0/content/0/image_url")).put("url", "data:image/png;base64,"
                                    + Base64.getEncoder().encodeToString("this is not a PNG file at all".getBytes()));
                            yield job.toString();
                        }
                        case "context" -> {
                            ((ObjectNode) job.at("/messages/0/content/1")).put("text", "word ".repeat(5000));
                            yield job.toString();
                        }
                        default -> job.put("temperature", -1).toString();
                    };
                    poisonKind.put(id, kind);
                    poisonValue.put(id, value);
                    kafka.send(requests, id, value);
                } else if (i % 20 == 3) {
                    // The OpenAI batch file format.
                    ObjectNode line = Json.MAPPER.createObjectNode().put("custom_id", id).put("method", "POST").put("url", "/v1/chat/completions");
                    line.set("body", chatBody(image, 24));
                    validImage.put(id, image);
                    kafka.send(requests, id, line.toString());
                } else if (i % 20 == 9) {
                    // No id: the worker names it after its topic, partition and offset.
                    ObjectNode job = job(id, image, 24, i);
                    job.remove("id");
                    validImage.put("#" + i, image);
                    kafka.send(requests, null, job.toString());
                } else {
                    validImage.put(id, image);
                    kafka.send(requests, id, job(id, image, 24, i).toString());
                }
            }
            await("200 results", Duration.ofMinutes(5), () -> w.metric("vqwen_worker_jobs_completed_total")
                    + w.metric("vqwen_worker_jobs_failed_total") >= 200, w);
            await("all offsets committed", Duration.ofSeconds(30), () -> uncommitted() == 0, w);
        }

        Map<String, JsonNode> byId = new HashMap<>();
        for (var r : kafka.readAll(results)) {
            JsonNode before = byId.put(r.key(), Json.MAPPER.readTree(r.value()));
            assertEquals(null, before, "a second result for " + r.key());
        }
        assertEquals(200, byId.size());

        // DLQ records keep the original key and value; their header names the failed result (a record that is not
        // JSON has no readable id: it is named by its topic, partition and offset).
        List<ConsumerRecord<String, byte[]>> dead = kafka.readAll(dlq);
        assertEquals(20, dead.size());
        Map<String, String> kindOfFailed = new HashMap<>();
        for (var d : dead) {
            String jobId = TestKafka.header(d, "vqwen.job.id");
            assertEquals(poisonValue.get(d.key()), TestKafka.text(d), "the DLQ record carries the original payload");
            assertNotNull(byId.get(jobId), "no failed result for DLQ record " + jobId);
            assertEquals(byId.get(jobId).at("/error/message").asText(), TestKafka.header(d, "vqwen.error.message"));
            kindOfFailed.put(jobId, poisonKind.get(d.key()));
        }

        int completed = 0, failed = 0;
        for (JsonNode r : byId.values()) {
            if (r.get("status").asText().equals("completed")) {
                completed++;
                String key = r.get("id").asText().startsWith(requests + "-")
                        ? "#" + r.get("metadata").get("i").asInt() : r.get("id").asText();
                String image = validImage.get(key);
                assertNotNull(image, "a completed result for something that is not a valid job: " + r);
                assertEquals(expected.get(image + "/24"), r.get("text").asText(), key + " (" + image + ")");
                assertEquals(24, r.at("/usage/completion_tokens").asInt());
                assertEquals("length", r.get("finish_reason").asText());
                assertTrue(r.at("/timings/decode_ms").isNumber(), "timings: " + r.get("timings"));
                assertEquals("tiny-llava", r.get("model").asText());
            } else {
                failed++;
                assertEquals("failed", r.get("status").asText());
                String kind = kindOfFailed.get(r.get("id").asText());
                assertNotNull(kind, "a failed result without its DLQ record: " + r);
                String message = r.at("/error/message").asText();
                switch (kind) {
                    case "json" -> assertTrue(message.startsWith("The record is not valid JSON: "), message);
                    case "image" -> assertTrue(message.startsWith("messages[0].content[0].image_url"), message);
                    case "context" -> assertTrue(message.startsWith("This model's maximum context length is 4096 tokens"), message);
                    default -> assertEquals("temperature must be >= 0, got -1.0.", message);
                }
            }
        }
        assertEquals(180, completed);
        assertEquals(20, failed);
        assertEquals(5, kindOfFailed.values().stream().filter("image"::equals).count());
        assertEquals(180, validImage.size());
        assertEquals("big-3", byId.get("big-3").get("custom_id").asText());
    }

    @Test
    void killingTheWorkerMidRunLosesNothingAndAnswersNothingTwiceDifferently() throws Exception {
        Map<String, String> jobs = produce("kill", 40);
        try (WorkerProcess w = worker("kill", 4)) {
            await("8 results", Duration.ofMinutes(2), () -> w.metric("vqwen_worker_jobs_completed_total") >= 8, w);
            w.kill();
            assertTrue(kafka.readAll(results).size() < 40, "the run was over before the kill");
            w.start();
            await("40 jobs", Duration.ofMinutes(3), () -> distinctResults() >= 40, w);
            await("all offsets committed", Duration.ofSeconds(30), () -> uncommitted() == 0, w);
        }
        checkAllCompletedOnce(jobs);
    }

    @Test
    void aBrokerRestartMidRunLosesNothingAndTheApiSays503MeanwhileThenRecovers() throws Exception {
        Map<String, String> jobs = produce("broker", 40);
        try (WorkerProcess w = worker("broker", 4)) {
            await("8 results", Duration.ofMinutes(2), () -> w.metric("vqwen_worker_jobs_completed_total") >= 8, w);
            broker.stop();
            HttpResponse<String> r = w.post("/v1/jobs", chatBody("image", SHORT).toString());
            assertEquals(503, r.statusCode(), r.body());
            assertTrue(r.body().contains("did not take the job"), r.body());
            broker.restart();
            await("40 jobs", Duration.ofMinutes(3), () -> distinctResults() >= 40, w);
            await("all offsets committed", Duration.ofSeconds(60), () -> uncommitted() == 0, w);
        }
        checkAllCompletedOnce(jobs);
    }

    @Test
    void theDecoderDownForTenSecondsMakesJobsWaitThenComplete() throws Exception {
        Map<String, String> jobs = produce("decoder", 40);
        try (WorkerProcess w = worker("decoder", 4)) {
            await("8 results", Duration.ofMinutes(2), () -> w.metric("vqwen_worker_jobs_completed_total") >= 8, w);
            mesh.kill(MeshService.DECODER);
            Thread.sleep(10_000);
            double doneWhileDown = w.metric("vqwen_worker_jobs_completed_total");
            assertTrue(doneWhileDown < 40, "all jobs were done before the decoder went down");
            assertTrue(w.metric("vqwen_worker_jobs_retried_total") > 0, "no job noticed the decoder was down");
            mesh.restart(MeshService.DECODER);
            await("40 jobs", Duration.ofMinutes(3), () -> distinctResults() >= 40, w);
            assertEquals(0.0, w.metric("vqwen_worker_jobs_failed_total"), "a job failed because the decoder was down");
        }
        checkAllCompletedOnce(jobs);
    }

    @Test
    void theJobApiRunsAValidJobAndFailsACorruptImageClearlyThenGoesOn() throws Exception {
        try (WorkerProcess w = worker("api", 4)) {
            String first = submit(w, chatBody("image", 24));
            JsonNode done = awaitStatus(w, first, "completed");
            assertEquals(golden.get("generated_text").asText(), done.at("/result/text").asText());

            ObjectNode corrupt = chatBody("image", 24);
            ((ObjectNode) corrupt.at("/messages/0/content/0/image_url")).put("url", "data:image/png;base64,"
                    + Base64.getEncoder().encodeToString(new byte[] {(byte) 0x89, 'P', 'N', 'G', 1, 2, 3}));
            String bad = submit(w, corrupt);
            JsonNode failed = awaitStatus(w, bad, "failed");
            String message = failed.at("/error/message").asText();
            assertTrue(message.startsWith("messages[0].content[0].image_url"), message);
            assertEquals("INVALID_ARGUMENT", failed.at("/error/grpc_status").asText());

            String next = submit(w, chatBody("image2", 24));
            assertEquals(golden.get("image2_generated_text").asText(), awaitStatus(w, next, "completed").at("/result/text").asText());

            // Submitting a finished id again does not run it again.
            ObjectNode again = chatBody("image", 24).put("id", first);
            HttpResponse<String> r = w.post("/v1/jobs", again.toString());
            assertEquals(200, r.statusCode(), r.body());
            assertEquals("completed", Json.MAPPER.readTree(r.body()).get("status").asText());
            assertEquals("queued", Json.MAPPER.readTree(w.get("/v1/jobs/never-submitted").body()).get("status").asText());
            assertEquals(400, w.post("/v1/jobs", "[1, 2]").statusCode());
        }
        assertEquals(3, kafka.readAll(results).size());
        assertEquals(1, kafka.readAll(dlq).size());
    }

    // ------------------------------------------------------------------ helpers

    private WorkerProcess worker(String name, int maxInFlight) {
        Map<String, String> p = new LinkedHashMap<>();
        p.put("kafka.bootstrap.servers", broker.bootstrapServers());
        p.put("quarkus.grpc.clients.chat.host", "127.0.0.1");
        p.put("quarkus.grpc.clients.chat.port", Integer.toString(mesh.grpcPort(MeshService.GATEWAY)));
        p.put("vqwen.kafka.topic.requests", requests);
        p.put("vqwen.kafka.topic.results", results);
        p.put("vqwen.kafka.topic.dlq", dlq);
        p.put("vqwen.kafka.group-id", group);
        p.put("vqwen.kafka.partitions", "4");
        p.put("vqwen.worker.instance-id", name + "-0");
        p.put("vqwen.worker.max-in-flight", Integer.toString(maxInFlight));
        p.put("vqwen.worker.submit-timeout", "3s");
        p.put("vqwen.worker.drain-timeout", "5s");
        return new WorkerProcess(p).start();
    }

    /** {@code n} image / image2 jobs of SHORT tokens; returns id -> image. */
    private Map<String, String> produce(String prefix, int n) throws Exception {
        // The worker creates the topics; produce once they exist (the first worker start below) would race, so
        // create them here with the same partition count.
        kafka.createTopics(4, requests, results, dlq);
        Map<String, String> jobs = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            String image = i % 2 == 0 ? "image" : "image2";
            String id = prefix + "-" + i;
            jobs.put(id, image);
            kafka.send(requests, id, job(id, image, SHORT, i).toString());
        }
        return jobs;
    }

    private void checkAllCompletedOnce(Map<String, String> jobs) throws Exception {
        Map<String, Set<String>> texts = new HashMap<>();
        int records = 0;
        for (var r : kafka.readAll(results)) {
            JsonNode n = Json.MAPPER.readTree(r.value());
            assertEquals("completed", n.get("status").asText(), r.key() + ": " + n);
            texts.computeIfAbsent(r.key(), k -> new HashSet<>()).add(n.get("text").asText());
            records++;
        }
        assertEquals(jobs.keySet(), texts.keySet(), "lost or unknown jobs");
        for (var e : jobs.entrySet()) {
            assertEquals(Set.of(expected.get(e.getValue() + "/" + SHORT)), texts.get(e.getKey()), e.getKey());
        }
        System.out.printf("%d jobs, %d result records (%d duplicates, all equal)%n", jobs.size(), records, records - jobs.size());
    }

    private int distinctResults() {
        Set<String> ids = new HashSet<>();
        for (var r : kafka.readAll(results)) ids.add(r.key());
        return ids.size();
    }

    private long uncommitted() {
        try {
            return kafka.uncommitted(group, requests);
        } catch (Exception e) {
            return -1;
        }
    }

    private static String submit(WorkerProcess w, ObjectNode body) throws Exception {
        HttpResponse<String> r = w.post("/v1/jobs", body.toString());
        assertEquals(202, r.statusCode(), r.body());
        String id = Json.MAPPER.readTree(r.body()).get("id").asText();
        assertEquals("/v1/jobs/" + id, r.headers().firstValue("Location").orElse(null));
        return id;
    }

    private static JsonNode awaitStatus(WorkerProcess w, String id, String status) throws Exception {
        long end = System.nanoTime() + Duration.ofMinutes(2).toNanos();
        JsonNode last = null;
        while (System.nanoTime() < end) {
            HttpResponse<String> r = w.get("/v1/jobs/" + id);
            assertEquals(200, r.statusCode(), r.body());
            last = Json.MAPPER.readTree(r.body());
            String s = last.get("status").asText();
            if (s.equals(status)) return last;
            assertTrue(s.equals("queued") || s.equals("running"), "job " + id + " ended " + last + ", expected " + status);
            Thread.sleep(100);
        }
        throw new AssertionError("job " + id + " not " + status + " within 2 min: " + last + "\n" + w.tail());
    }

    static ObjectNode chatBody(String image, int maxTokens) {
        ObjectNode b = Json.MAPPER.createObjectNode();
        ArrayNode content = b.putArray("messages").addObject().put("role", "user").putArray("content");
        content.addObject().put("type", "image_url").putObject("image_url").put("url", imageUrls.get(image));
        content.addObject().put("type", "text").put("text", PROMPT);
        b.put("max_tokens", maxTokens);
        b.put("temperature", 0);
        return b;
    }

    static ObjectNode job(String id, String image, int maxTokens, int i) {
        ObjectNode j = Json.MAPPER.createObjectNode().put("id", id);
        j.setAll(chatBody(image, maxTokens));
        j.putObject("metadata").put("i", i).put("image", image);
        return j;
    }

    private static void await(String what, Duration timeout, BooleanSupplier done, WorkerProcess w) throws InterruptedException {
        long end = System.nanoTime() + timeout.toNanos();
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > end) throw new AssertionError("timed out after " + timeout + " waiting for " + what + "; worker log:\n" + w.tail());
            Thread.sleep(250);
        }
    }
}
