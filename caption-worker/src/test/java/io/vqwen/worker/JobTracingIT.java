package io.vqwen.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vqwen.cli.mesh.MeshLayout;
import io.vqwen.cli.mesh.MeshService;
import io.vqwen.kafka.KafkaBroker;
import io.vqwen.mesh.MeshHarness;
import io.vqwen.mesh.OtlpReceiver;
import io.vqwen.mesh.OtlpReceiver.Received;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.time.Duration;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A Kafka job continues the trace of whoever produced it: the worker reads the record's {@code traceparent}
 * header, and its chat call carries the trace on through the gateway to vision, projector and decoder. A real
 * broker, the mesh and the worker as processes, all exporting to one OTLP receiver of our own.
 */
class JobTracingIT {
    static OtlpReceiver receiver;
    static KafkaBroker broker;
    static TestKafka kafka;
    static MeshHarness mesh;
    static WorkerProcess worker;

    @BeforeAll
    static void start() throws Exception {
        receiver = OtlpReceiver.start();
        broker = KafkaBroker.start();
        kafka = new TestKafka(broker.bootstrapServers());
        Map<String, String> props = new HashMap<>();
        props.put("kafka.bootstrap.servers", broker.bootstrapServers());
        props.put("quarkus.grpc.clients.chat.host", "127.0.0.1");
        props.put("vqwen.kafka.topic.requests", "traced.requests");
        props.put("vqwen.kafka.topic.results", "traced.results");
        props.put("vqwen.kafka.topic.dlq", "traced.dlq");
        props.put("vqwen.kafka.group-id", "traced");
        props.put("quarkus.otel.bsp.schedule.delay", "100ms");
        worker = new WorkerProcess(props).environment("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())
                .environment("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf");
        mesh = MeshHarness.builder()
                .environment("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())
                .environment("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
                .property("quarkus.otel.bsp.schedule.delay", "100ms")
                .property(MeshService.GATEWAY, "vqwen.gateway.jobs-url", "http://127.0.0.1:" + worker.httpPort)
                .start();
        worker.property("quarkus.grpc.clients.chat.port", Integer.toString(mesh.grpcPort(MeshService.GATEWAY))).start();
    }

    @AfterAll
    static void stop() {
        if (worker != null) worker.close();
        if (mesh != null) mesh.close();
        if (kafka != null) kafka.close();
        if (broker != null) broker.close();
        if (receiver != null) receiver.close();
    }

    @Test
    void aJobRecordWithATraceparentYieldsWorkerGatewayAndDecoderSpansInThatTrace() throws Exception {
        String traceId = "0af7651916cd43dd8448eb211c80319c", producerSpan = "b7ad6b7169203331";
        String job = job("traced-1", "image.png");
        kafka.send("traced.requests", "traced-1", job, Map.of("traceparent", "00-" + traceId + "-" + producerSpan + "-01"));
        List<Received> trace = awaitTrace(traceId, Set.of("caption.job", "chat.parse", "vision.tower", "decoder.first_token"), producerSpan);

        Received job1 = only(trace, "caption.job");
        assertEquals("caption-worker", job1.service());
        assertEquals(producerSpan, job1.parentSpanId(), "the record's traceparent is the parent of the job's span");
        assertEquals("traced-1", job1.attributes().get("vqwen.job_id"));
        assertEquals("completed", job1.attributes().get("vqwen.job_end"));
        assertEquals(Set.of("caption-worker", "gateway", "vision-service", "projector-service", "decoder-service"),
                trace.stream().map(Received::service).collect(Collectors.toSet()));
        assertParented(trace, producerSpan);
        // The worker's call to the gateway's ChatService is the hop between them.
        Map<String, Received> byId = trace.stream().collect(Collectors.toMap(Received::spanId, s -> s));
        Received chatServer = trace.stream().filter(s -> s.service().equals("gateway") && s.kind().equals("SPAN_KIND_SERVER"))
                .findFirst().orElseThrow();
        Received chatClient = byId.get(chatServer.parentSpanId());
        assertEquals("caption-worker", chatClient.service());
        assertEquals(job1.spanId(), chatClient.parentSpanId(), "the chat call runs under the job's span");
    }

    @Test
    void aJobSubmittedThroughTheGatewaysJobsApiContinuesThatRequestsTrace() throws Exception {
        String traceId = "5b8efff798038103d269b633813fc60c", clientSpan = "eee19b7ec3c1b174";
        String body = job("traced-2", "image2.png");
        try (HttpClient http = HttpClient.newHttpClient()) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(mesh.httpUri(MeshService.GATEWAY) + "/v1/jobs"))
                    .header("Content-Type", "application/json").header("traceparent", "00-" + traceId + "-" + clientSpan + "-01")
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(202, r.statusCode(), r.body());
        }
        List<Received> trace = awaitTrace(traceId, Set.of("caption.job", "decoder.first_token"), clientSpan);
        Map<String, Received> byId = trace.stream().collect(Collectors.toMap(Received::spanId, s -> s));
        // client -> gateway POST /v1/jobs -> worker POST /v1/jobs -> record -> caption.job -> gateway chat -> ...
        Received proxy = trace.stream().filter(s -> s.service().equals("gateway") && s.parentSpanId().equals(clientSpan))
                .findFirst().orElseThrow(() -> new AssertionError("no gateway span under the client's: " + trace));
        assertEquals("SPAN_KIND_SERVER", proxy.kind());
        Received job = only(trace, "caption.job");
        Received producer = byId.get(job.parentSpanId());
        assertEquals("caption-worker", producer.service(), "the record carries the worker's /v1/jobs request span");
        assertParented(trace, clientSpan);
    }

    /** A 4-token caption job of one of the fixture's images (each test its own, so neither finds it cached). */
    private static String job(String id, String imageFile) throws Exception {
        String url = "data:image/png;base64," + Base64.getEncoder().encodeToString(
                Files.readAllBytes(MeshLayout.findRepo().resolve("testdata/tiny-llava").resolve(imageFile)));
        ObjectNode j = Json.MAPPER.createObjectNode().put("id", id);
        ArrayNode content = j.putArray("messages").addObject().put("role", "user").putArray("content");
        content.addObject().put("type", "image_url").putObject("image_url").put("url", url);
        content.addObject().put("type", "text").put("text", CaptionWorkerIT.PROMPT);
        return j.put("max_tokens", 4).put("temperature", 0).toString();
    }

    /**
     * The trace once it holds {@code names} and is whole: spans arrive as each ends (a parent after its children),
     * so wait until every parent but the producer's own span has arrived too. A parent that never comes fails here.
     */
    private static List<Received> awaitTrace(String traceId, Set<String> names, String outsideParent) throws InterruptedException {
        Predicate<List<Received>> done = all -> {
            List<Received> spans = all.stream().filter(s -> s.traceId().equals(traceId)).toList();
            Set<String> ids = spans.stream().map(Received::spanId).collect(Collectors.toSet());
            return spans.stream().map(Received::name).collect(Collectors.toSet()).containsAll(names)
                    && spans.stream().allMatch(s -> ids.contains(s.parentSpanId()) || s.parentSpanId().equals(outsideParent));
        };
        receiver.await(done, Duration.ofSeconds(60), names + " and every parent in trace " + traceId);
        return receiver.trace(traceId);
    }

    /** No root inside the mesh (the producer's span is the root), and every other parent is a span of the trace. */
    private static void assertParented(List<Received> trace, String outsideParent) {
        Set<String> ids = trace.stream().map(Received::spanId).collect(Collectors.toSet());
        for (Received s : trace) {
            assertTrue(ids.contains(s.parentSpanId()) || s.parentSpanId().equals(outsideParent),
                    s.service() + ":" + s.name() + " has its parent in the trace");
        }
    }

    private static Received only(List<Received> trace, String name) {
        List<Received> l = trace.stream().filter(s -> s.name().equals(name)).toList();
        assertEquals(1, l.size(), name + ": " + l);
        return l.getFirst();
    }
}
