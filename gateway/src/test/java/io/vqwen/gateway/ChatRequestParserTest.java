package io.vqwen.gateway;

import io.vqwen.gateway.mesh.Goldens;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ChatRequestParserTest {
    private final ChatRequestParser parser = new ChatRequestParser(10 << 20, Set.of());

    private ChatCall parse(String json) {
        return parser.parse(json.getBytes(StandardCharsets.UTF_8));
    }

    private ApiException refused(String json) {
        return assertThrows(ApiException.class, () -> parse(json));
    }

    private static String imageMessage(String url) {
        return "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"" + url
                + "\"}},{\"type\":\"text\",\"text\":\"Describe this image in detail.\"}]}]";
    }

    @Test
    void fixtureRequestBecomesTemplateMessagesWithAnImageMarkerAndTheDecodedImage() {
        ChatCall c = parse(imageMessage(Goldens.dataUrl("image.png")) + ",\"max_tokens\":24,\"temperature\":0,"
                + "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"logprobs\":true,\"top_logprobs\":20}");
        assertEquals(List.of(Map.of("role", "user", "content", List.of(Map.of("type", "image"),
                Map.of("type", "text", "text", "Describe this image in detail.")))), c.templateMessages());
        var img = assertInstanceOf(ImageInput.Inline.class, c.images().getFirst());
        assertEquals(Images.sha256Hex(Goldens.bytes("image.png")), img.sha256());
        assertEquals("messages[0].content[0].image_url.url", img.param());
        assertEquals(24, c.maxTokens());
        assertTrue(c.sampling().isGreedy());
        assertTrue(c.stream() && c.includeUsage() && c.logprobs());
        assertEquals(20, c.topLogprobs());
    }

    @Test
    void maxCompletionTokensWinsOverMaxTokensAndAbsentMeansRestOfContext() {
        String m = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";
        assertEquals(7, parse(m + ",\"max_tokens\":99,\"max_completion_tokens\":7}").maxTokens());
        assertNull(parse(m + "}").maxTokens());
        assertEquals(List.of("\n"), parse(m + ",\"stop\":\"\\n\"}").stop());
        assertEquals(List.of("a", "b"), parse(m + ",\"stop\":[\"a\",\"b\"]}").stop());
        assertEquals(Map.of("enable_thinking", false), parse(m + ",\"chat_template_kwargs\":{\"enable_thinking\":false}}").templateKwargs());
        assertEquals(42L, parse(m + ",\"seed\":42,\"temperature\":0.7,\"top_p\":0.9}").sampling().seed());
    }

    @Test
    void unsupportedParametersAreRefusedByNameNeverIgnored() {
        String m = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";
        ApiException e = refused(m + ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],\"response_format\":{\"type\":\"json_object\"}}");
        assertEquals(400, e.status());
        assertEquals("tools", e.param());
        assertTrue(e.getMessage().contains("tools") && e.getMessage().contains("response_format"), e.getMessage());
        assertTrue(refused(m + ",\"n\":2}").getMessage().contains("n"));
        assertTrue(refused(m + ",\"logit_bias\":{\"50256\":-100}}").getMessage().contains("logit_bias"));
        assertTrue(refused(m + ",\"functions\":[{}]}").getMessage().contains("functions"));
        assertEquals("Unrecognized request argument supplied: frobnicate.", refused(m + ",\"frobnicate\":1}").getMessage());
        // Neutral values ask for nothing: accepted.
        parse(m + ",\"n\":1,\"presence_penalty\":0,\"frequency_penalty\":0.0,\"logit_bias\":{},\"tools\":[],\"user\":\"u1\"}");
    }

    @Test
    void badMessagesAreNamed() {
        assertEquals("messages", refused("{\"model\":\"x\"}").param());
        assertTrue(refused("{\"messages\":[]}").getMessage().contains("at least one"));
        ApiException part = refused("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\",\"input_audio\":{}}]}]}");
        assertEquals("messages[0].content[0].type", part.param());
        assertTrue(part.getMessage().contains("'input_audio' is not supported"), part.getMessage());
        assertTrue(refused("{\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}").getMessage().contains("role 'tool'"));
        assertEquals("messages[0].content", refused("{\"messages\":[{\"role\":\"user\",\"content\":5}]}").param());
    }

    @Test
    void badImagesAreNamedWithTheReason() {
        ApiException b64 = refused(imageMessage("data:image/png;base64,iVBORw0K!!!notbase64") + "}");
        assertEquals("messages[0].content[0].image_url.url", b64.param());
        assertTrue(b64.getMessage().contains("invalid base64"), b64.getMessage());

        String text = java.util.Base64.getEncoder().encodeToString("hello, I am not a picture".getBytes(StandardCharsets.UTF_8));
        ApiException notImage = refused(imageMessage("data:image/png;base64," + text) + "}");
        assertTrue(notImage.getMessage().contains("not an image") && notImage.getMessage().contains("68 65 6c 6c"), notImage.getMessage());

        ChatRequestParser small = new ChatRequestParser(4000, Set.of());
        ApiException big = assertThrows(ApiException.class, () -> small.parse((imageMessage(Goldens.dataUrl("image.png")) + "}")
                .getBytes(StandardCharsets.UTF_8)));
        assertTrue(big.getMessage().contains("6056 bytes") && big.getMessage().contains("4000 bytes"), big.getMessage());

        ApiException http = refused(imageMessage("https://example.com/cat.png") + "}");
        assertTrue(http.getMessage().contains("disabled") && http.getMessage().contains("POST /v1/images"), http.getMessage());
        ChatRequestParser allowing = new ChatRequestParser(1 << 20, Set.of("images.example.com"));
        assertInstanceOf(ImageInput.Remote.class, allowing.parseImageUrl("u", "https://images.example.com/cat.png"));
        assertTrue(assertThrows(ApiException.class, () -> allowing.parseImageUrl("u", "https://evil.example.com/x.png"))
                .getMessage().contains("'evil.example.com' is not in"));

        String sha = "ab".repeat(32);
        assertEquals(sha, assertInstanceOf(ImageInput.Uploaded.class, parser.parseImageUrl("u", "sha256:" + sha)).sha256());
        assertTrue(assertThrows(ApiException.class, () -> parser.parseImageUrl("u", "sha256:xyz")).getMessage().contains("64 hex"));
    }

    @Test
    void scalarParametersAreChecked() {
        String m = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";
        assertEquals("max_tokens must be at least 1, got 0.", refused(m + ",\"max_tokens\":0}").getMessage());
        assertEquals("max_tokens", refused(m + ",\"max_tokens\":-3}").param());
        assertTrue(refused(m + ",\"max_tokens\":\"ten\"}").getMessage().contains("must be an integer"));
        assertEquals("top_logprobs", refused(m + ",\"logprobs\":true,\"top_logprobs\":21}").param());
        assertTrue(refused(m + ",\"top_logprobs\":3}").getMessage().contains("requires logprobs"));
        assertTrue(refused(m + ",\"stream_options\":{\"include_usage\":true}}").getMessage().contains("only allowed when stream"));
        assertEquals("temperature", refused(m + ",\"temperature\":-1}").param());
        assertEquals("top_p", refused(m + ",\"top_p\":0}").param());
        assertEquals("stop", refused(m + ",\"stop\":[\"\"]}").param());
    }

    @Test
    void malformedJsonIsA400WithTheLocation() {
        ApiException e = refused("{\"messages\": [");
        assertEquals(400, e.status());
        assertTrue(e.getMessage().startsWith("We could not parse the JSON body"), e.getMessage());
        assertTrue(refused("[1,2]").getMessage().contains("must be a JSON object"));
        assertTrue(refused("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]} trailing").getMessage().contains("could not parse"));
        assertTrue(assertThrows(ApiException.class, () -> parser.parse(new byte[0])).getMessage().contains("empty"));
    }
}
