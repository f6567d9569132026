package io.vqwen.engine.pipeline;

import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Images -> handles to their embeddings, which stay with the embedder (in process: {@link LocalImageEmbedder};
 * in the mesh: projector-service's Embed). Every handle returned pins its entry until a {@link Generator} fetches
 * it or the caller {@link #release releases} it, so the embeddings survive until the request has prefilled.
 */
public interface ImageEmbedder {
    /** Encodes the image unless its embeddings are held (or being made) already. Bad bytes fail the future. */
    CompletableFuture<ImageHandle> embed(byte[] image);

    /** The handle of embeddings already held (an uploaded reference); fails with {@link ImageNotFoundException}. */
    CompletableFuture<ImageHandle> lookup(String sha256);

    /** Gives back the pins of handles that will not be fetched (a request cancelled before it reached the decoder). */
    void release(List<String> sha256s);
}
