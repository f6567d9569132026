package io.vqwen.worker;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * Why a job failed, in OpenAI's error fields (as the gateway reports them) plus the gRPC status it came with.
 *
 * @param grpcStatus the gateway's gRPC status code name, or null when the worker itself refused the record
 */
public record JobError(String message, String type, String code, String param, String grpcStatus) {

    /** A record the worker refuses before calling the gateway (not JSON, no id, not a chat completion line). */
    static JobError invalidRecord(String code, String message) {
        return new JobError(message, "invalid_request_error", code, null, null);
    }

    ObjectNode toJson() {
        ObjectNode o = Json.MAPPER.createObjectNode();
        o.put("message", message);
        o.put("type", type);
        o.put("code", code);
        o.put("param", param);
        o.put("grpc_status", grpcStatus);
        return o;
    }

    static JobError fromJson(JsonNode o) {
        return new JobError(text(o, "message"), text(o, "type"), text(o, "code"), text(o, "param"), text(o, "grpc_status"));
    }

    private static String text(JsonNode o, String f) {
        JsonNode v = o.get(f);
        return v == null || v.isNull() ? null : v.asText();
    }
}
