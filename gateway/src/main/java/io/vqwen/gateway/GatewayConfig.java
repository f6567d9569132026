package io.vqwen.gateway;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.util.List;
import java.util.Optional;

/** The gateway's own settings ({@code vqwen.gateway.*}); {@code vqwen.model} and {@code vqwen.api-keys} are shared. */
@ConfigMapping(prefix = "vqwen.gateway")
public interface GatewayConfig {
    /** Largest request body accepted; larger ones get 413. */
    @WithDefault("20971520")
    long maxBodyBytes();

    /** Largest decoded image accepted; larger ones get 400 naming the size. */
    @WithDefault("10485760")
    long maxImageBytes();

    /**
     * Uploads ({@code POST /v1/images}) whose state the gateway remembers (encoding, or why it failed). The embeddings
     * themselves live on the projector ({@code vqwen.projector.embedding-cache-entries}).
     */
    @WithDefault("64")
    int embeddingCacheEntries();

    /** Hosts http(s) image URLs may point at; empty refuses every http(s) image URL. */
    Optional<List<String>> allowedImageHosts();

    /** Deadline of every unary gRPC call (Info, Embed) and of fetching an allowed image URL. */
    @WithDefault("30")
    int grpcDeadlineSeconds();

    /** Deadline of a whole Generate stream: a generation that runs longer ends with a 504 error. */
    @WithDefault("600")
    int generateDeadlineSeconds();

    /** Deadline of the Info calls behind the readiness probe. */
    @WithDefault("3")
    int healthDeadlineSeconds();

    /** Model id in /v1/models and responses; defaults to the model directory's name (or the Hub id). */
    Optional<String> servedModelName();

    /**
     * Ignored since embeddings stopped passing through the gateway (issue 12): they go projector -> decoder in the
     * projector's activation dtype. Kept so existing configurations still start.
     */
    @WithDefault("f32")
    String embeddingDtype();

    /** Retry-After seconds of a 429 when the decoder's queue is full. */
    @WithDefault("1")
    int retryAfterSeconds();
}
