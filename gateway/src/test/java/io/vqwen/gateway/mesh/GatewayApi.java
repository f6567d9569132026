package io.vqwen.gateway.mesh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.stub.MetadataUtils;
import io.vqwen.proto.v1.ChatChunk;
import io.vqwen.proto.v1.ChatRequest;
import io.vqwen.proto.v1.ChatServiceGrpc;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** A test client of the gateway: OpenAI requests over HTTP (SSE parsed strictly) and over the public gRPC chat. */
public final class GatewayApi {
    public static final ObjectMapper JSON = new ObjectMapper();
    public static final String IMAGE_PROMPT = "Describe this image in detail.";

    private final URI base;
    private final int grpcPort;
    private final String key;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    public GatewayApi(URI base, int grpcPort, String key) {
        this.base = base;
        this.grpcPort = grpcPort;
        this.key = key;
    }

    public URI base() {
        return base;
    }

    public String key() {
        return key;
    }

    // ------------------------------------------------------------------ requests of the fixture

    /** The fixture's image request: one user turn [image, prompt], greedy, as golden.safetensors was made. */
    public static ObjectNode imageRequest(String imageFile, int maxTokens) {
        return imageRequestUrl(Goldens.dataUrl(imageFile), maxTokens);
    }

    public static ObjectNode imageRequestUrl(String url, int maxTokens) {
        ObjectNode r = JSON.createObjectNode();
        r.put("model", "tiny-llava");
        ArrayNode content = r.putArray("messages").addObject().put("role", "user").putArray("content");
        content.addObject().put("type", "image_url").putObject("image_url").put("url", url);
        content.addObject().put("type", "text").put("text", IMAGE_PROMPT);
        r.put("max_tokens", maxTokens);
        r.put("temperature", 0);
        return r;
    }

    /** The fixture's text-only request. */
    public static ObjectNode textRequest(int maxTokens) {
        ObjectNode r = JSON.createObjectNode();
        r.put("model", "tiny-llava");
        r.putArray("messages").addObject().put("role", "user").put("content", Goldens.goldenJson().get("text_prompt").asText());
        r.put("max_tokens", maxTokens);
        r.put("temperature", 0);
        return r;
    }

    /** Adds stream + include_usage and logprobs with top-20 token ids (vLLM's return_tokens_as_token_ids). */
    public static ObjectNode streamed(ObjectNode r, boolean stream) {
        if (stream) {
            r.put("stream", true);
            r.putObject("stream_options").put("include_usage", true);
        }
        r.put("logprobs", true);
        r.put("top_logprobs", 20); // OpenAI's maximum
        r.put("return_tokens_as_token_ids", true);
        return r;
    }

    // ------------------------------------------------------------------ HTTP

    public HttpResponse<String> post(String path, String body, String key) {
        HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve(path)).timeout(Duration.ofSeconds(120))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
        if (key != null) b.header("Authorization", "Bearer " + key);
        return send(b.build());
    }

    public HttpResponse<String> post(String path, JsonNode body) {
        return post(path, body.toString(), key);
    }

    public HttpResponse<String> postBytes(String path, byte[] body, String contentType) {
        HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve(path)).timeout(Duration.ofSeconds(120))
                .header("Content-Type", contentType).POST(HttpRequest.BodyPublishers.ofByteArray(body));
        if (key != null) b.header("Authorization", "Bearer " + key);
        return send(b.build());
    }

    public HttpResponse<String> get(String path) {
        HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve(path)).timeout(Duration.ofSeconds(30)).GET();
        if (key != null) b.header("Authorization", "Bearer " + key);
        return send(b.build());
    }

    private HttpResponse<String> send(HttpRequest r) {
        try {
            return http.send(r, HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    public static JsonNode json(HttpResponse<String> r) {
        try {
            return JSON.readTree(r.body());
        } catch (IOException e) {
            throw new AssertionError("not JSON (HTTP " + r.statusCode() + "): " + r.body(), e);
        }
    }

    /** A metric's value from /q/metrics (sum over its series whose labels contain {@code labelFilter}). */
    public double metric(String name, String labelFilter) {
        HttpResponse<String> r = get("/q/metrics");
        assertEquals(200, r.statusCode());
        return metricValue(r.body(), name, labelFilter);
    }

    public static double metricValue(String prometheusText, String name, String labelFilter) {
        double sum = 0;
        for (String line : prometheusText.split("\n")) {
            if (line.startsWith("#")) continue;
            int sp = line.lastIndexOf(' ');
            if (sp < 0) continue;
            String series = line.substring(0, sp);
            String metricName = series.contains("{") ? series.substring(0, series.indexOf('{')) : series;
            if (!metricName.equals(name)) continue;
            if (labelFilter != null && !series.contains(labelFilter)) continue;
            sum += Double.parseDouble(line.substring(sp + 1));
        }
        return sum;
    }

    // ------------------------------------------------------------------ answers

    /**
     * One chat answer, from any transport: text, per-token logprobs content, finish reason, usage, timings; for a
     * stream also the chunk objects and whether it ended with [DONE].
     */
    public record Answer(int status, String text, List<JsonNode> logprobs, String finishReason, JsonNode usage, JsonNode timings,
                         List<JsonNode> chunks, boolean done, JsonNode error) {
        public int[] tokenIds() {
            int[] ids = new int[logprobs.size()];
            for (int i = 0; i < ids.length; i++) ids[i] = tokenId(logprobs.get(i).get("token").asText());
            return ids;
        }
    }

    static int tokenId(String token) {
        assertTrue(token.startsWith("token_id:"), token);
        return Integer.parseInt(token.substring("token_id:".length()));
    }

    /** POST a stream request and parse the SSE body, checking OpenAI's framing byte by byte. */
    public Answer stream(ObjectNode request) {
        HttpResponse<String> r = post("/v1/chat/completions", request);
        if (r.statusCode() != 200) return errorAnswer(r);
        assertTrue(r.headers().firstValue("content-type").orElse("").startsWith("text/event-stream"), r.headers().toString());
        return parseSse(r.statusCode(), r.body());
    }

    public static Answer parseSse(int status, String body) {
        assertTrue(body.endsWith("\n\n"), "an SSE body ends with a blank line");
        List<JsonNode> chunks = new ArrayList<>();
        boolean done = false;
        JsonNode error = null;
        for (String event : body.substring(0, body.length() - 2).split("\n\n", -1)) {
            assertTrue(event.startsWith("data: ") && !event.contains("\n"), "one 'data: ' line per event: " + event);
            String data = event.substring("data: ".length());
            assertTrue(!done, "nothing after [DONE]");
            if (data.equals("[DONE]")) {
                done = true;
                continue;
            }
            try {
                JsonNode n = JSON.readTree(data);
                if (n.has("error")) error = n.get("error");
                else chunks.add(n);
            } catch (IOException e) {
                throw new AssertionError("event is not JSON: " + data, e);
            }
        }
        return fromChunks(status, chunks, done, error);
    }

    static Answer fromChunks(int status, List<JsonNode> chunks, boolean done, JsonNode error) {
        StringBuilder text = new StringBuilder();
        List<JsonNode> logprobs = new ArrayList<>();
        String finish = null;
        JsonNode usage = null, timings = null;
        for (JsonNode c : chunks) {
            assertEquals("chat.completion.chunk", c.get("object").asText());
            for (JsonNode choice : c.get("choices")) {
                JsonNode content = choice.path("delta").get("content");
                if (content != null && !content.isNull()) text.append(content.asText());
                JsonNode lp = choice.get("logprobs");
                if (lp != null && !lp.isNull()) lp.get("content").forEach(logprobs::add);
                if (!choice.get("finish_reason").isNull()) finish = choice.get("finish_reason").asText();
            }
            if (c.hasNonNull("usage")) usage = c.get("usage");
            if (c.has("timings")) timings = c.get("timings");
        }
        return new Answer(status, text.toString(), logprobs, finish, usage, timings, chunks, done, error);
    }

    public Answer complete(ObjectNode request) {
        HttpResponse<String> r = post("/v1/chat/completions", request);
        if (r.statusCode() != 200) return errorAnswer(r);
        JsonNode c = json(r);
        assertEquals("chat.completion", c.get("object").asText());
        JsonNode choice = c.at("/choices/0");
        List<JsonNode> logprobs = new ArrayList<>();
        if (!choice.get("logprobs").isNull()) choice.at("/logprobs/content").forEach(logprobs::add);
        return new Answer(200, choice.at("/message/content").asText(), logprobs, choice.get("finish_reason").asText(),
                c.get("usage"), c.get("timings"), List.of(c), false, null);
    }

    private static Answer errorAnswer(HttpResponse<String> r) {
        JsonNode e = json(r);
        return new Answer(r.statusCode(), null, List.of(), null, null, null, List.of(), false, e.get("error"));
    }

    /** The same chat over the public gRPC ChatService. */
    public Answer grpc(ObjectNode request, String key) {
        return grpc(request, key, java.util.Map.of());
    }

    /** The public gRPC chat with extra metadata (for example a W3C {@code traceparent}), without a key. */
    public Answer grpcWithHeaders(ObjectNode request, java.util.Map<String, String> headers) {
        return grpc(request, null, headers);
    }

    private Answer grpc(ObjectNode request, String key, java.util.Map<String, String> headers) {
        ManagedChannel ch = ManagedChannelBuilder.forAddress("localhost", grpcPort).usePlaintext()
                .maxInboundMessageSize(64 << 20).build();
        try {
            Metadata md = new Metadata();
            if (key != null) md.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + key);
            headers.forEach((k, v) -> md.put(Metadata.Key.of(k, Metadata.ASCII_STRING_MARSHALLER), v));
            var stub = ChatServiceGrpc.newBlockingStub(ch).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(md))
                    .withDeadlineAfter(120, TimeUnit.SECONDS);
            List<JsonNode> chunks = new ArrayList<>();
            Iterator<ChatChunk> it = stub.chat(ChatRequest.newBuilder().setBodyJson(request.toString()).build());
            while (it.hasNext()) chunks.add(JSON.readTree(it.next().getChunkJson()));
            return fromChunks(200, chunks, true, null);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            ch.shutdownNow();
        }
    }
}
