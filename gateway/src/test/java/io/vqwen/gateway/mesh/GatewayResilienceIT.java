package io.vqwen.gateway.mesh;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.MetadataUtils;
import io.vqwen.cli.mesh.MeshService;
import io.vqwen.mesh.MeshHarness;
import io.vqwen.gateway.mesh.GatewayApi.Answer;
import io.vqwen.proto.v1.ChatChunk;
import io.vqwen.proto.v1.ChatRequest;
import io.vqwen.proto.v1.ChatServiceGrpc;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * What happens to the public API when things go wrong, with the services as four processes: a full decoder queue
 * (429 + Retry-After), a client that disconnects mid-stream (the decoder frees the sequence), and a decoder killed
 * mid-stream (an error event, readiness DOWN until it is back, then requests succeed again). The decoder runs 2
 * sequences at most and queues 1, so that a small burst overflows it.
 */
class GatewayResilienceIT {
    static final String KEY = "sk-test-resilience";
    static MeshHarness mesh;
    static GatewayApi api;

    @BeforeAll
    static void startMesh() {
        mesh = MeshHarness.builder()
                .property(MeshService.GATEWAY, "vqwen.api-keys", KEY)
                .property(MeshService.DECODER, "vqwen.decoder.max-running", "2")
                .property(MeshService.DECODER, "vqwen.decoder.max-waiting", "1")
                .start();
        api = new GatewayApi(mesh.httpUri(MeshService.GATEWAY), mesh.grpcPort(MeshService.GATEWAY), KEY);
    }

    @AfterAll
    static void stopMesh() {
        if (mesh != null) mesh.close();
    }

    /** The text prompt, streamed, generating exactly {@code tokens} tokens. */
    static ObjectNode longText(int tokens) {
        ObjectNode r = GatewayApi.textRequest(tokens);
        r.put("ignore_eos", true);
        r.put("stream", true);
        r.putObject("stream_options").put("include_usage", true);
        return r;
    }

    static double decoder(String metric) {
        return mesh.metric(MeshService.DECODER, metric);
    }

    static long await(BooleanSupplier condition, Duration timeout, String what) throws InterruptedException {
        long t0 = System.nanoTime(), end = t0 + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > end) throw new AssertionError(what + " did not happen within " + timeout);
            Thread.sleep(50);
        }
        return (System.nanoTime() - t0) / 1_000_000;
    }

    @Test
    void aFullDecoderQueueGets429WithRetryAfter() throws Exception {
        double refused = api.metric("vqwen_requests_total", "status=\"429\"");
        HttpClient http = HttpClient.newHttpClient();
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            CountDownLatch go = new CountDownLatch(1);
            List<Future<HttpResponse<String>>> futures = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                futures.add(pool.submit(() -> {
                    go.await();
                    return http.send(HttpRequest.newBuilder(api.base().resolve("/v1/chat/completions")).timeout(Duration.ofMinutes(3))
                            .header("Authorization", "Bearer " + KEY).header("Content-Type", "application/json")
                            .POST(HttpRequest.BodyPublishers.ofString(longText(300).toString())).build(), HttpResponse.BodyHandlers.ofString());
                }));
            }
            go.countDown();
            int ok = 0, busy = 0;
            for (Future<HttpResponse<String>> f : futures) {
                HttpResponse<String> r = f.get(3, TimeUnit.MINUTES);
                if (r.statusCode() == 429) {
                    busy++;
                    assertEquals("1", r.headers().firstValue("retry-after").orElse(null), "Retry-After");
                    JsonNode e = GatewayApi.json(r).get("error");
                    assertEquals("rate_limit_exceeded", e.get("code").asText());
                    assertTrue(e.get("message").asText().contains("decoder-service is at capacity"), e.toString());
                } else {
                    assertEquals(200, r.statusCode(), r.body());
                    Answer a = GatewayApi.parseSse(200, r.body());
                    assertTrue(a.done());
                    assertEquals(300, a.usage().get("completion_tokens").asInt(), "an accepted request is not cut short");
                    ok++;
                }
            }
            assertTrue(busy >= 1 && ok >= 2, ok + " served, " + busy + " refused");
            assertEquals(refused + busy, api.metric("vqwen_requests_total", "status=\"429\""));
            System.out.printf("burst of 8 against max-running 2 + max-waiting 1: %d served, %d got 429 + Retry-After: 1%n", ok, busy);
        } finally {
            pool.shutdownNow();
        }
        // Once the queue drains, requests go through again.
        Answer after = api.stream(GatewayApi.streamed(GatewayApi.textRequest(16), true));
        Goldens.assertMatches(Goldens.golden("text"), after, 20);
    }

    @Test
    void aClientThatDisconnectsMidStreamFreesItsSequenceOverSseAndGrpc() throws Exception {
        double disconnected = api.metric("vqwen_requests_total", "status=\"499\"");
        double cancelled = decoder("vqwen_request_success_total{finished_reason=\"cancelled\"}");
        URI base = api.base();
        byte[] body = longText(4000).toString().getBytes(StandardCharsets.UTF_8);
        try (Socket s = new Socket(base.getHost(), base.getPort())) {
            s.setSoTimeout(60_000);
            OutputStream out = s.getOutputStream();
            out.write(("POST /v1/chat/completions HTTP/1.1\r\nHost: " + base.getHost() + "\r\nAuthorization: Bearer " + KEY
                    + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(body);
            out.flush();
            InputStream in = s.getInputStream();
            StringBuilder seen = new StringBuilder();
            byte[] buf = new byte[4096];
            while (count(seen, "data: ") < 6) {
                int n = in.read(buf);
                assertTrue(n > 0, "stream ended early: " + seen);
                seen.append(new String(buf, 0, n, StandardCharsets.UTF_8));
            }
            assertTrue(seen.toString().startsWith("HTTP/1.1 200"), seen.toString());
            assertEquals(1.0, decoder("vqwen_num_requests_running"), "the stream is running in the decoder");
            assertTrue(decoder("vqwen_kv_cache_blocks_used") > 0);
            s.setSoLinger(true, 0); // close with a reset, as a killed client does
        }
        long ms = await(() -> decoder("vqwen_num_requests_running") == 0.0, Duration.ofSeconds(10), "the decoder freeing the sequence");
        assertEquals(0.0, decoder("vqwen_kv_cache_blocks_used"), "every KV block is back in the pool");
        assertEquals(cancelled + 1, decoder("vqwen_request_success_total{finished_reason=\"cancelled\"}"));
        await(() -> api.metric("vqwen_requests_total", "status=\"499\"") == disconnected + 1, Duration.ofSeconds(5), "the gateway counting a 499");
        System.out.printf("client disconnect: decoder running 1 -> 0 and KV blocks freed within %d ms%n", ms);

        // The same over the public gRPC chat: a cancelled ChatService call cancels the decoder's Generate.
        ManagedChannel ch = ManagedChannelBuilder.forAddress("127.0.0.1", mesh.grpcPort(MeshService.GATEWAY)).usePlaintext().build();
        try {
            Metadata md = new Metadata();
            md.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + KEY);
            CountDownLatch chunks = new CountDownLatch(4);
            AtomicReference<ClientCallStreamObserver<ChatRequest>> call = new AtomicReference<>();
            ChatServiceGrpc.newStub(ch).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(md))
                    .chat(ChatRequest.newBuilder().setBodyJson(longText(4000).toString()).build(), new ClientResponseObserver<ChatRequest, ChatChunk>() {
                        @Override
                        public void beforeStart(ClientCallStreamObserver<ChatRequest> c) {
                            call.set(c);
                        }

                        @Override
                        public void onNext(ChatChunk value) {
                            chunks.countDown();
                        }

                        @Override
                        public void onError(Throwable t) {
                        }

                        @Override
                        public void onCompleted() {
                        }
                    });
            assertTrue(chunks.await(60, TimeUnit.SECONDS), "no chunks from the gRPC chat");
            assertEquals(1.0, decoder("vqwen_num_requests_running"));
            call.get().cancel("client went away", null);
            long grpcMs = await(() -> decoder("vqwen_num_requests_running") == 0.0, Duration.ofSeconds(10), "the decoder freeing the gRPC chat's sequence");
            assertEquals(0.0, decoder("vqwen_kv_cache_blocks_used"));
            assertEquals(cancelled + 2, decoder("vqwen_request_success_total{finished_reason=\"cancelled\"}"));
            System.out.printf("gRPC ChatService cancel: decoder sequence freed within %d ms%n", grpcMs);
        } finally {
            ch.shutdownNow();
        }
    }

    private static int count(CharSequence s, String what) {
        int n = 0;
        for (int i = s.toString().indexOf(what); i >= 0; i = s.toString().indexOf(what, i + 1)) n++;
        return n;
    }

    @Test
    void killingTheDecoderMidStreamEndsTheStreamWithAnErrorAndReadinessFollowsTheDecoder() throws Exception {
        List<String> events = new CopyOnWriteArrayList<>();
        HttpClient http = HttpClient.newHttpClient();
        HttpRequest req = HttpRequest.newBuilder(api.base().resolve("/v1/chat/completions")).timeout(Duration.ofMinutes(5))
                .header("Authorization", "Bearer " + KEY).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(longText(4000).toString())).build();
        CompletableFuture<Void> stream = CompletableFuture.runAsync(() -> {
            try {
                HttpResponse<InputStream> r = http.send(req, HttpResponse.BodyHandlers.ofInputStream());
                try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
                    for (String line; (line = in.readLine()) != null; ) if (line.startsWith("data: ")) events.add(line.substring(6));
                }
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        await(() -> events.size() >= 4, Duration.ofSeconds(60), "the first tokens");

        long t0 = System.nanoTime();
        mesh.kill(MeshService.DECODER);
        stream.get(30, TimeUnit.SECONDS); // ends, rather than hanging
        long endedMs = (System.nanoTime() - t0) / 1_000_000;
        String last = events.getLast();
        assertTrue(last.startsWith("{\"error\":"), "the last event is an error event: " + last);
        assertTrue(last.contains("decoder-service"), last);
        assertFalse(events.contains("[DONE]"), "no [DONE] after a broken stream");

        assertEquals(200, mesh.health(MeshService.GATEWAY, "live").statusCode(), "the gateway stays alive");
        long downMs = await(() -> mesh.health(MeshService.GATEWAY, "ready").statusCode() == 503, Duration.ofSeconds(15), "readiness DOWN");
        assertTrue(mesh.health(MeshService.GATEWAY, "ready").body().contains("decoder-service unreachable"));
        Answer during = api.stream(GatewayApi.textRequest(4).put("stream", true));
        assertEquals(503, during.status());
        assertTrue(during.error().get("message").asText().contains("decoder-service is unavailable"), during.error().toString());

        mesh.restart(MeshService.DECODER); // same ports; returns once the decoder is ready
        long upMs = await(() -> mesh.health(MeshService.GATEWAY, "ready").statusCode() == 200, Duration.ofSeconds(60), "readiness UP");
        Answer after = api.stream(GatewayApi.streamed(GatewayApi.textRequest(16), true));
        Goldens.assertMatches(Goldens.golden("text"), after, 20);
        assertArrayEquals(Goldens.golden("text").ids(), after.tokenIds());
        System.out.printf("decoder killed mid-stream: error event after %d ms; readiness DOWN after %d ms more; UP %d ms after the "
                + "decoder was ready again; the next request matched the golden%n", endedMs, downMs, upMs);
    }
}
