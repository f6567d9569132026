package io.vqwen.gateway;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vqwen.engine.generate.TokenLogprob;
import io.vqwen.engine.generate.TopLogprob;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * One response in OpenAI's wire objects: {@code chat.completion.chunk} for a stream (role chunk, content chunks,
 * finish chunk, then usage chunk), or one {@code chat.completion}. Both carry the {@code timings} extension: in a
 * stream it rides on the last chunk (the usage chunk when {@code stream_options.include_usage} is set).
 */
public final class OpenAiFormat {
    static final ObjectMapper JSON = new ObjectMapper();

    private final String id;
    private final long created;
    private final String model;
    private final String fingerprint;
    private final ChatCall call;
    private final TokenBytes tokenBytes;
    private final boolean usageChunk;

    /**
     * @param usageChunk send the usage chunk at the end of a stream (OpenAI's include_usage; always on over gRPC)
     */
    public OpenAiFormat(String id, long created, String model, String fingerprint, ChatCall call, TokenBytes tokenBytes,
                        boolean usageChunk) {
        this.id = id;
        this.created = created;
        this.model = model;
        this.fingerprint = fingerprint;
        this.call = call;
        this.tokenBytes = tokenBytes;
        this.usageChunk = usageChunk;
    }

    public String id() {
        return id;
    }

    // ------------------------------------------------------------------ stream

    /** The first chunk: the assistant role with empty content, as OpenAI opens every stream. */
    public String roleChunk() {
        ObjectNode delta = JSON.createObjectNode();
        delta.put("role", "assistant");
        delta.put("content", "");
        return write(chunk(delta, null, null));
    }

    /** A content chunk, or null when the delta carries nothing to send (text held back mid-character, no logprobs). */
    public String deltaChunk(ChatEvent.Delta d) {
        boolean hasLogprobs = call.logprobs() && !d.logprobs().isEmpty();
        if (d.text().isEmpty() && !hasLogprobs) return null;
        ObjectNode delta = JSON.createObjectNode();
        delta.put("content", d.text());
        return write(chunk(delta, hasLogprobs ? logprobs(d.logprobs()) : null, null));
    }

    /** The closing chunks: finish_reason, then (when asked) usage; timings ride on the last of them. */
    public List<String> finishChunks(ChatEvent.Finish f) {
        List<String> out = new ArrayList<>(2);
        ObjectNode last = chunk(JSON.createObjectNode(), null, f.finishReason());
        if (usageChunk) {
            out.add(write(last));
            last = base("chat.completion.chunk");
            last.putArray("choices");
            last.set("usage", usage(f));
        }
        last.set("timings", timings(f.timings()));
        out.add(write(last));
        return out;
    }

    private ObjectNode chunk(ObjectNode delta, ObjectNode logprobs, String finishReason) {
        ObjectNode c = base("chat.completion.chunk");
        ObjectNode choice = c.putArray("choices").addObject();
        choice.put("index", 0);
        choice.set("delta", delta);
        choice.set("logprobs", logprobs);
        if (finishReason == null) choice.putNull("finish_reason");
        else choice.put("finish_reason", finishReason);
        // OpenAI: with include_usage, every chunk but the last carries "usage": null.
        if (usageChunk) c.putNull("usage");
        return c;
    }

    // ------------------------------------------------------------------ non-streaming

    /** A whole {@code chat.completion}: the concatenated text and all token logprobs. */
    public String completion(String text, List<TokenLogprob> logprobs, ChatEvent.Finish f) {
        ObjectNode c = base("chat.completion");
        ObjectNode choice = c.putArray("choices").addObject();
        choice.put("index", 0);
        ObjectNode message = choice.putObject("message");
        message.put("role", "assistant");
        message.put("content", text);
        message.putNull("refusal");
        choice.set("logprobs", call.logprobs() ? logprobs(logprobs) : null);
        choice.put("finish_reason", f.finishReason());
        c.set("usage", usage(f));
        c.set("timings", timings(f.timings()));
        return write(c);
    }

    // ------------------------------------------------------------------ parts

    private ObjectNode base(String object) {
        ObjectNode c = JSON.createObjectNode();
        c.put("id", id);
        c.put("object", object);
        c.put("created", created);
        c.put("model", model);
        c.put("system_fingerprint", fingerprint);
        return c;
    }

    private ObjectNode logprobs(List<TokenLogprob> tokens) {
        ObjectNode lp = JSON.createObjectNode();
        ArrayNode content = lp.putArray("content");
        for (TokenLogprob t : tokens) {
            ObjectNode o = content.addObject();
            tokenFields(o, t.tokenId(), t.token(), t.logprob());
            ArrayNode top = o.putArray("top_logprobs");
            int n = Math.min(call.topLogprobs(), t.top().size());
            for (int i = 0; i < n; i++) {
                TopLogprob a = t.top().get(i);
                tokenFields(top.addObject(), a.tokenId(), a.token(), a.logprob());
            }
        }
        lp.putNull("refusal");
        return lp;
    }

    private void tokenFields(ObjectNode o, int tokenId, String token, float logprob) {
        o.put("token", call.tokensAsIds() ? "token_id:" + tokenId : token);
        o.put("logprob", logprob);
        byte[] b = tokenBytes == null ? null : tokenBytes.of(tokenId);
        if (b == null) b = token.getBytes(StandardCharsets.UTF_8);
        ArrayNode bytes = o.putArray("bytes");
        for (byte x : b) bytes.add(x & 0xff);
    }

    private static ObjectNode usage(ChatEvent.Finish f) {
        ObjectNode u = JSON.createObjectNode();
        u.put("prompt_tokens", f.promptTokens());
        u.put("completion_tokens", f.completionTokens());
        u.put("total_tokens", f.promptTokens() + f.completionTokens());
        return u;
    }

    static ObjectNode timings(ChatTimings t) {
        ObjectNode o = JSON.createObjectNode();
        o.put("encode_ms", round(t.encodeMs()));
        o.put("queue_ms", round(t.queueMs()));
        o.put("prefill_ms", round(t.prefillMs()));
        o.put("decode_ms", round(t.decodeMs()));
        o.put("ttft_ms", round(t.ttftMs()));
        o.put("tokens_per_s", round(t.tokensPerS()));
        if (t.embeddingCache() != null) o.put("embedding_cache", t.embeddingCache());
        return o;
    }

    private static double round(double ms) {
        return Math.round(ms * 1000.0) / 1000.0;
    }

    /** OpenAI's error object. */
    public static String error(ApiException e) {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode err = root.putObject("error");
        err.put("message", e.getMessage());
        err.put("type", e.type());
        err.put("param", e.param());
        err.put("code", e.code());
        return write(root);
    }

    static String write(ObjectNode n) {
        try {
            return JSON.writeValueAsString(n);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
