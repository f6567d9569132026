package io.vqwen.worker;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Iterator;
import java.util.Set;

/**
 * One request record, read. Two shapes are accepted (docs/kafka.md):
 * <ul>
 *   <li>a job: a {@code /v1/chat/completions} body plus {@code id} (the idempotency key) and {@code metadata}
 *       (any JSON, echoed in the result);</li>
 *   <li>a line of an OpenAI Batch API file: {@code {"custom_id", "method": "POST", "url": "/v1/chat/completions",
 *       "body": {...}}}, where {@code custom_id} is the job id.</li>
 * </ul>
 * A record without an id gets {@code <topic>-<partition>-<offset>}: a redelivered record keeps its id.
 *
 * @param id       the job id
 * @param chatBody what the gateway is asked, without the job's own fields
 * @param metadata echoed back as is; null when absent
 * @param customId the batch line's custom_id (equal to id), null for a job record
 */
public record JobRequest(String id, ObjectNode chatBody, JsonNode metadata, String customId) {
    static final int MAX_ID_LENGTH = 512;
    static final String CHAT_URL = "/v1/chat/completions";
    private static final Set<String> BATCH_FIELDS = Set.of("custom_id", "method", "url", "body");
    /** A result is a whole message: streaming options of the body do not apply to a job. */
    private static final Set<String> JOB_ONLY_FIELDS = Set.of("id", "metadata", "stream", "stream_options");

    /** A record the worker cannot run, with the id its failed result and DLQ record are keyed by. */
    public static final class InvalidRecord extends Exception {
        private final String jobId;
        private final transient JobError error;

        InvalidRecord(String jobId, JobError error) {
            super(error.message(), null, false, false);
            this.jobId = jobId;
            this.error = error;
        }

        public String jobId() {
            return jobId;
        }

        public JobError error() {
            return error;
        }
    }

    /**
     * Reads a record value.
     *
     * @param fallbackId the id of a record that names none ({@code topic-partition-offset})
     * @throws InvalidRecord when the record is not a job at all (the gateway judges the chat body itself)
     */
    public static JobRequest parse(byte[] value, String fallbackId) throws InvalidRecord {
        if (value == null) {
            throw new InvalidRecord(fallbackId, JobError.invalidRecord("invalid_record",
                    "The record has no value (a tombstone); expected a JSON job or an OpenAI batch line."));
        }
        JsonNode root;
        try {
            root = Json.MAPPER.readTree(value);
        } catch (JacksonException e) {
            throw new InvalidRecord(fallbackId, JobError.invalidRecord("invalid_json",
                    "The record is not valid JSON: " + e.getOriginalMessage() + locate(e)));
        } catch (IOException e) {
            throw new InvalidRecord(fallbackId, JobError.invalidRecord("invalid_json", "The record is not valid JSON: " + e.getMessage()));
        }
        if (root == null || root.isMissingNode()) {
            throw new InvalidRecord(fallbackId, JobError.invalidRecord("invalid_json", "The record is empty; expected a JSON object."));
        }
        if (!root.isObject()) {
            throw new InvalidRecord(fallbackId, JobError.invalidRecord("invalid_record",
                    "The record must be a JSON object, got " + kind(root) + "."));
        }
        ObjectNode o = (ObjectNode) root;
        JobRequest job = o.has("custom_id") ? batchLine(o, fallbackId) : job(o, fallbackId);
        seedSampledJob(job.id, job.chatBody);
        return job;
    }

    private static JobRequest job(ObjectNode o, String fallbackId) throws InvalidRecord {
        String id = fallbackId;
        JsonNode idNode = o.get("id");
        if (idNode != null && !idNode.isNull()) id = checkId(idNode, "id", fallbackId);
        JsonNode metadata = o.get("metadata");
        ObjectNode body = o.deepCopy();
        body.remove(JOB_ONLY_FIELDS);
        return new JobRequest(id, body, metadata == null || metadata.isNull() ? null : metadata, null);
    }

    private static JobRequest batchLine(ObjectNode o, String fallbackId) throws InvalidRecord {
        String id = checkId(o.get("custom_id"), "custom_id", fallbackId);
        for (Iterator<String> it = o.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!BATCH_FIELDS.contains(f)) {
                throw new InvalidRecord(id, JobError.invalidRecord("invalid_batch_line", "Unrecognized field '" + f
                        + "' in a batch line; a line has custom_id, method, url and body."));
            }
        }
        JsonNode method = o.get("method");
        if (method != null && !"POST".equals(method.asText())) {
            throw new InvalidRecord(id, JobError.invalidRecord("invalid_batch_line",
                    "method must be \"POST\", got " + method + "."));
        }
        JsonNode url = o.get("url");
        if (url == null || !CHAT_URL.equals(url.asText())) {
            throw new InvalidRecord(id, JobError.invalidRecord("invalid_batch_line", "url must be \"" + CHAT_URL
                    + "\" (this worker runs chat completions), got " + (url == null ? "none" : url.toString()) + "."));
        }
        JsonNode body = o.get("body");
        if (body == null || !body.isObject()) {
            throw new InvalidRecord(id, JobError.invalidRecord("invalid_batch_line",
                    "body must be the chat completion request object, got " + (body == null ? "none" : kind(body)) + "."));
        }
        ObjectNode chat = body.deepCopy();
        chat.remove(Set.of("stream", "stream_options"));
        return new JobRequest(id, chat, null, id);
    }

    private static String checkId(JsonNode n, String field, String fallbackId) throws InvalidRecord {
        if (n == null || !n.isTextual()) {
            throw new InvalidRecord(fallbackId, JobError.invalidRecord("invalid_id",
                    field + " must be a string, got " + (n == null ? "none" : kind(n)) + "."));
        }
        String id = n.asText();
        if (id.isEmpty() || id.length() > MAX_ID_LENGTH) {
            throw new InvalidRecord(fallbackId, JobError.invalidRecord("invalid_id",
                    field + " must be 1 to " + MAX_ID_LENGTH + " characters long, got " + id.length() + "."));
        }
        for (int i = 0; i < id.length(); i++) {
            if (Character.isISOControl(id.charAt(i))) {
                throw new InvalidRecord(fallbackId, JobError.invalidRecord("invalid_id",
                        field + " must not contain control characters (position " + i + ")."));
            }
        }
        return id;
    }

    /**
     * A sampled job (temperature absent, as OpenAI's default is 1, or above 0) without a seed gets one derived from
     * its id, so that running it again after a redelivery draws the same tokens: the second result equals the first.
     */
    static void seedSampledJob(String id, ObjectNode body) {
        JsonNode seed = body.get("seed");
        if (seed != null && !seed.isNull()) return;
        JsonNode t = body.get("temperature");
        boolean sampled = t == null || t.isNull() || (t.isNumber() && t.doubleValue() > 0);
        if (sampled) body.put("seed", seedOf(id));
    }

    /** The first 63 bits of SHA-256(id). */
    static long seedOf(String id) {
        try {
            byte[] h = MessageDigest.getInstance("SHA-256").digest(id.getBytes(StandardCharsets.UTF_8));
            long s = 0;
            for (int i = 0; i < 8; i++) s = (s << 8) | (h[i] & 0xff);
            return s & Long.MAX_VALUE;
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String locate(JacksonException e) {
        var loc = e.getLocation();
        return loc == null || loc.getLineNr() < 0 ? "" : " (line " + loc.getLineNr() + ", column " + loc.getColumnNr() + ")";
    }

    private static String kind(JsonNode n) {
        return switch (n.getNodeType()) {
            case ARRAY -> "an array";
            case STRING -> "a string";
            case NUMBER -> "a number";
            case BOOLEAN -> "a boolean";
            case NULL -> "null";
            case OBJECT, POJO -> "an object";
            default -> n.getNodeType().toString().toLowerCase();
        };
    }
}
