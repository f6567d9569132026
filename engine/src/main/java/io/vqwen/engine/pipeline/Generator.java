package io.vqwen.engine.pipeline;

import io.vqwen.engine.generate.GenerationListener;
import io.vqwen.engine.generate.GenerationParams;
import io.vqwen.engine.generate.RequestHandle;
import java.util.List;

/**
 * Submit a request whose images are handles, receive its events, cancel it: the decoder in process
 * ({@link LocalGenerator}) or decoder-service's Generate. The generator resolves the handles itself (through an
 * {@link EmbeddingSource}), so the embeddings never pass through whoever submits.
 */
public interface Generator {
    /**
     * Queues a request. Failures that can be known at once (a prompt over the context, a full queue) throw; later
     * ones, an {@link ImageNotFoundException} among them, arrive at {@code listener.onError} before any delta.
     */
    RequestHandle submit(String requestId, int[] promptIds, List<String> imageSha256s, int maxNewTokens, GenerationParams params,
                         GenerationListener listener);

    /** Prompt + output tokens per sequence at most. */
    int maxModelLen();
}
