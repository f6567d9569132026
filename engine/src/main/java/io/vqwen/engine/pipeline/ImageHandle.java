package io.vqwen.engine.pipeline;

/**
 * A reference to one image's embeddings held by an {@link ImageEmbedder}: what crosses the gateway instead of the
 * tensor. The key is the SHA-256 of the image file's bytes, so equal files share one encode.
 *
 * @param sha256      lowercase hex SHA-256 of the image bytes
 * @param rows        embedding rows (image tokens)
 * @param width       embedding width (the decoder's hidden size)
 * @param encodeMs    vision + projector time spent producing them (0 when they were cached)
 * @param cached      true when this call found them (ready or in flight) and started no encode
 */
public record ImageHandle(String sha256, int rows, int width, double encodeMs, boolean cached) {
    public ImageHandle {
        if (sha256 == null || !sha256.matches("[0-9a-f]{64}")) throw new IllegalArgumentException("not a lowercase hex SHA-256: " + sha256);
    }
}
