package io.vqwen.gateway.mesh;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.vqwen.cli.mesh.MeshService;
import io.vqwen.engine.text.Tokenizer;
import io.vqwen.mesh.MeshHarness;
import io.vqwen.gateway.mesh.GatewayApi.Answer;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The public API of the whole mesh (vision, projector, decoder and gateway as four processes over loopback gRPC) on
 * the bundled model, against the transformers goldens: SSE, non-streamed and the public gRPC chat; concurrency;
 * the embedding cache and upload-time encoding; metrics; and requests that must be refused. API keys are on.
 */
class GatewayGoldenIT {
    static final String KEY = "sk-test-golden";
    static MeshHarness mesh;
    static GatewayApi api;
    static Tokenizer tokenizer;

    @BeforeAll
    static void startMesh() throws Exception {
        mesh = MeshHarness.builder().property(MeshService.GATEWAY, "vqwen.api-keys", KEY + ",sk-second").start();
        api = new GatewayApi(mesh.httpUri(MeshService.GATEWAY), mesh.grpcPort(MeshService.GATEWAY), KEY);
        tokenizer = Tokenizer.load(Goldens.MODEL);
    }

    @AfterAll
    static void stopMesh() {
        if (tokenizer != null) tokenizer.close();
        if (mesh != null) mesh.close();
    }

    /** The fixture's three requests: image.png and image2.png with the image prompt (24 tokens), and the text prompt (16). */
    static ObjectNode request(String which) {
        return which.equals("text") ? GatewayApi.textRequest(16) : GatewayApi.imageRequest(which + ".png", 24);
    }

    static String expectedText(Goldens.Run g) {
        return g.text() != null ? g.text() : tokenizer.decode(g.ids());
    }

    static void assertUsageAndTimings(String which, Answer a) {
        Goldens.Run g = Goldens.golden(which);
        int prompt = which.equals("text") ? 15 : 591; // golden text_input_ids / input_ids lengths
        assertEquals(prompt, a.usage().get("prompt_tokens").asInt(), which);
        assertEquals(g.ids().length, a.usage().get("completion_tokens").asInt(), which);
        assertEquals(prompt + g.ids().length, a.usage().get("total_tokens").asInt(), which);
        assertEquals("length", a.finishReason(), which);
        JsonNode t = a.timings();
        for (String k : List.of("encode_ms", "queue_ms", "prefill_ms", "decode_ms", "ttft_ms", "tokens_per_s")) {
            assertTrue(t.has(k) && t.get(k).asDouble() >= 0, which + ": timings." + k + " in " + t);
        }
        assertTrue(t.get("ttft_ms").asDouble() > 0 && t.get("prefill_ms").asDouble() > 0, which + ": " + t);
        if (which.equals("text")) assertFalse(t.has("embedding_cache"), t.toString());
        else assertTrue(t.get("embedding_cache").asText().matches("hit|miss"), t.toString());
    }

    @Test
    void streamedAnswersEqualTheGoldens() {
        for (String which : List.of("image", "image2", "text")) {
            Goldens.Run g = Goldens.golden(which);
            Answer a = api.stream(GatewayApi.streamed(request(which), true));
            double worst = Goldens.assertMatches(g, a, 20);
            assertEquals(expectedText(g), a.text(), which + ": SSE text");
            assertTrue(a.done(), which + ": the stream ends with data: [DONE]");
            assertNull(a.error());
            assertUsageAndTimings(which, a);
            // OpenAI's shape: the role chunk first; the last chunk has no choices, usage and our timings.
            assertEquals("assistant", a.chunks().getFirst().at("/choices/0/delta/role").asText());
            JsonNode last = a.chunks().getLast();
            assertEquals(0, last.get("choices").size());
            assertTrue(last.hasNonNull("usage") && last.has("timings"));
            for (JsonNode c : a.chunks().subList(0, a.chunks().size() - 1)) assertTrue(c.get("usage").isNull());
            System.out.printf("SSE %s: %d tokens, text equal, top-20 logprobs max |dev| %.2e, timings %s%n", which,
                    g.ids().length, worst, a.timings());
        }
    }

    @Test
    void nonStreamedAnswersEqualTheGoldens() {
        for (String which : List.of("image", "image2", "text")) {
            Goldens.Run g = Goldens.golden(which);
            Answer a = api.complete(GatewayApi.streamed(request(which), false));
            double worst = Goldens.assertMatches(g, a, 20);
            assertEquals(expectedText(g), a.text(), which);
            assertUsageAndTimings(which, a);
            System.out.printf("chat.completion %s: max |dev| %.2e%n", which, worst);
        }
    }

    @Test
    void grpcChatAnswersEqualTheGoldens() {
        for (String which : List.of("image", "image2", "text")) {
            Goldens.Run g = Goldens.golden(which);
            Answer a = api.grpc(GatewayApi.streamed(request(which), true), KEY);
            double worst = Goldens.assertMatches(g, a, 20);
            assertEquals(expectedText(g), a.text(), which);
            assertUsageAndTimings(which, a);
            System.out.printf("gRPC ChatService %s: max |dev| %.2e%n", which, worst);
        }
        StatusRuntimeException noKey = assertThrows(StatusRuntimeException.class, () -> api.grpc(request("text"), "sk-wrong"));
        assertEquals(Status.Code.UNAUTHENTICATED, noKey.getStatus().getCode());
        assertEquals("Incorrect API key provided.", noKey.getStatus().getDescription());
        ObjectNode bad = request("text").put("max_tokens", 0);
        StatusRuntimeException invalid = assertThrows(StatusRuntimeException.class, () -> api.grpc(bad, KEY));
        assertEquals(Status.Code.INVALID_ARGUMENT, invalid.getStatus().getCode());
        assertEquals("max_tokens must be at least 1, got 0.", invalid.getStatus().getDescription());
    }

    @Test
    void stopStringsAndSeedsReachTheDecoder() {
        String full = expectedText(Goldens.golden("text"));
        String stop = full.substring(full.length() / 2, full.length() / 2 + 4);
        Answer cut = api.stream(request("text").put("stream", true).put("stop", stop));
        assertEquals(200, cut.status(), () -> "error: " + cut.error());
        assertEquals(full.substring(0, full.indexOf(stop)), cut.text(), "the text ends before the stop string");
        assertEquals("stop", cut.finishReason());

        ObjectNode sampled = request("text").put("temperature", 0.9).put("top_p", 0.95).put("max_tokens", 12);
        String a = api.complete(sampled.deepCopy().put("seed", 7)).text();
        assertEquals(a, api.complete(sampled.deepCopy().put("seed", 7)).text(), "the same seed samples the same tokens");
        assertFalse(a.equals(api.complete(sampled.deepCopy().put("seed", 8)).text()), "another seed samples others");
    }

    @Test
    void sixteenConcurrentMixedRequestsEachEqualTheirAnswerAlone() throws Exception {
        Map<String, Answer> alone = new LinkedHashMap<>();
        for (String which : List.of("image", "image2", "text")) alone.put(which, api.stream(GatewayApi.streamed(request(which), true)));
        List<String> mix = new ArrayList<>();
        for (int i = 0; i < 16; i++) mix.add(i < 6 ? "image" : i < 11 ? "image2" : "text");
        Collections.shuffle(mix, new Random(3));

        ExecutorService pool = Executors.newFixedThreadPool(17);
        AtomicBoolean running = new AtomicBoolean(true);
        AtomicInteger peak = new AtomicInteger();
        try {
            // How many sequences the decoder batched at once, sampled while the burst runs.
            Future<?> watcher = pool.submit(() -> {
                while (running.get()) {
                    peak.accumulateAndGet((int) mesh.metric(MeshService.DECODER, "vqwen_num_requests_running"), Math::max);
                    Thread.sleep(20);
                }
                return null;
            });
            CountDownLatch go = new CountDownLatch(1);
            List<Future<Answer>> answers = new ArrayList<>();
            for (String which : mix) {
                answers.add(pool.submit(() -> {
                    go.await();
                    return api.stream(GatewayApi.streamed(request(which), true));
                }));
            }
            go.countDown();
            double worst = 0;
            for (int i = 0; i < mix.size(); i++) {
                Answer a = answers.get(i).get(5, TimeUnit.MINUTES), ref = alone.get(mix.get(i));
                assertEquals(200, a.status(), () -> "error: " + a.error());
                assertEquals(ref.text(), a.text(), mix.get(i));
                assertArrayEquals(ref.tokenIds(), a.tokenIds(), mix.get(i));
                for (int s = 0; s < ref.logprobs().size(); s++) {
                    JsonNode x = a.logprobs().get(s), y = ref.logprobs().get(s);
                    for (int k = 0; k < 20; k++) {
                        JsonNode tx = x.at("/top_logprobs/" + k), ty = y.at("/top_logprobs/" + k);
                        assertEquals(ty.get("token").asText(), tx.get("token").asText(), mix.get(i) + " step " + s + " rank " + k);
                        worst = Math.max(worst, Math.abs(tx.get("logprob").asDouble() - ty.get("logprob").asDouble()));
                    }
                }
            }
            running.set(false);
            watcher.get(10, TimeUnit.SECONDS);
            assertTrue(worst <= 1e-5, "logprobs in a batch vs alone differ by " + worst);
            assertTrue(peak.get() > 1, "the burst never ran batched (peak running " + peak.get() + ")");
            System.out.printf("16 concurrent (6 image, 5 image2, 5 text): all equal alone; peak decoder batch %d; logprob |diff| %.1e%n",
                    peak.get(), worst);
        } finally {
            running.set(false);
            pool.shutdownNow();
        }
    }

    @Test
    void aRepeatedImageSkipsTheEncoderAndMetricsMove() {
        byte[] png = Goldens.freshPng(1);
        ObjectNode req = GatewayApi.imageRequestUrl(Goldens.dataUrl(png, "image/png"), 8);
        double ok = api.metric("vqwen_requests_total", "status=\"200\"");
        double ttft = api.metric("vqwen_time_to_first_token_seconds_count", null);
        double e2e = api.metric("vqwen_e2e_request_latency_seconds_count", null);
        double hits = api.metric("vqwen_embedding_cache_hits_total", null);
        double misses = api.metric("vqwen_embedding_cache_misses_total", null);
        double encoded = mesh.metric(MeshService.VISION, "vqwen_encoder_images_total{outcome=\"ok\"}");
        double sent = api.metric("vqwen_wire_image_bytes_sum", "hop=\"gateway_projector\"");
        sent = Double.isNaN(sent) ? 0 : sent;

        Answer first = api.complete(req);
        Answer second = api.complete(req);
        assertEquals(200, first.status(), () -> "error: " + first.error());
        assertEquals("miss", first.timings().get("embedding_cache").asText());
        assertEquals("hit", second.timings().get("embedding_cache").asText());
        assertEquals(first.text(), second.text());
        assertTrue(second.timings().get("encode_ms").asDouble() < first.timings().get("encode_ms").asDouble(),
                first.timings() + " then " + second.timings());

        assertEquals(encoded + 1, mesh.metric(MeshService.VISION, "vqwen_encoder_images_total{outcome=\"ok\"}"), "the encoder ran once");
        assertEquals(hits + 1, api.metric("vqwen_embedding_cache_hits_total", null));
        assertEquals(misses + 1, api.metric("vqwen_embedding_cache_misses_total", null));
        assertEquals(ok + 2, api.metric("vqwen_requests_total", "status=\"200\""));
        assertEquals(ttft + 2, api.metric("vqwen_time_to_first_token_seconds_count", null));
        assertEquals(e2e + 2, api.metric("vqwen_e2e_request_latency_seconds_count", null));
        String text = api.get("/q/metrics").body();
        assertTrue(text.contains("vqwen_time_to_first_token_seconds_bucket{le=\"0.1\"}"), "TTFT is a histogram with vLLM's buckets");
        // Tensors are kept off the gateway: it sends image files to the projector and nothing else crosses it.
        assertEquals(sent + 2.0 * png.length, api.metric("vqwen_wire_image_bytes_sum", "hop=\"gateway_projector\""));
        assertFalse(text.contains("hop=\"projector_decoder\"") || text.contains("hop=\"vision_projector\""), "no embeddings or features hop here");
        System.out.printf("repeated image: encode_ms %.1f (miss) -> %.3f (hit); vision encodes +1%n",
                first.timings().get("encode_ms").asDouble(), second.timings().get("encode_ms").asDouble());
    }

    @Test
    void anUploadedImageIsEncodedBeforeTheChatThatNamesIt() throws Exception {
        byte[] png = Goldens.freshPng(2);
        String id = "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(png));
        double encoded = mesh.metric(MeshService.VISION, "vqwen_encoder_images_total{outcome=\"ok\"}");

        HttpResponse<String> up = api.postBytes("/v1/images", png, "image/png");
        assertEquals(200, up.statusCode(), up.body());
        JsonNode u = GatewayApi.json(up);
        assertEquals(id, u.get("id").asText());
        assertEquals(png.length, u.get("bytes").asInt());
        String status = u.get("status").asText();
        for (int i = 0; i < 300 && !status.equals("ready"); i++) {
            Thread.sleep(50);
            status = GatewayApi.json(api.get("/v1/images/" + id)).get("status").asText();
        }
        assertEquals("ready", status);
        assertEquals(encoded + 1, mesh.metric(MeshService.VISION, "vqwen_encoder_images_total{outcome=\"ok\"}"));

        Answer byId = api.stream(GatewayApi.streamed(GatewayApi.imageRequestUrl(id, 8), true));
        assertEquals(200, byId.status(), () -> "error: " + byId.error());
        assertEquals("hit", byId.timings().get("embedding_cache").asText(), "the chat itself spends no encoder time");
        Answer inline = api.stream(GatewayApi.streamed(GatewayApi.imageRequestUrl(Goldens.dataUrl(png, "image/png"), 8), true));
        assertEquals(inline.text(), byId.text());
        assertArrayEquals(inline.tokenIds(), byId.tokenIds());
        assertEquals(encoded + 1, mesh.metric(MeshService.VISION, "vqwen_encoder_images_total{outcome=\"ok\"}"), "encoded once, at upload");

        // The JSON form of the upload names the same image.
        HttpResponse<String> again = api.post("/v1/images", "{\"url\":\"" + Goldens.dataUrl(png, "image/png") + "\"}", KEY);
        assertEquals(id, GatewayApi.json(again).get("id").asText());
        assertEquals("ready", GatewayApi.json(again).get("status").asText());

        Answer unknown = api.stream(GatewayApi.imageRequestUrl("sha256:" + "0".repeat(64), 8).put("stream", true));
        assertEquals(400, unknown.status());
        assertEquals("image_not_found", unknown.error().get("code").asText());
        assertTrue(unknown.error().get("message").asText().contains("Upload it again with POST /v1/images"), unknown.error().toString());
        assertEquals(404, api.get("/v1/images/sha256:" + "1".repeat(64)).statusCode());
        HttpResponse<String> notImage = api.postBytes("/v1/images", "hello".getBytes(StandardCharsets.UTF_8), "image/png");
        assertEquals(400, notImage.statusCode());
        assertTrue(notImage.body().contains("not an image"), notImage.body());
    }

    /** One refused request: expected status, a phrase its message must contain, and the param it must name (or null). */
    record Refusal(String what, int status, String body, String phrase, String param) {
    }

    @Test
    void badRequestsGet4xxErrorsNamingTheProblemAndTheGatewayKeepsServing() {
        String png = Base64.getEncoder().encodeToString(Goldens.bytes("image.png"));
        String notImage = Base64.getEncoder().encodeToString("just some text, no pixels".getBytes(StandardCharsets.UTF_8));
        byte[] corrupt = Goldens.bytes("image.png").clone();
        for (int i = 40; i < corrupt.length; i++) corrupt[i] = (byte) (i * 31);
        byte[] huge = new byte[11 << 20];
        new Random(1).nextBytes(huge);
        System.arraycopy(Goldens.bytes("image.png"), 0, huge, 0, 64);
        String url = "messages[0].content[0].image_url.url";
        String longPrompt = "the sea ".repeat(3000);
        List<Refusal> cases = List.of(
                new Refusal("no messages", 400, "{\"model\":\"tiny-llava\",\"max_tokens\":4}", "'messages'", "messages"),
                new Refusal("empty messages", 400, "{\"messages\":[]}", "at least one message", "messages"),
                new Refusal("unknown content part", 400, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\","
                        + "\"input_audio\":{\"data\":\"x\",\"format\":\"wav\"}}]}]}", "'input_audio' is not supported", "messages[0].content[0].type"),
                new Refusal("invalid base64", 400, image("data:image/png;base64,iVBORw0KGgo@@@"), "invalid base64", url),
                new Refusal("not an image", 400, image("data:image/png;base64," + notImage), "not an image", url),
                new Refusal("an image the vision tower cannot decode", 400, image("data:image/png;base64,"
                        + Base64.getEncoder().encodeToString(corrupt)), "", url),
                new Refusal("image over the size limit", 400, image("data:image/png;base64," + Base64.getEncoder().encodeToString(huge)),
                        "the image is 11.0 MiB (11534336 bytes), over this server's limit of 10.0 MiB", url),
                new Refusal("http image URL", 400, image("https://example.com/cat.png"), "disabled", url),
                new Refusal("max_tokens 0", 400, text(", \"max_tokens\": 0"), "max_tokens must be at least 1, got 0", "max_tokens"),
                new Refusal("max_tokens -5", 400, text(", \"max_tokens\": -5"), "at least 1", "max_tokens"),
                new Refusal("max_tokens beyond the context", 400, text(", \"max_tokens\": 5000"), "maximum context length is", "max_tokens"),
                new Refusal("prompt longer than the context", 400, "{\"messages\":[{\"role\":\"user\",\"content\":\"" + longPrompt + "\"}]}",
                        "but the prompt is", "messages"),
                new Refusal("malformed JSON", 400, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}", "could not parse the JSON", null),
                new Refusal("unsupported parameter", 400, text(", \"tools\": [{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]"),
                        "Unsupported parameter: tools", "tools"),
                new Refusal("n > 1", 400, text(", \"n\": 2"), "Unsupported parameter: n", "n"),
                new Refusal("response_format", 400, text(", \"response_format\": {\"type\":\"json_object\"}"), "response_format", "response_format"),
                new Refusal("unknown parameter", 400, text(", \"frobnicate\": true"), "Unrecognized request argument supplied: frobnicate", "frobnicate"),
                new Refusal("unknown model", 404, text(", \"model\": \"gpt-4o\""), "The model `gpt-4o` does not exist", "model"),
                new Refusal("a streamed bad request is still a JSON 400", 400, text(", \"stream\": true, \"max_tokens\": 0"), "max_tokens", "max_tokens"));
        for (Refusal c : cases) assertRefused(c, api.post("/v1/chat/completions", c.body(), KEY));

        // The body limit (20 MiB) and the keys, checked before the body is parsed.
        String tooBig = "{\"messages\":[{\"role\":\"user\",\"content\":\"" + "a".repeat(21 << 20) + "\"}]}";
        assertRefused(new Refusal("body over the limit", 413, null, "over this server's limit of 20.0 MiB", null),
                api.post("/v1/chat/completions", tooBig, KEY));
        assertRefused(new Refusal("wrong API key", 401, null, "Incorrect API key provided", null),
                api.post("/v1/chat/completions", text(""), "sk-wrong"));
        assertRefused(new Refusal("no API key", 401, null, "You didn't provide an API key", null),
                api.post("/v1/chat/completions", text(""), null));
        assertEquals(200, api.post("/v1/chat/completions", text(", \"max_tokens\": 2"), "sk-second").statusCode(), "the second key works");

        // Nothing else broke: the goldens still come out, and the mesh is ready.
        Answer a = api.stream(GatewayApi.streamed(request("text"), true));
        Goldens.assertMatches(Goldens.golden("text"), a, 20);
        assertEquals(200, mesh.health(MeshService.GATEWAY, "ready").statusCode());
        System.out.printf("%d refused requests (+413, 2 x 401), each with its reason; the next request matched the golden%n", cases.size());
    }

    private static String image(String url) {
        return "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"" + url
                + "\"}},{\"type\":\"text\",\"text\":\"Describe this image in detail.\"}]}],\"max_tokens\":4}";
    }

    private static String text(String extra) {
        return "{\"messages\":[{\"role\":\"user\",\"content\":\"Write one sentence about the sea.\"}]" + extra + "}";
    }

    private static void assertRefused(Refusal c, HttpResponse<String> r) {
        assertEquals(c.status(), r.statusCode(), c.what() + ": " + r.body());
        assertTrue(r.headers().firstValue("content-type").orElse("").startsWith("application/json"), c.what());
        JsonNode e = GatewayApi.json(r).get("error");
        assertTrue(e != null && e.hasNonNull("message") && e.has("type") && e.has("param") && e.has("code"), c.what() + ": " + r.body());
        assertTrue(e.get("message").asText().contains(c.phrase()), c.what() + ": " + e.get("message").asText());
        if (c.param() != null) assertEquals(c.param(), e.get("param").asText(), c.what());
        System.out.printf("  %-45s %d %s%n", c.what(), c.status(), e.get("message").asText().length() > 150
                ? e.get("message").asText().substring(0, 150) + "..." : e.get("message").asText());
    }

    @Test
    void modelsAndHealthDescribeThePipeline() {
        JsonNode models = GatewayApi.json(api.get("/v1/models"));
        assertEquals("tiny-llava", models.at("/data/0/id").asText());
        assertEquals("model", models.at("/data/0/object").asText());
        assertTrue(models.at("/data/0/max_model_len").asInt() > 1000, models.toString());
        assertEquals(401, new GatewayApi(api.base(), 0, null).get("/v1/models").statusCode());

        HttpResponse<String> ready = mesh.health(MeshService.GATEWAY, "ready");
        assertEquals(200, ready.statusCode());
        for (MeshService s : List.of(MeshService.VISION, MeshService.PROJECTOR, MeshService.DECODER)) {
            assertTrue(ready.body().contains("127.0.0.1:" + mesh.grpcPort(s)), s + " in " + ready.body());
        }
        assertEquals(200, mesh.health(MeshService.GATEWAY, "started").statusCode());
        assertEquals(200, mesh.health(MeshService.GATEWAY, "live").statusCode());
    }
}
