package io.vqwen.engine.pipeline;

import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Where a {@link Generator} gets the embeddings behind handles: the local store, or projector-service's Fetch.
 * A missing one fails the future with {@link ImageNotFoundException} naming it.
 */
public interface EmbeddingSource {
    /** The embeddings of {@code sha256s}, in order; {@code release} gives back one pin of each. */
    CompletableFuture<List<ImageEmbeddings>> fetch(List<String> sha256s, boolean release);

    /** Gives back one pin of each without fetching (a request that failed or was cancelled before its fetch). */
    void release(List<String> sha256s);
}
