package io.vqwen.gateway;

import java.net.URI;

/** One image of a chat request, in prompt order; {@code param} is its JSON path for error messages. */
public sealed interface ImageInput {
    String param();

    /** A {@code data:} URL, decoded; {@code sha256} is the hex digest of the bytes (the embedding-cache key). */
    record Inline(String param, byte[] bytes, String sha256) implements ImageInput {
    }

    /** {@code sha256:<hex>}: an image uploaded before through {@code POST /v1/images}. */
    record Uploaded(String param, String sha256) implements ImageInput {
    }

    /** An http(s) URL on an allowed host, fetched by the gateway. */
    record Remote(String param, URI uri) implements ImageInput {
    }
}
