package io.vqwen.engine.pipeline;

import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
import io.vqwen.engine.generate.Completion;
import io.vqwen.engine.generate.ContextWindow;
import io.vqwen.engine.generate.GenerationListener;
import io.vqwen.engine.generate.GenerationParams;
import io.vqwen.engine.generate.RequestHandle;
import io.vqwen.engine.generate.Timings;
import io.vqwen.engine.generate.TokenDelta;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * One request, end to end, for the CLI, the mesh and the benchmarks alike: prompt ids -> every image embedded in
 * parallel (handles, not tensors) -> generate. The parts are interfaces with an in-process and a gRPC
 * implementation each (vLLM's EngineCoreClient: InprocClient / AsyncMPClient); this class is the only place the
 * order of the hops is written down. An image the generator no longer finds (evicted between embed and fetch) is
 * embedded again and the request retried once: a miss costs an encode, never a failed request.
 */
public final class Orchestrator {
    /** An image of the prompt: the file's bytes, or a reference to embeddings made earlier (an upload). */
    public sealed interface ImageInput {
        record Bytes(byte[] bytes) implements ImageInput {
        }

        record Ref(String sha256) implements ImageInput {
        }
    }

    /** Embedding image {@code index} (prompt order) failed; the cause says why (bad bytes, a missing reference...). */
    public static final class ImageFailedException extends RuntimeException {
        public final int index;

        public ImageFailedException(int index, Throwable cause) {
            super("image " + index + ": " + cause.getMessage(), cause, false, false);
            this.index = index;
        }
    }

    /** Generation events plus the one event of the embed hop. All methods may run on any thread; none may block. */
    public interface Listener extends GenerationListener {
        /** The images are embedded (before any delta); {@code embedMs} is the wall time of the embed hop. */
        default void onImages(List<ImageHandle> handles, double embedMs) {
        }
    }

    private final ImageEmbedder embedder;
    private final Generator generator;

    public Orchestrator(ImageEmbedder embedder, Generator generator) {
        this.embedder = embedder;
        this.generator = generator;
    }

    public Generator generator() {
        return generator;
    }

    public ImageEmbedder embedder() {
        return embedder;
    }

    /**
     * Starts a request. The context rule runs first and throws {@link ContextWindow.ContextLengthException} before
     * any image is encoded; everything later reaches {@code listener}. {@code maxTokens} null = the rest of the context.
     */
    public RequestHandle run(String id, int[] promptIds, List<ImageInput> images, Integer maxTokens, GenerationParams params, Listener listener) {
        int maxNew = ContextWindow.maxNewTokens(promptIds.length, maxTokens, generator.maxModelLen());
        Run r = new Run(id, promptIds, images, maxNew, params, listener);
        r.embed(false);
        return r;
    }

    private final class Run implements RequestHandle, GenerationListener {
        private final String id;
        private final int[] promptIds;
        private final List<ImageInput> images;
        private final int maxNew;
        private final GenerationParams params;
        private final Listener listener;
        private RequestHandle generation;
        private int attempts;
        private boolean cancelled, streaming, retried;
        /** The caller's trace context (OpenTelemetry; the root one when tracing is off): each hop starts under it. */
        private final Context context = Context.current();

        Run(String id, int[] promptIds, List<ImageInput> images, int maxNew, GenerationParams params, Listener listener) {
            this.id = id;
            this.promptIds = promptIds;
            this.images = images;
            this.maxNew = maxNew;
            this.params = params;
            this.listener = listener;
        }

        void embed(boolean retry) {
            long t0 = System.nanoTime();
            List<CompletableFuture<ImageHandle>> all = new ArrayList<>(images.size());
            try (Scope ignored = context.makeCurrent()) {
                for (ImageInput in : images) {
                    all.add(switch (in) {
                        case ImageInput.Bytes b -> embedder.embed(b.bytes());
                        case ImageInput.Ref ref -> embedder.lookup(ref.sha256());
                    });
                }
            }
            // The embeds complete on transport threads: the generate call they lead to goes back under the caller's context.
            CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).whenComplete(context.wrapConsumer((v, err) -> {
                List<ImageHandle> handles = new ArrayList<>();
                ImageFailedException failed = null;
                for (int i = 0; i < all.size(); i++) {
                    CompletableFuture<ImageHandle> f = all.get(i);
                    if (!f.isCompletedExceptionally()) handles.add(f.join());
                    else if (failed == null) failed = new ImageFailedException(i, unwrap(f.exceptionNow()));
                }
                List<String> shas = handles.stream().map(ImageHandle::sha256).toList();
                if (err != null) {
                    embedder.release(shas);
                    fail(failed != null ? failed : unwrap(err));
                    return;
                }
                if (!retry) listener.onImages(handles, (System.nanoTime() - t0) / 1e6);
                generate(shas);
            }));
        }

        private synchronized void generate(List<String> shas) {
            if (cancelled) {
                embedder.release(shas);
                return;
            }
            int attempt = ++attempts;
            try {
                RequestHandle h = generator.submit(id, promptIds, shas, maxNew, params, this);
                // The generator gives the pins back when it fetches. A miss may already have started a retry
                // (a synchronous fetch); then the retry's handle is the one to cancel.
                if (attempt == attempts) generation = h;
            } catch (RuntimeException e) {
                embedder.release(shas);
                fail(e);
            }
        }

        private void fail(Throwable t) {
            synchronized (this) {
                if (cancelled) return;
                cancelled = true;
            }
            listener.onError(t);
        }

        @Override
        public void onDelta(TokenDelta delta) {
            synchronized (this) {
                streaming = true;
            }
            listener.onDelta(delta);
        }

        @Override
        public void onFinish(Completion completion) {
            listener.onFinish(completion);
        }

        @Override
        public void onError(Throwable error) {
            boolean again;
            synchronized (this) {
                again = error instanceof ImageNotFoundException && !streaming && !retried && !cancelled
                        && images.stream().allMatch(i -> i instanceof ImageInput.Bytes || !((ImageInput.Ref) i).sha256().equals(
                        ((ImageNotFoundException) error).sha256()));
                if (again) {
                    retried = true;
                    generation = null; // a cancel during the retry must not go to the finished attempt
                }
            }
            if (again) {
                try (Scope ignored = context.makeCurrent()) {
                    embed(true);
                }
            } else {
                listener.onError(error);
            }
        }

        @Override
        public String requestId() {
            return id;
        }

        @Override
        public void cancel() {
            RequestHandle g;
            synchronized (this) {
                if (cancelled) return;
                cancelled = true;
                g = generation;
            }
            if (g != null) g.cancel();
            else listener.onFinish(new Completion("cancelled", promptIds.length, 0, new Timings(0, 0, 0, 0, 0)));
        }
    }

    private static Throwable unwrap(Throwable t) {
        while (t instanceof CompletionException && t.getCause() != null) t = t.getCause();
        return t;
    }
}
