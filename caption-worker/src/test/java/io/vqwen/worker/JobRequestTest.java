package io.vqwen.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class JobRequestTest {
    private static final String FALLBACK = "vqwen.caption.requests-3-1041";

    private static JobRequest parse(String json) throws JobRequest.InvalidRecord {
        return JobRequest.parse(json.getBytes(StandardCharsets.UTF_8), FALLBACK);
    }

    private static JobRequest.InvalidRecord invalid(String json) {
        return assertThrows(JobRequest.InvalidRecord.class, () -> parse(json));
    }

    @Test
    void aJobIsAChatBodyWithIdAndMetadataWhichTheGatewayNeverSees() throws Exception {
        JobRequest j = parse("""
                {"id":"photo-17","metadata":{"row":17},"stream":true,"stream_options":{"include_usage":true},
                 "messages":[{"role":"user","content":"hi"}],"max_tokens":8,"temperature":0}""");
        assertEquals("photo-17", j.id());
        assertEquals(17, j.metadata().get("row").asInt());
        assertNull(j.customId());
        assertEquals("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":8,\"temperature\":0}",
                Json.string(j.chatBody()), "id, metadata and the streaming fields must not reach the gateway");
    }

    @Test
    void aBatchLineUsesCustomIdAsTheJobId() throws Exception {
        JobRequest j = parse("""
                {"custom_id":"request-1","method":"POST","url":"/v1/chat/completions",
                 "body":{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0}}""");
        assertEquals("request-1", j.id());
        assertEquals("request-1", j.customId());
        assertEquals("m", j.chatBody().get("model").asText());
        assertFalse(j.chatBody().has("custom_id"));
    }

    @Test
    void aRecordWithoutIdIsNamedByItsTopicPartitionAndOffset() throws Exception {
        assertEquals(FALLBACK, parse("{\"messages\":[],\"temperature\":0}").id());
        assertEquals(FALLBACK, parse("{\"id\":null,\"messages\":[],\"temperature\":0}").id());
    }

    @Test
    void recordsThatAreNotJobsAreRefusedWithThePreciseReason() {
        assertTrue(invalid("{\"messages\": [").getMessage().startsWith("The record is not valid JSON: "));
        assertEquals("invalid_json", invalid("{\"a\":1} trailing").error().code());
        assertEquals("The record must be a JSON object, got an array.", invalid("[1,2]").getMessage());
        assertEquals("id must be a string, got a number.", invalid("{\"id\":17,\"messages\":[]}").getMessage());
        assertEquals("id must be 1 to 512 characters long, got 0.", invalid("{\"id\":\"\",\"messages\":[]}").getMessage());
        assertEquals("url must be \"/v1/chat/completions\" (this worker runs chat completions), got \"/v1/embeddings\".",
                invalid("{\"custom_id\":\"x\",\"method\":\"POST\",\"url\":\"/v1/embeddings\",\"body\":{}}").getMessage());
        assertEquals("method must be \"POST\", got \"GET\".",
                invalid("{\"custom_id\":\"x\",\"method\":\"GET\",\"url\":\"/v1/chat/completions\",\"body\":{}}").getMessage());
        assertEquals("body must be the chat completion request object, got a string.",
                invalid("{\"custom_id\":\"x\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":\"hi\"}").getMessage());
        var tombstone = assertThrows(JobRequest.InvalidRecord.class, () -> JobRequest.parse(null, FALLBACK));
        assertEquals(FALLBACK, tombstone.jobId());
    }

    @Test
    void anInvalidBatchLineKeepsItsCustomIdSoItsFailedResultCanBeFound() {
        var e = invalid("{\"custom_id\":\"line-9\",\"url\":\"/v1/completions\",\"body\":{}}");
        assertEquals("line-9", e.jobId());
        assertEquals(FALLBACK, invalid("not json").jobId());
    }

    @Test
    void sampledJobsWithoutSeedGetOneFromTheirIdSoARerunDrawsTheSameTokens() throws Exception {
        JobRequest a = parse("{\"id\":\"j1\",\"messages\":[]}");
        JobRequest again = parse("{\"id\":\"j1\",\"messages\":[]}");
        JobRequest other = parse("{\"id\":\"j2\",\"messages\":[],\"temperature\":0.7}");
        long seed = a.chatBody().get("seed").asLong();
        assertEquals(seed, again.chatBody().get("seed").asLong());
        assertEquals(JobRequest.seedOf("j1"), seed);
        assertTrue(other.chatBody().get("seed").asLong() != seed, "two jobs share a seed");
        assertEquals(5, parse("{\"id\":\"j3\",\"messages\":[],\"seed\":5}").chatBody().get("seed").asLong(), "an explicit seed is kept");
        assertFalse(parse("{\"id\":\"j4\",\"messages\":[],\"temperature\":0}").chatBody().has("seed"), "greedy jobs need none");
    }
}
