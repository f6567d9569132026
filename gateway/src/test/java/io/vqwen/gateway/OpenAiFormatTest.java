package io.vqwen.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vqwen.engine.generate.SamplingParams;
import io.vqwen.engine.generate.TokenLogprob;
import io.vqwen.engine.generate.TopLogprob;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class OpenAiFormatTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ChatEvent.Finish FINISH = new ChatEvent.Finish("length", 591, 24,
            new ChatTimings(12.5, 0.25, 30, 40, 45.5, 575.0, "miss"));

    private static ChatCall call(boolean logprobs, int top, boolean asIds) {
        return new ChatCall(null, List.of(Map.of("role", "user", "content", "hi")), List.of(), Map.of(), 24,
                SamplingParams.greedy(), List.of(), true, true, logprobs, top, false, asIds);
    }

    private static JsonNode read(String s) throws Exception {
        return JSON.readTree(s);
    }

    @Test
    void streamChunksFollowOpenAiWithUsageAndTimingsLast() throws Exception {
        OpenAiFormat f = new OpenAiFormat("chatcmpl-1", 1700000000, "tiny-llava", "fp_x", call(false, 0, false), null, true);
        JsonNode role = read(f.roleChunk());
        assertEquals("chat.completion.chunk", role.get("object").asText());
        assertEquals("assistant", role.at("/choices/0/delta/role").asText());
        assertTrue(role.get("usage").isNull(), "with include_usage every chunk but the last has usage: null");

        JsonNode delta = read(f.deltaChunk(new ChatEvent.Delta(new int[] {5}, " tiện", List.of())));
        assertEquals(" tiện", delta.at("/choices/0/delta/content").asText());
        assertTrue(delta.at("/choices/0/finish_reason").isNull());
        assertNull(f.deltaChunk(new ChatEvent.Delta(new int[] {6}, "", List.of())), "nothing to send mid-character");

        List<String> end = f.finishChunks(FINISH);
        assertEquals(2, end.size());
        JsonNode fin = read(end.get(0)), usage = read(end.get(1));
        assertEquals("length", fin.at("/choices/0/finish_reason").asText());
        assertFalse(fin.has("timings"));
        assertEquals(0, usage.get("choices").size());
        assertEquals(615, usage.at("/usage/total_tokens").asInt());
        assertEquals("miss", usage.at("/timings/embedding_cache").asText());
        assertEquals(45.5, usage.at("/timings/ttft_ms").asDouble());
        for (String k : List.of("encode_ms", "queue_ms", "prefill_ms", "decode_ms", "ttft_ms", "tokens_per_s")) {
            assertTrue(usage.get("timings").has(k), k);
        }
    }

    @Test
    void withoutIncludeUsageTheFinishChunkCarriesTimings() throws Exception {
        OpenAiFormat f = new OpenAiFormat("chatcmpl-1", 1, "m", "fp", call(false, 0, false), null, false);
        List<String> end = f.finishChunks(FINISH);
        assertEquals(1, end.size());
        JsonNode fin = read(end.getFirst());
        assertFalse(fin.has("usage"));
        assertEquals(40.0, fin.at("/timings/decode_ms").asDouble());
    }

    @Test
    void logprobsHaveOpenAiShapeWithRawBytesAndOptionalTokenIds() throws Exception {
        var lp = new TokenLogprob(42, "\uFFFD", -0.5f, List.of(new TopLogprob(42, "\uFFFD", -0.5f), new TopLogprob(7, "a", -1.25f),
                new TopLogprob(8, "b", -3f)));
        TokenBytes bytes = null;
        OpenAiFormat f = new OpenAiFormat("c", 1, "m", "fp", call(true, 2, false), bytes, false);
        JsonNode c = read(f.deltaChunk(new ChatEvent.Delta(new int[] {42}, "", List.of(lp))));
        JsonNode item = c.at("/choices/0/logprobs/content/0");
        assertEquals("\uFFFD", item.get("token").asText());
        assertEquals(-0.5, item.get("logprob").asDouble());
        assertEquals(2, item.get("top_logprobs").size(), "top_logprobs as asked, not as many as the decoder sent");
        assertEquals("a", item.at("/top_logprobs/1/token").asText());
        assertEquals(97, item.at("/top_logprobs/1/bytes/0").asInt());

        OpenAiFormat ids = new OpenAiFormat("c", 1, "m", "fp", call(true, 2, true), null, false);
        JsonNode c2 = read(ids.completion("", List.of(lp), FINISH));
        assertEquals("token_id:42", c2.at("/choices/0/logprobs/content/0/token").asText());
        assertEquals("token_id:7", c2.at("/choices/0/logprobs/content/0/top_logprobs/1/token").asText());
        assertEquals("chat.completion", c2.get("object").asText());
        assertEquals("assistant", c2.at("/choices/0/message/role").asText());
        assertEquals(24, c2.at("/usage/completion_tokens").asInt());
    }

    @Test
    void errorsAreOpenAiErrorObjects() throws Exception {
        JsonNode e = read(OpenAiFormat.error(ApiException.invalid("max_tokens", "max_tokens must be at least 1, got 0.")));
        assertEquals("max_tokens must be at least 1, got 0.", e.at("/error/message").asText());
        assertEquals("invalid_request_error", e.at("/error/type").asText());
        assertEquals("max_tokens", e.at("/error/param").asText());
        assertTrue(e.at("/error/code").isNull());
    }
}
