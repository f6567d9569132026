package io.vqwen.worker;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vqwen.cli.mesh.MeshLayout;
import io.vqwen.cli.mesh.MeshService;
import io.vqwen.kafka.KafkaBroker;
import io.vqwen.mesh.MeshHarness;
import io.vqwen.proto.v1.ChatChunk;
import io.vqwen.proto.v1.ChatRequest;
import io.vqwen.proto.v1.ChatServiceGrpc;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Benchmark, not a test (scripts/bench-kafka.sh): jobs per second through Kafka on the tiny CPU model, the per-job
 * cost of going through Kafka instead of calling the chat directly, and the interactive time to first token while
 * the worker is busy with bulk jobs. Prints a Markdown report.
 *
 * <p>Arguments: [jobs for throughput, default 200] [sequential jobs, default 30] [max-in-flight, default 8] [tokens, default 24].
 */
public final class KafkaBench {
    private static final String PROMPT = "Describe this image in detail.";

    private final MeshHarness mesh;
    private final KafkaBroker broker;
    private final TestKafka kafka;
    private final Map<String, String> imageUrls = new HashMap<>();
    private final int tokens;
    private final Map<String, Long> resultSeen = new ConcurrentHashMap<>();
    private final AtomicBoolean tailing = new AtomicBoolean(true);

    private KafkaBench(MeshHarness mesh, KafkaBroker broker, int tokens) throws Exception {
        this.mesh = mesh;
        this.broker = broker;
        this.kafka = new TestKafka(broker.bootstrapServers());
        this.tokens = tokens;
        Path model = MeshLayout.findRepo().resolve("testdata/tiny-llava");
        for (String image : List.of("image", "image2")) {
            imageUrls.put(image, "data:image/png;base64," + Base64.getEncoder().encodeToString(Files.readAllBytes(model.resolve(image + ".png"))));
        }
    }

    public static void main(String[] args) throws Exception {
        int throughputJobs = args.length > 0 ? Integer.parseInt(args[0]) : 200;
        int sequential = args.length > 1 ? Integer.parseInt(args[1]) : 30;
        int inFlight = args.length > 2 ? Integer.parseInt(args[2]) : 8;
        int tokens = args.length > 3 ? Integer.parseInt(args[3]) : 24;
        Path model = MeshLayout.findRepo().resolve("testdata/tiny-llava");
        double load0 = loadAverage();
        try (KafkaBroker broker = KafkaBroker.start(); MeshHarness mesh = MeshHarness.start(model, Map.of())) {
            KafkaBench b = new KafkaBench(mesh, broker, tokens);
            Map<String, String> props = new LinkedHashMap<>();
            props.put("kafka.bootstrap.servers", broker.bootstrapServers());
            props.put("quarkus.grpc.clients.chat.host", "127.0.0.1");
            props.put("quarkus.grpc.clients.chat.port", Integer.toString(mesh.grpcPort(MeshService.GATEWAY)));
            props.put("vqwen.kafka.partitions", "4");
            props.put("vqwen.worker.max-in-flight", Integer.toString(inFlight));
            props.put("vqwen.worker.instance-id", "bench-0");
            try (WorkerProcess w = new WorkerProcess(props).start()) {
                b.run(throughputJobs, sequential, inFlight, load0);
            } finally {
                b.tailing.set(false);
                b.kafka.close();
            }
        }
    }

    private void run(int throughputJobs, int sequential, int inFlight, double load0) throws Exception {
        Thread tail = Thread.ofPlatform().daemon().start(this::tailResults);
        ChatServiceGrpc.ChatServiceBlockingStub chat = ChatServiceGrpc.newBlockingStub(mesh.channel(MeshService.GATEWAY));

        // Warm-up: JIT, the embedding cache (both images), the worker's first jobs.
        for (int i = 0; i < 10; i++) direct(chat, i % 2 == 0 ? "image" : "image2");
        runThroughKafka("warm", 10, inFlight);

        // 1. One job at a time, direct and through Kafka taking turns (so both see the same machine load): the
        // latency Kafka adds to a job.
        double[] directMs = new double[sequential];
        double[] kafkaMs = new double[sequential];
        double[] queuedMs = new double[sequential];
        double[] chatMs = new double[sequential];
        double[] restMs = new double[sequential];
        double[] overheadMs = new double[sequential];
        for (int i = 0; i < sequential; i++) {
            String image = i % 2 == 0 ? "image" : "image2";
            directMs[i] = direct(chat, image);
            String id = "seq-" + i;
            long t0 = System.nanoTime();
            kafka.send("vqwen.caption.requests", id, job(id, image).toString());
            JsonNode r = awaitResult(id);
            kafkaMs[i] = (resultSeen.get(id) - t0) / 1e6;
            queuedMs[i] = r.at("/job/queued_ms").asDouble();
            chatMs[i] = r.at("/job/chat_ms").asDouble();
            overheadMs[i] = kafkaMs[i] - chatMs[i];
            restMs[i] = overheadMs[i] - queuedMs[i];
        }

        // 2. Throughput at the worker's concurrency: direct calls vs jobs through Kafka, two rounds taking turns.
        double[] directS = new double[2];
        double[] kafkaS = new double[2];
        for (int round = 0; round < 2; round++) {
            long t0 = System.nanoTime();
            try (ExecutorService pool = Executors.newFixedThreadPool(inFlight)) {
                List<Future<Double>> fs = new ArrayList<>();
                for (int i = 0; i < throughputJobs; i++) {
                    String image = i % 2 == 0 ? "image" : "image2";
                    fs.add(pool.submit(() -> direct(chat, image)));
                }
                for (Future<Double> f : fs) f.get();
            }
            directS[round] = (System.nanoTime() - t0) / 1e9;
            kafkaS[round] = runThroughKafka("tp" + round, throughputJobs, inFlight);
        }

        // 3. Interactive SSE while the worker is saturated with bulk jobs.
        double[] idleTtft = new double[10];
        for (int i = 0; i < idleTtft.length; i++) idleTtft[i] = sseTtft();
        for (int i = 0; i < throughputJobs; i++) {
            kafka.send("vqwen.caption.requests", "bulk-" + i, job("bulk-" + i, i % 2 == 0 ? "image" : "image2").toString());
        }
        Thread.sleep(2000);
        double[] busyTtft = new double[10];
        for (int i = 0; i < busyTtft.length; i++) busyTtft[i] = sseTtft();
        long bulkDone = System.nanoTime() + Duration.ofMinutes(10).toNanos();
        while (countPrefix("bulk-") < throughputJobs && System.nanoTime() < bulkDone) Thread.sleep(200);
        tailing.set(false);
        tail.join(5000);

        double load1 = loadAverage();
        System.out.printf("""
                ## Results

                Machine: %d CPU cores (shared with other work: load average %.1f at start, %.1f at end), tiny-llava on the
                CPU backend, %d generated tokens per job (greedy, image.png / image2.png alternating, the golden prompt),
                broker: one KRaft node from KafkaBroker on loopback, worker max-in-flight %d, decoder defaults (max-running 64).

                ### One job at a time (%d jobs each way, taking turns)

                | path | p50 ms | mean ms | p90 ms |
                |---|---:|---:|---:|
                | gRPC ChatService.Chat directly | %.1f | %.1f | %.1f |
                | Kafka: produce -> worker -> result visible to a consumer | %.1f | %.1f | %.1f |
                | of which: the worker's chat call (result's job.chat_ms) | %.1f | %.1f | %.1f |
                | **Kafka's part: end to end minus the job's own chat call** | **%.1f** | **%.1f** | **%.1f** |
                | of which: produce -> fetched -> job started (job.queued_ms) | %.1f | %.1f | %.1f |
                | of which: result write, acknowledgement, fetch by the reader | %.1f | %.1f | %.1f |

                Per-job overhead of Kafka: **%.1f ms** (p50 of end to end minus the job's own chat call); the p50s of the
                direct and the Kafka rows differ by %.1f ms.

                ### Throughput (%d jobs, %d at once)

                | path | round 1 s | round 1 jobs/s | round 2 s | round 2 jobs/s |
                |---|---:|---:|---:|---:|
                | gRPC ChatService.Chat directly, %d client threads | %.1f | %.2f | %.1f | %.2f |
                | Kafka: all produced at once, until the last result | %.1f | %.2f | %.1f | %.2f |

                ### Interactive SSE next to bulk jobs (time to first content token, 10 requests each)

                | state | p50 ms | mean ms | max ms |
                |---|---:|---:|---:|
                | worker idle | %.1f | %.1f | %.1f |
                | worker running %d bulk jobs at once | %.1f | %.1f | %.1f |
                """, Runtime.getRuntime().availableProcessors(), load0, load1, tokens, inFlight, sequential,
                pct(directMs, 50), mean(directMs), pct(directMs, 90),
                pct(kafkaMs, 50), mean(kafkaMs), pct(kafkaMs, 90),
                pct(chatMs, 50), mean(chatMs), pct(chatMs, 90),
                pct(overheadMs, 50), mean(overheadMs), pct(overheadMs, 90),
                pct(queuedMs, 50), mean(queuedMs), pct(queuedMs, 90),
                pct(restMs, 50), mean(restMs), pct(restMs, 90),
                pct(overheadMs, 50), pct(kafkaMs, 50) - pct(directMs, 50),
                throughputJobs, inFlight, inFlight, directS[0], throughputJobs / directS[0], directS[1], throughputJobs / directS[1],
                kafkaS[0], throughputJobs / kafkaS[0], kafkaS[1], throughputJobs / kafkaS[1],
                pct(idleTtft, 50), mean(idleTtft), max(idleTtft), inFlight, pct(busyTtft, 50), mean(busyTtft), max(busyTtft));
    }

    /** Produces n jobs at once and waits for their n results; returns the seconds from the first send to the last result. */
    private double runThroughKafka(String prefix, int n, int inFlight) throws Exception {
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
            String id = prefix + "-" + i;
            kafka.send("vqwen.caption.requests", id, job(id, i % 2 == 0 ? "image" : "image2").toString());
        }
        long end = System.nanoTime() + Duration.ofMinutes(10).toNanos();
        while (countPrefix(prefix + "-") < n) {
            if (System.nanoTime() > end) throw new IllegalStateException("jobs " + prefix + " did not finish");
            Thread.sleep(20);
        }
        long last = resultSeen.entrySet().stream().filter(e -> e.getKey().startsWith(prefix + "-")).mapToLong(Map.Entry::getValue).max().orElseThrow();
        return (last - t0) / 1e9;
    }

    private long countPrefix(String prefix) {
        return resultSeen.keySet().stream().filter(k -> k.startsWith(prefix)).count();
    }

    private final Map<String, JsonNode> results = new ConcurrentHashMap<>();

    private JsonNode awaitResult(String id) throws InterruptedException {
        long end = System.nanoTime() + Duration.ofMinutes(2).toNanos();
        while (!results.containsKey(id)) {
            if (System.nanoTime() > end) throw new IllegalStateException("no result for " + id);
            Thread.sleep(1);
        }
        return results.get(id);
    }

    /** Follows the results topic and notes when each result became visible. */
    private void tailResults() {
        try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(Map.of("bootstrap.servers", broker.bootstrapServers(),
                "fetch.max.wait.ms", "5"), new StringDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> parts = new ArrayList<>();
            while (parts.isEmpty() && tailing.get()) {
                c.partitionsFor("vqwen.caption.results", Duration.ofSeconds(5)).forEach(p -> parts.add(new TopicPartition(p.topic(), p.partition())));
            }
            c.assign(parts);
            c.seekToBeginning(parts);
            while (tailing.get()) {
                for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(5))) {
                    // The time first: awaitResult returns as soon as the result itself is there.
                    resultSeen.putIfAbsent(r.key(), System.nanoTime());
                    try {
                        results.put(r.key(), Json.MAPPER.readTree(r.value()));
                    } catch (java.io.IOException e) {
                        throw new IllegalStateException(e);
                    }
                }
            }
        }
    }

    private double direct(ChatServiceGrpc.ChatServiceBlockingStub chat, String image) {
        long t0 = System.nanoTime();
        Iterator<ChatChunk> it = chat.chat(ChatRequest.newBuilder().setBodyJson(chatBody(image).toString()).build());
        while (it.hasNext()) it.next();
        return (System.nanoTime() - t0) / 1e6;
    }

    /** Time to the first SSE chunk with content, ms. */
    private double sseTtft() throws Exception {
        ObjectNode body = chatBody("image").put("stream", true);
        HttpRequest req = HttpRequest.newBuilder(URI.create(mesh.httpUri(MeshService.GATEWAY) + "/v1/chat/completions"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body.toString())).build();
        long t0 = System.nanoTime();
        try (HttpClient http = HttpClient.newHttpClient()) {
            HttpResponse<java.io.InputStream> r = http.send(req, HttpResponse.BodyHandlers.ofInputStream());
            double ttft = -1;
            try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
                for (String line; (line = in.readLine()) != null; ) {
                    if (ttft < 0 && line.startsWith("data: {") && !Json.MAPPER.readTree(line.substring(6)).at("/choices/0/delta/content").asText("").isEmpty()) {
                        ttft = (System.nanoTime() - t0) / 1e6;
                    }
                }
            }
            return ttft;
        }
    }

    private ObjectNode chatBody(String image) {
        ObjectNode b = Json.MAPPER.createObjectNode();
        ArrayNode content = b.putArray("messages").addObject().put("role", "user").putArray("content");
        content.addObject().put("type", "image_url").putObject("image_url").put("url", imageUrls.get(image));
        content.addObject().put("type", "text").put("text", PROMPT);
        b.put("max_tokens", tokens);
        b.put("temperature", 0);
        return b;
    }

    private ObjectNode job(String id, String image) {
        ObjectNode j = Json.MAPPER.createObjectNode().put("id", id);
        j.setAll(chatBody(image));
        return j;
    }

    private static double loadAverage() {
        try {
            return Double.parseDouble(Files.readString(Path.of("/proc/loadavg")).split(" ")[0]);
        } catch (Exception e) {
            return Double.NaN;
        }
    }

    private static double pct(double[] xs, int p) {
        double[] s = xs.clone();
        Arrays.sort(s);
        return s[Math.min(s.length - 1, (int) Math.ceil(p / 100.0 * s.length) - 1)];
    }

    private static double mean(double[] xs) {
        return Arrays.stream(xs).average().orElse(Double.NaN);
    }

    private static double max(double[] xs) {
        return Arrays.stream(xs).max().orElse(Double.NaN);
    }
}
