package io.vqwen.gateway.mesh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vqwen.cli.mesh.MeshService;
import io.vqwen.mesh.MeshHarness;
import io.vqwen.mesh.OtlpReceiver;
import io.vqwen.mesh.OtlpReceiver.Received;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Tracing end to end: the four services as processes, exporting to an OTLP receiver of our own, configured by the
 * standard {@code OTEL_EXPORTER_OTLP_ENDPOINT} and {@code OTEL_EXPORTER_OTLP_PROTOCOL} (http/protobuf); the projector
 * by {@code quarkus.otel.exporter.otlp.*} properties instead, over gRPC.
 */
class TracingIT {
    /** The spans docs/tracing.md names, by the service that records them. */
    static final Map<String, String> NAMED = Map.ofEntries(
            Map.entry("chat.parse", "gateway"), Map.entry("chat.tokenize", "gateway"), Map.entry("embedding.cache", "projector-service"),
            Map.entry("sse.write", "gateway"), Map.entry("vision.queue", "vision-service"),
            Map.entry("vision.preprocess", "vision-service"), Map.entry("vision.tower", "vision-service"),
            Map.entry("projector.forward", "projector-service"), Map.entry("decoder.queue", "decoder-service"),
            Map.entry("decoder.prefill", "decoder-service"), Map.entry("decoder.first_token", "decoder-service"));

    static OtlpReceiver receiver;
    static MeshHarness mesh;
    static GatewayApi api;

    @BeforeAll
    static void start() {
        receiver = OtlpReceiver.start();
        mesh = MeshHarness.builder()
                .environment("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())
                .environment("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
                // Export within a fraction of a second rather than the batch processor's default 5 s: test speed only.
                .property("quarkus.otel.bsp.schedule.delay", "100ms")
                // The other OTLP protocol, set by Quarkus properties, which win over the OTEL_* variables.
                .property(MeshService.PROJECTOR, "quarkus.otel.exporter.otlp.endpoint", receiver.grpcEndpoint())
                .property(MeshService.PROJECTOR, "quarkus.otel.exporter.otlp.protocol", "grpc")
                .start();
        api = new GatewayApi(mesh.httpUri(MeshService.GATEWAY), mesh.grpcPort(MeshService.GATEWAY), null);
    }

    @AfterAll
    static void stop() {
        if (mesh != null) mesh.close();
        if (receiver != null) receiver.close();
    }

    @Test
    void oneStreamedImageRequestIsOneTraceAcrossAllFourServices() throws Exception {
        byte[] png = Goldens.freshPng(1201);
        GatewayApi.Answer a = api.stream(GatewayApi.streamed(GatewayApi.imageRequestUrl(Goldens.dataUrl(png, "image/png"), 6), true));
        assertEquals(200, a.status(), a.text());

        // The trace is the one whose gateway parse span this request made; wait until every named span is in it.
        String traceId = receiver.await(spans -> spans.stream().anyMatch(s -> s.name().equals("chat.parse")), Duration.ofSeconds(30),
                "the gateway's chat.parse span").stream().filter(s -> s.name().equals("chat.parse")).findFirst().orElseThrow().traceId();
        // Spans arrive as each ends, a parent after its children and each service on its own schedule: wait until the
        // trace is whole (a root, every parent present). A span whose parent never arrives fails here, by timeout.
        Predicate<List<Received>> complete = all -> {
            List<Received> spans = all.stream().filter(s -> s.traceId().equals(traceId)).toList();
            Set<String> ids = spans.stream().map(Received::spanId).collect(Collectors.toSet());
            return spans.stream().map(Received::name).collect(Collectors.toSet()).containsAll(NAMED.keySet())
                    && spans.stream().anyMatch(Received::isRoot)
                    && spans.stream().allMatch(s -> s.isRoot() || ids.contains(s.parentSpanId()));
        };
        receiver.await(complete, Duration.ofSeconds(30), "every named span, the root and every parent in trace " + traceId);
        List<Received> trace = receiver.trace(traceId);

        assertEquals(Set.of("gateway", "vision-service", "projector-service", "decoder-service"),
                trace.stream().map(Received::service).collect(Collectors.toSet()), "spans from all four services");
        List<Received> roots = trace.stream().filter(Received::isRoot).toList();
        assertEquals(1, roots.size(), "one root: " + roots);
        Received root = roots.getFirst();
        assertEquals("gateway", root.service());
        assertEquals("SPAN_KIND_SERVER", root.kind(), "the root is the gateway's HTTP server span: " + root);
        Set<String> ids = trace.stream().map(Received::spanId).collect(Collectors.toSet());
        for (Received s : trace) {
            assertTrue(s.isRoot() || ids.contains(s.parentSpanId()), "the parent of " + s.service() + ":" + s.name() + " is in the trace");
            assertTrue(s.endEpochNanos() >= s.startEpochNanos(), s.name() + " ends after it starts");
        }
        NAMED.forEach((name, service) -> assertTrue(trace.stream().anyMatch(s -> s.name().equals(name) && s.service().equals(service)),
                name + " from " + service));

        // Transfers: the hops of the mesh, each a server span under the client span of the service that calls it.
        // Image bytes go gateway -> projector (Embed), which has vision encode them; the decoder Fetches the
        // embeddings from the projector by handle. No tensor crosses the gateway.
        Map<String, Received> byId = trace.stream().collect(Collectors.toMap(Received::spanId, s -> s));
        Map<String, String> caller = Map.of("ProjectorService/Embed", "gateway", "VisionService/Encode", "projector-service",
                "DecoderService/Generate", "gateway", "ProjectorService/Fetch", "decoder-service");
        caller.forEach((method, from) -> {
            Received server = trace.stream().filter(s -> s.kind().equals("SPAN_KIND_SERVER") && s.name().endsWith(method))
                    .findFirst().orElseThrow(() -> new AssertionError("no gRPC server span of " + method + " in " + trace));
            Received client = byId.get(server.parentSpanId());
            assertEquals(from, client.service(), method + " is called by " + from);
            assertEquals("SPAN_KIND_CLIENT", client.kind(), method);
        });
        assertTrue(trace.stream().noneMatch(s -> s.service().equals("gateway") && (s.name().endsWith("VisionService/Encode")
                || s.name().endsWith("ProjectorService/Project"))), "the gateway neither encodes nor projects");
        // A fresh image misses the projector's cache, and the encode it starts is under the lookup's span.
        Received lookup = only(trace, "embedding.cache");
        assertEquals("false", lookup.attributes().get("vqwen.cache_hit"));
        Received encodeClient = trace.stream().filter(s -> s.service().equals("projector-service") && s.kind().equals("SPAN_KIND_CLIENT")
                && s.name().contains("Encode")).findFirst().orElseThrow();
        assertEquals(lookup.spanId(), encodeClient.parentSpanId(), "vision Encode runs under the cache lookup");
        // The decoder's after-the-fact spans: prefill chunks of at most the token budget (512) that cover the prompt,
        // under the Generate server span, all inside arrival -> first token.
        List<Received> prefill = trace.stream().filter(s -> s.name().equals("decoder.prefill")).toList();
        int promptTokens = a.usage().get("prompt_tokens").asInt();
        assertEquals((promptTokens + 511) / 512, prefill.size(), "chunks of a " + promptTokens + "-token prompt: " + prefill);
        assertEquals(promptTokens, prefill.stream().mapToInt(s -> Integer.parseInt(s.attributes().get("vqwen.tokens"))).sum());
        Received first = only(trace, "decoder.first_token");
        for (Received chunk : prefill) {
            assertEquals("SPAN_KIND_SERVER", byId.get(chunk.parentSpanId()).kind());
            assertTrue(first.startEpochNanos() <= chunk.startEpochNanos() && first.endEpochNanos() >= chunk.endEpochNanos(),
                    "arrival -> first token encloses each prefill chunk");
        }
        assertTrue(receiver.grpcExports() > 0, "projector-service exported over OTLP gRPC");
        // One SSE write span for the whole stream, not one per token.
        assertEquals(1, trace.stream().filter(s -> s.name().equals("sse.write")).count());
        System.out.printf("one image request: %d spans in trace %s: %s%n", trace.size(), traceId,
                trace.stream().map(s -> s.service() + ":" + s.name() + String.format("=%.1fms", s.millis())).toList());
    }

    @Test
    void aGrpcChatCallWithATraceparentContinuesThatTrace() throws Exception {
        // The public gRPC ChatService (the caption worker's way in) continues its caller's W3C context.
        String traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
        GatewayApi.Answer a = api.grpcWithHeaders(GatewayApi.imageRequestUrl(Goldens.dataUrl(Goldens.freshPng(1202), "image/png"), 4),
                Map.of("traceparent", "00-" + traceId + "-00f067aa0ba902b7-01"));
        assertEquals(200, a.status(), a.text());
        // The gateway's gRPC server span ends last, after grpc.write and the decoder's spans.
        Predicate<List<Received>> done = spans -> spans.stream().anyMatch(s -> s.traceId().equals(traceId) && s.name().equals("decoder.first_token"))
                && spans.stream().anyMatch(s -> s.traceId().equals(traceId) && s.name().equals("grpc.write"))
                && spans.stream().anyMatch(s -> s.traceId().equals(traceId) && s.service().equals("gateway") && s.kind().equals("SPAN_KIND_SERVER"));
        receiver.await(done, Duration.ofSeconds(30), "the decoder and grpc.write spans of trace " + traceId);
        List<Received> trace = receiver.trace(traceId);
        assertFalse(trace.stream().anyMatch(Received::isRoot), "the caller's span is the root, outside the mesh");
        assertEquals("00f067aa0ba902b7", trace.stream().filter(s -> s.service().equals("gateway") && s.kind().equals("SPAN_KIND_SERVER"))
                .findFirst().orElseThrow().parentSpanId());
        assertEquals(Set.of("gateway", "vision-service", "projector-service", "decoder-service"),
                trace.stream().map(Received::service).collect(Collectors.toSet()));
    }

    private static Received only(List<Received> trace, String name) {
        List<Received> l = trace.stream().filter(s -> s.name().equals(name)).toList();
        assertEquals(1, l.size(), name + ": " + l);
        return l.getFirst();
    }
}
