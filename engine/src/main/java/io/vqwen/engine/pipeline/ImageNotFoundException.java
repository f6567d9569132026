package io.vqwen.engine.pipeline;

/**
 * The holder of embeddings does not have this image: never encoded there, or evicted. The orchestrator answers it
 * by encoding the image again when it still has the bytes; only a bare reference ({@code sha256:...}) fails.
 */
public final class ImageNotFoundException extends RuntimeException {
    private final String sha256;

    public ImageNotFoundException(String sha256) {
        super("image sha256:" + sha256 + " is not in the embedding store (never embedded there, or evicted)", null, false, false);
        this.sha256 = sha256;
    }

    public String sha256() {
        return sha256;
    }
}
