package io.vqwen.engine.pipeline;

import io.vqwen.engine.generate.Completion;
import io.vqwen.engine.generate.ContextWindow;
import io.vqwen.engine.generate.DecoderEngine;
import io.vqwen.engine.generate.GenerationListener;
import io.vqwen.engine.generate.GenerationParams;
import io.vqwen.engine.generate.GenerationRequest;
import io.vqwen.engine.generate.RequestHandle;
import io.vqwen.engine.generate.StepTrace;
import io.vqwen.engine.generate.Timings;
import java.util.List;
import java.util.concurrent.CompletionException;

/**
 * The generator in process: resolves the handles through an {@link EmbeddingSource} (the local store, or in
 * decoder-service the projector's Fetch), then submits to the {@link DecoderEngine}. The fetch completes off the
 * step thread, so other sequences keep stepping while one request's embeddings arrive.
 */
public final class LocalGenerator implements Generator {
    private final DecoderEngine decoder;
    private final EmbeddingSource source;
    private final StepTrace trace;

    public LocalGenerator(DecoderEngine decoder, EmbeddingSource source) {
        this(decoder, source, StepTrace.NONE);
    }

    /** {@code trace}: where the decoder records the request's queue, prefill and first-token spans (decoder-service). */
    public LocalGenerator(DecoderEngine decoder, EmbeddingSource source, StepTrace trace) {
        this.decoder = decoder;
        this.source = source;
        this.trace = trace;
    }

    @Override
    public int maxModelLen() {
        return decoder.maxModelLen();
    }

    @Override
    public RequestHandle submit(String requestId, int[] promptIds, List<String> imageSha256s, int maxNewTokens, GenerationParams params,
                                GenerationListener listener) {
        if (imageSha256s.isEmpty()) return decoder.submit(GenerationRequest.of(requestId, promptIds, null, maxNewTokens, params), listener, trace);
        // What can fail at once fails before the fetch; the pins go back with it.
        try {
            ContextWindow.maxNewTokens(promptIds.length, maxNewTokens, decoder.maxModelLen());
        } catch (RuntimeException e) {
            source.release(imageSha256s);
            throw e;
        }
        Pending p = new Pending(requestId, promptIds.length, listener);
        source.fetch(imageSha256s, true).whenComplete((embs, err) -> {
            if (err != null) p.fail(err instanceof CompletionException && err.getCause() != null ? err.getCause() : err);
            else p.start(GenerationRequest.of(requestId, promptIds, ImageEmbeddings.concat(embs), maxNewTokens, params));
        });
        return p;
    }

    /** A request waiting for its embeddings; cancelling it then ends it at once, with no decoder work. */
    private final class Pending implements RequestHandle {
        private final String id;
        private final int promptTokens;
        private final GenerationListener listener;
        private RequestHandle inner;
        private boolean cancelled;

        Pending(String id, int promptTokens, GenerationListener listener) {
            this.id = id;
            this.promptTokens = promptTokens;
            this.listener = listener;
        }

        synchronized void start(GenerationRequest req) {
            if (cancelled) return;
            try {
                inner = decoder.submit(req, listener, trace);
            } catch (RuntimeException e) {
                cancelled = true;
                listener.onError(e);
            }
        }

        synchronized void fail(Throwable t) {
            if (cancelled) return;
            cancelled = true;
            listener.onError(t);
        }

        @Override
        public String requestId() {
            return id;
        }

        @Override
        public synchronized void cancel() {
            if (inner != null) {
                inner.cancel();
            } else if (!cancelled) {
                cancelled = true;
                listener.onFinish(new Completion("cancelled", promptTokens, 0, new Timings(0, 0, 0, 0, 0)));
            }
        }
    }
}
