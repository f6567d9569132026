package io.vqwen.mesh;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.function.Predicate;
import java.util.zip.GZIPInputStream;

/**
 * An OTLP trace receiver of our own on free loopback ports, for tests that point services at it with
 * {@code OTEL_EXPORTER_OTLP_ENDPOINT}: {@code http/protobuf} ({@code POST /v1/traces}, {@link #endpoint()}) and
 * {@code grpc} ({@code TraceService/Export}, {@link #grpcEndpoint()}). It decodes each
 * {@code ExportTraceServiceRequest} into flat {@link Received} spans, tagged with their resource's {@code service.name}.
 */
public final class OtlpReceiver implements AutoCloseable {
    /** One span as exported: ids in lowercase hex, the parent empty for a root span. */
    public record Received(String service, String traceId, String spanId, String parentSpanId, String name, String kind,
                           long startEpochNanos, long endEpochNanos, Map<String, String> attributes) {
        public boolean isRoot() {
            return parentSpanId.isEmpty();
        }

        public double millis() {
            return (endEpochNanos - startEpochNanos) / 1e6;
        }
    }

    private final HttpServer server;
    private io.grpc.Server grpc;
    private int grpcExports;
    private final List<Received> spans = new ArrayList<>();
    /** traceId/spanId of every span kept: an exporter retries a batch it thinks failed, so a span may come twice. */
    private final java.util.Set<String> seen = new java.util.HashSet<>();
    private int duplicates;
    private int exports;

    private OtlpReceiver(HttpServer server) {
        this.server = server;
    }

    public static OtlpReceiver start() {
        return start(0);
    }

    /** On a given loopback port (0: any free one), for example OTLP's default 4318, to catch an export nobody asked for. */
    public static OtlpReceiver start(int port) {
        try {
            HttpServer s = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 16);
            OtlpReceiver r = new OtlpReceiver(s);
            s.createContext("/v1/traces", r::handle);
            s.setExecutor(Executors.newFixedThreadPool(2, Thread.ofPlatform().daemon().name("otlp-receiver-", 0).factory()));
            s.start();
            r.grpc = io.grpc.netty.NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                    .maxInboundMessageSize(16 << 20).addService(r.new GrpcTraces()).build().start();
            return r;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start the OTLP receiver", e);
        }
    }

    /** The base URL for {@code OTEL_EXPORTER_OTLP_ENDPOINT}; exporters append {@code /v1/traces}. */
    public String endpoint() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    /** The base URL for {@code OTEL_EXPORTER_OTLP_ENDPOINT} with {@code OTEL_EXPORTER_OTLP_PROTOCOL=grpc}. */
    public String grpcEndpoint() {
        return "http://127.0.0.1:" + grpc.getPort();
    }

    /** How many export requests came over gRPC. */
    public synchronized int grpcExports() {
        return grpcExports;
    }

    private final class GrpcTraces extends io.opentelemetry.proto.collector.trace.v1.TraceServiceGrpc.TraceServiceImplBase {
        @Override
        public void export(ExportTraceServiceRequest req, io.grpc.stub.StreamObserver<ExportTraceServiceResponse> out) {
            synchronized (OtlpReceiver.this) {
                grpcExports++;
            }
            add(req);
            out.onNext(ExportTraceServiceResponse.getDefaultInstance());
            out.onCompleted();
        }
    }

    private void handle(HttpExchange ex) throws IOException {
        try (ex) {
            if (!ex.getRequestMethod().equals("POST")) {
                ex.sendResponseHeaders(405, -1);
                return;
            }
            InputStream in = ex.getRequestBody();
            if ("gzip".equalsIgnoreCase(ex.getRequestHeaders().getFirst("Content-Encoding"))) in = new GZIPInputStream(in);
            ExportTraceServiceRequest req = ExportTraceServiceRequest.parseFrom(in.readAllBytes());
            add(req);
            byte[] ok = ExportTraceServiceResponse.getDefaultInstance().toByteArray();
            ex.getResponseHeaders().set("Content-Type", "application/x-protobuf");
            ex.sendResponseHeaders(200, ok.length == 0 ? -1 : ok.length);
            if (ok.length > 0) ex.getResponseBody().write(ok);
        }
    }

    private synchronized void add(ExportTraceServiceRequest req) {
        HexFormat hex = HexFormat.of();
        for (ResourceSpans rs : req.getResourceSpansList()) {
            String service = attributes(rs.getResource().getAttributesList()).getOrDefault("service.name", "");
            for (ScopeSpans ss : rs.getScopeSpansList()) {
                for (var s : ss.getSpansList()) {
                    if (!seen.add(hex.formatHex(s.getTraceId().toByteArray()) + "/" + hex.formatHex(s.getSpanId().toByteArray()))) {
                        duplicates++;
                        continue;
                    }
                    spans.add(new Received(service, hex.formatHex(s.getTraceId().toByteArray()), hex.formatHex(s.getSpanId().toByteArray()),
                            hex.formatHex(s.getParentSpanId().toByteArray()), s.getName(), s.getKind().name(),
                            s.getStartTimeUnixNano(), s.getEndTimeUnixNano(), attributes(s.getAttributesList())));
                }
            }
        }
        exports++;
        notifyAll();
    }

    private static Map<String, String> attributes(List<KeyValue> kvs) {
        Map<String, String> m = new LinkedHashMap<>();
        for (KeyValue kv : kvs) {
            var v = kv.getValue();
            m.put(kv.getKey(), switch (v.getValueCase()) {
                case STRING_VALUE -> v.getStringValue();
                case INT_VALUE -> Long.toString(v.getIntValue());
                case BOOL_VALUE -> Boolean.toString(v.getBoolValue());
                case DOUBLE_VALUE -> Double.toString(v.getDoubleValue());
                default -> v.toString().trim();
            });
        }
        return m;
    }

    /** Every span received so far. */
    public synchronized List<Received> spans() {
        return List.copyOf(spans);
    }

    /** Spans received again (an exporter's retry), not kept twice. */
    public synchronized int duplicates() {
        return duplicates;
    }

    /** How many export requests arrived. */
    public synchronized int exports() {
        return exports;
    }

    /** The spans of one trace. */
    public synchronized List<Received> trace(String traceId) {
        return spans.stream().filter(s -> s.traceId().equals(traceId)).toList();
    }

    /** Waits until {@code done} holds for the spans received, or fails with what did arrive. */
    public synchronized List<Received> await(Predicate<List<Received>> done, Duration timeout, String what) throws InterruptedException {
        long end = System.nanoTime() + timeout.toNanos();
        while (!done.test(spans)) {
            long left = end - System.nanoTime();
            if (left <= 0) {
                throw new AssertionError("timed out after " + timeout.toSeconds() + " s waiting for " + what + "; received "
                        + spans.stream().map(s -> s.service() + ":" + s.name()).toList());
            }
            wait(Math.max(1, left / 1_000_000));
        }
        return List.copyOf(spans);
    }

    @Override
    public void close() {
        server.stop(0);
        if (grpc != null) grpc.shutdownNow();
    }
}
