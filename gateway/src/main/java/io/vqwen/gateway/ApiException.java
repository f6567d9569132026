package io.vqwen.gateway;

/**
 * A failure the client sees, rendered as OpenAI's error object {@code {"error":{"message","type","param","code"}}}
 * with an HTTP status (and, over the public gRPC API, the matching gRPC status).
 */
public final class ApiException extends RuntimeException {
    private final int status;
    private final String type;
    private final String param;
    private final String code;
    private final Integer retryAfterSeconds;

    private ApiException(int status, String type, String param, String code, String message, Integer retryAfterSeconds,
                         Throwable cause) {
        super(message, cause, false, false);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    /** 400: the request is wrong; {@code param} names the offending field (JSON path) or is null. */
    public static ApiException invalid(String param, String message) {
        return new ApiException(400, "invalid_request_error", param, null, message, null, null);
    }

    /** 400 for parameters this server does not implement: never silently ignored. */
    public static ApiException unsupported(String param, String message) {
        return new ApiException(400, "invalid_request_error", param, "unsupported_parameter", message, null, null);
    }

    /** 400 for a {@code sha256:} image reference that the embedding cache does not hold (never uploaded, or evicted). */
    public static ApiException unknownImage(String param, String message) {
        return new ApiException(400, "invalid_request_error", param, "image_not_found", message, null, null);
    }

    public static ApiException unauthorized(String message) {
        return new ApiException(401, "invalid_request_error", null, "invalid_api_key", message, null, null);
    }

    public static ApiException notFound(String param, String code, String message) {
        return new ApiException(404, "invalid_request_error", param, code, message, null, null);
    }

    public static ApiException tooLarge(String message) {
        return new ApiException(413, "invalid_request_error", null, "request_too_large", message, null, null);
    }

    public static ApiException overloaded(String message, int retryAfterSeconds) {
        return new ApiException(429, "rate_limit_error", null, "rate_limit_exceeded", message, retryAfterSeconds, null);
    }

    public static ApiException unavailable(String message, Throwable cause) {
        return new ApiException(503, "server_error", null, "service_unavailable", message, null, cause);
    }

    public static ApiException timeout(String message, Throwable cause) {
        return new ApiException(504, "server_error", null, "timeout", message, null, cause);
    }

    public static ApiException internal(String message, Throwable cause) {
        return new ApiException(500, "server_error", null, "internal_error", message, null, cause);
    }

    public int status() {
        return status;
    }

    public String type() {
        return type;
    }

    public String param() {
        return param;
    }

    public String code() {
        return code;
    }

    /** Seconds for the Retry-After header, or null. */
    public Integer retryAfterSeconds() {
        return retryAfterSeconds;
    }
}
