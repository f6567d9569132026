package io.vqwen.gateway;

import io.grpc.Status;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Scope;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.subscription.BackPressureStrategy;
import io.smallrye.mutiny.subscription.MultiEmitter;
import io.vqwen.engine.generate.Completion;
import io.vqwen.engine.generate.ContextWindow;
import io.vqwen.engine.generate.GenerationParams;
import io.vqwen.engine.generate.RequestHandle;
import io.vqwen.engine.generate.SamplingParams;
import io.vqwen.engine.generate.TokenDelta;
import io.vqwen.engine.pipeline.ImageHandle;
import io.vqwen.engine.pipeline.ImageNotFoundException;
import io.vqwen.engine.pipeline.Orchestrator;
import io.vqwen.engine.template.TemplateException;
import io.vqwen.engine.text.Prompt;
import io.vqwen.gateway.MeshClients.PeerException;
import io.vqwen.proto.v1.InfoResponse;
import io.vqwen.service.RemoteGenerator;
import io.vqwen.service.RemoteImageEmbedder;
import jakarta.enterprise.context.ApplicationScoped;
import java.io.IOException;
import java.io.InputStream;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.jboss.logging.Logger;

/**
 * One chat request, end to end: body -> validated call -> prompt ids (chat template + tokenizer, image markers
 * expanded) -> the engine's {@link Orchestrator} over the mesh: image bytes go once to the projector
 * ({@link RemoteImageEmbedder}), which keeps the embeddings; the decoder gets handles ({@link RemoteGenerator})
 * and pulls them itself. The gateway never holds a tensor. HTTP/SSE and the public gRPC ChatService are thin
 * shells around {@link #prepare} and {@link #run}; this class keeps validation, image fetching and error mapping.
 */
@ApplicationScoped
public class ChatPipeline {
    private static final Logger LOG = Logger.getLogger(ChatPipeline.class);

    /** A request ready to run: validated, images fetched, prompt built. */
    public record Prepared(String id, long arrivalNanos, ChatCall call, List<ImageInput> images, Prompt prompt) {
    }

    private final ModelFiles model;
    private final MeshCheck meshCheck;
    private final GatewayMetrics metrics;
    private final GatewayConfig cfg;
    private final ChatRequestParser parser;
    private final Orchestrator orchestrator;
    private final Uploads uploads;
    private volatile HttpClient http;
    /** Spans of this hop (docs/tracing.md); the no-op tracer while tracing is off. */
    private final Tracer tracer;

    public ChatPipeline(ModelFiles model, MeshClients mesh, MeshCheck meshCheck, GatewayMetrics metrics, GatewayConfig cfg, Tracer tracer) {
        this.model = model;
        this.tracer = tracer;
        this.meshCheck = meshCheck;
        this.metrics = metrics;
        this.cfg = cfg;
        Set<String> hosts = new HashSet<>();
        cfg.allowedImageHosts().ifPresent(l -> l.forEach(h -> {
            if (!h.isBlank()) hosts.add(h.trim().toLowerCase(Locale.ROOT));
        }));
        this.parser = new ChatRequestParser(cfg.maxImageBytes(), hosts);
        RemoteImageEmbedder embedder = new RemoteImageEmbedder(mesh.projectors(), cfg.grpcDeadlineSeconds(), metrics.imageBytes(),
                e -> new PeerException(MeshClients.Peer.PROJECTOR, e));
        RemoteGenerator generator = new RemoteGenerator(mesh.decoderChannel(), cfg.generateDeadlineSeconds(), () -> {
            InfoResponse d = meshCheck.lastDecoderInfo();
            if (d == null) throw new IllegalStateException("decoder-service's Info is not known yet");
            return (int) d.getMaxModelLen();
        }, e -> new PeerException(MeshClients.Peer.DECODER, e));
        this.orchestrator = new Orchestrator(embedder, generator);
        this.uploads = new Uploads(cfg.embeddingCacheEntries());
    }

    // ------------------------------------------------------------------ prepare (blocking: call off the event loop)

    /** JSON, base64, SHA-256, image fetches and the tokenizer: call this on a worker thread. Counts its own 4xx. */
    public Prepared prepare(byte[] body, long arrivalNanos) {
        ChatCall call;
        Span parse = tracer.spanBuilder("chat.parse").setAttribute("vqwen.body_bytes", body.length).startSpan();
        try (Scope ignored = parse.makeCurrent()) {
            call = parser.parse(body);
        } catch (ApiException e) {
            metrics.request(e.status());
            parse.setStatus(StatusCode.ERROR, e.getMessage());
            throw e;
        } finally {
            parse.end();
        }
        try {
            return prepare(call, arrivalNanos);
        } catch (ApiException e) {
            metrics.request(e.status());
            throw e;
        }
    }

    private Prepared prepare(ChatCall call, long arrivalNanos) {
        if (!model.serves(call.model())) {
            throw ApiException.notFound("model", "model_not_found", "The model `" + call.model() + "` does not exist; this server serves `"
                    + model.servedName() + "` (see GET /v1/models).");
        }
        List<ImageInput> images = new ArrayList<>(call.images().size());
        for (ImageInput img : call.images()) images.add(img instanceof ImageInput.Remote r ? fetch(r) : img);
        Prompt prompt;
        Span tokenize = tracer.spanBuilder("chat.tokenize").startSpan();
        try {
            prompt = model.prompts().build(call.templateMessages(), call.templateKwargs());
            tokenize.setAttribute("vqwen.prompt_tokens", prompt.ids().length);
        } catch (TemplateException e) {
            tokenize.setStatus(StatusCode.ERROR, e.getMessage());
            throw ApiException.invalid("messages", "The chat template cannot render these messages: " + e.getMessage());
        } finally {
            tokenize.end();
        }
        if (prompt.imageCount() != images.size()) {
            throw ApiException.invalid("messages", "The prompt holds " + prompt.imageCount() + " image token(s) but the request carries "
                    + images.size() + " image(s); a text part must not contain the image token itself.");
        }
        return new Prepared("chatcmpl-" + UUID.randomUUID().toString().replace("-", ""), arrivalNanos, call, List.copyOf(images), prompt);
    }

    // ------------------------------------------------------------------ run

    /**
     * The events of a prepared request. Nothing starts before subscription; cancelling the subscription (a client
     * that went away) cancels the request, which frees the decoder's sequence (or the image pins before it got
     * there). Failures are ApiExceptions.
     */
    public Multi<ChatEvent> run(Prepared p) {
        RequestState st = new RequestState(p);
        return Multi.createFrom().deferred(() -> {
                    metrics.started();
                    // The decoder's max_model_len, which the context rule needs, comes from its Info.
                    return meshCheck.decoderInfo().onItem().transformToMulti(info ->
                            Multi.createFrom().<ChatEvent>emitter(em -> start(p, st, em), BackPressureStrategy.BUFFER));
                })
                .onFailure().transform(e -> toApi(e, p))
                .onTermination().invoke(st::end);
    }

    private void start(Prepared p, RequestState st, MultiEmitter<? super ChatEvent> em) {
        List<Orchestrator.ImageInput> images = new ArrayList<>(p.images().size());
        for (ImageInput img : p.images()) {
            images.add(switch (img) {
                case ImageInput.Inline i -> new Orchestrator.ImageInput.Bytes(i.bytes());
                case ImageInput.Uploaded u -> new Orchestrator.ImageInput.Ref(u.sha256());
                case ImageInput.Remote r -> throw new IllegalStateException("remote image not fetched: " + r.param());
            });
        }
        RequestHandle h;
        try {
            h = orchestrator.run(p.id(), p.prompt().ids(), images, p.call().maxTokens(), generationParams(p.call()), st.listener(em));
        } catch (ContextWindow.ContextLengthException e) {
            em.fail(contextError(p, e));
            return;
        }
        em.onTermination(() -> {
            if (!st.finished) h.cancel();
        });
        // The client may have gone before onTermination was registered.
        if (em.isCancelled() && !st.finished) h.cancel();
    }

    private static GenerationParams generationParams(ChatCall c) {
        var s = c.sampling();
        // ChatCall's sampling is already validated and in the engine's terms (top_p 1, penalty 1 when unset).
        SamplingParams sp = new SamplingParams(s.temperature(), s.topP(), s.topK(), s.minP(), s.repetitionPenalty(), s.seed());
        return new GenerationParams(sp, c.stop(), c.logprobs(), c.topLogprobs(), c.ignoreEos());
    }

    /** vLLM's rule is {@link ContextWindow}'s; the words are the API's. */
    private ApiException contextError(Prepared p, ContextWindow.ContextLengthException e) {
        int promptLen = e.promptTokens;
        long ctx = e.maxModelLen;
        if (e.promptTooLong()) {
            return ApiException.invalid("messages", "This model's maximum context length is " + ctx + " tokens, but the prompt is "
                    + promptLen + " tokens" + (p.images().isEmpty() ? "" : " (" + p.images().size() + " image(s) of "
                    + model.config().imageTokensPerImage() + " tokens each)")
                    + ", which leaves no room for a new token. Shorten the messages.");
        }
        int asked = e.asked;
        return ApiException.invalid("max_tokens", "This model's maximum context length is " + ctx + " tokens. However, you requested "
                + (promptLen + (long) asked) + " tokens (" + promptLen + " in the messages, " + asked + " in the completion). "
                + "Reduce max_tokens to at most " + (ctx - promptLen) + ".");
    }

    // ------------------------------------------------------------------ uploads

    /** {@code POST /v1/images}: checks the bytes and starts their embedding on the projector (no pin: nothing holds it yet). */
    public Uploads.Upload upload(byte[] image) {
        Images.check("image", image, cfg.maxImageBytes());
        String sha = Images.sha256Hex(image);
        CompletableFuture<ImageHandle> f = orchestrator.embedder().embed(image);
        f.thenAccept(h -> orchestrator.embedder().release(List.of(h.sha256())));
        return uploads.started(sha, f);
    }

    /** {@code GET /v1/images/{id}}: "encoding", "ready" or "failed", or null when the projector does not hold it. */
    public CompletableFuture<Uploads.Status> imageStatus(String sha) {
        Uploads.Status known = uploads.status(sha);
        if (known != null && !known.state().equals("ready")) return CompletableFuture.completedFuture(known);
        // Ready here may have been evicted there: ask the projector (a lookup pins, so give the pin back).
        return orchestrator.embedder().lookup(sha).handle((h, err) -> {
            if (err == null) {
                orchestrator.embedder().release(List.of(sha));
                return new Uploads.Status("ready", null);
            }
            return unwrap(err) instanceof ImageNotFoundException ? null : new Uploads.Status("failed", describe(err));
        });
    }

    private ImageInput.Inline fetch(ImageInput.Remote r) {
        HttpClient c = http;
        if (c == null) {
            synchronized (this) {
                if (http == null) {
                    http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER)
                            .connectTimeout(Duration.ofSeconds(cfg.grpcDeadlineSeconds())).build();
                }
                c = http;
            }
        }
        try {
            HttpResponse<InputStream> resp = c.send(HttpRequest.newBuilder(r.uri()).timeout(Duration.ofSeconds(cfg.grpcDeadlineSeconds()))
                    .GET().build(), HttpResponse.BodyHandlers.ofInputStream());
            try (InputStream in = resp.body()) {
                if (resp.statusCode() != 200) {
                    throw ApiException.invalid(r.param(), r.param() + ": fetching " + r.uri() + " gave HTTP " + resp.statusCode() + ".");
                }
                byte[] bytes = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, cfg.maxImageBytes() + 1));
                Images.check(r.param(), bytes, cfg.maxImageBytes());
                return new ImageInput.Inline(r.param(), bytes, Images.sha256Hex(bytes));
            }
        } catch (IOException e) {
            throw ApiException.invalid(r.param(), r.param() + ": fetching " + r.uri() + " failed: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw ApiException.unavailable("interrupted while fetching an image", e);
        }
    }

    // ------------------------------------------------------------------ per-request state and errors

    /** Timing and accounting of one request, fed by the orchestrator's events. */
    private final class RequestState {
        final Prepared p;
        volatile double encodeMs;
        volatile String cacheStatus;
        volatile long firstTokenNanos;
        volatile boolean finished;

        RequestState(Prepared p) {
            this.p = p;
        }

        /** Events -> ChatEvents; each callback only converts and emits (they run on gRPC threads). */
        Orchestrator.Listener listener(MultiEmitter<? super ChatEvent> em) {
            return new Orchestrator.Listener() {
                @Override
                public void onImages(List<ImageHandle> handles, double embedMs) {
                    encodeMs = embedMs;
                    boolean allHit = true;
                    for (ImageHandle h : handles) {
                        metrics.cache(h.cached());
                        if (!h.cached()) metrics.encoded(h.encodeMs());
                        allHit &= h.cached();
                    }
                    cacheStatus = handles.isEmpty() ? null : allHit ? "hit" : "miss";
                }

                @Override
                public void onDelta(TokenDelta d) {
                    if (firstTokenNanos == 0 && d.tokenIds().length > 0) {
                        firstTokenNanos = System.nanoTime();
                        metrics.ttft(firstTokenNanos - p.arrivalNanos());
                    }
                    em.emit(new ChatEvent.Delta(d.tokenIds(), d.text(), d.logprobs()));
                }

                @Override
                public void onFinish(Completion c) {
                    if (!c.finishReason().equals("stop") && !c.finishReason().equals("length")) {
                        em.fail(ApiException.unavailable("decoder-service ended the request with '" + c.finishReason()
                                + "' before it finished (is it shutting down?); retry.", null));
                        return;
                    }
                    var t = c.timings();
                    double ttftMs = firstTokenNanos == 0 ? (System.nanoTime() - p.arrivalNanos()) / 1e6
                            : (firstTokenNanos - p.arrivalNanos()) / 1e6;
                    ChatEvent.Finish f = new ChatEvent.Finish(c.finishReason(), c.promptTokens(), c.completionTokens(),
                            new ChatTimings(encodeMs, t.queueMs(), t.prefillMs(), t.decodeMs(), ttftMs, t.tokensPerS(), cacheStatus));
                    metrics.finished(f);
                    metrics.e2e(System.nanoTime() - p.arrivalNanos());
                    finished = true;
                    em.emit(f);
                    em.complete();
                }

                @Override
                public void onError(Throwable error) {
                    finished = true;
                    em.fail(error);
                }
            };
        }

        void end(Throwable failure, boolean cancelled) {
            metrics.ended();
            int status = cancelled ? 499 : failure instanceof ApiException a ? a.status() : failure != null ? 500 : 200;
            metrics.request(status);
            if (status >= 500) LOG.warnf("%s failed: %s", p.id(), failure.getMessage());
        }
    }

    /** An image's failure -> the client's error, naming the image's JSON path. */
    private ApiException imageError(ImageInput img, Throwable e) {
        Throwable c = unwrap(e);
        if (c instanceof ApiException a) return a;
        if (c instanceof ImageNotFoundException && img instanceof ImageInput.Uploaded u) return unknownUpload(u, null);
        if (c instanceof PeerException pe && Status.fromThrowable(pe.getCause()).getCode() == Status.Code.INVALID_ARGUMENT) {
            String desc = Status.fromThrowable(pe.getCause()).getDescription();
            if (img instanceof ImageInput.Uploaded u) return unknownUpload(u, desc);
            // Vision decodes the image: a corrupt file is the client's error, about this image.
            return ApiException.invalid(img.param(), img.param() + ": " + desc);
        }
        return toApi(c, null);
    }

    /** A {@code sha256:} reference the projector does not hold; {@code invalid} is why its encode failed, if it did. */
    private ApiException unknownUpload(ImageInput.Uploaded u, String invalid) {
        if (invalid != null) {
            // The bytes themselves are bad: uploading them again would not help.
            return ApiException.invalid(u.param(), u.param() + ": the image uploaded as sha256:" + u.sha256()
                    + " could not be encoded: " + invalid.replaceFirst("^image sha256:[0-9a-f]{64} could not be encoded: ", ""));
        }
        Uploads.Status known = uploads.status(u.sha256());
        return ApiException.unknownImage(u.param(), u.param() + ": image sha256:" + u.sha256() + " is not in the embedding cache ("
                + (known != null && known.error() != null ? "the encode its upload started failed: " + known.error() : "never uploaded here, or evicted")
                + "). Upload it again with POST /v1/images, or send it inline as a data: URL.");
    }

    /** A gRPC status of a peer -> the client's error. */
    ApiException toApi(Throwable e, Prepared p) {
        Throwable c = unwrap(e);
        if (c instanceof ApiException a) return a;
        if (c instanceof Orchestrator.ImageFailedException f && p != null) return imageError(p.images().get(f.index), f.getCause());
        if (c instanceof ImageNotFoundException nf && p != null) {
            // The decoder missed a bare reference (evicted after its lookup): inline images are re-embedded, refs cannot be.
            for (ImageInput img : p.images()) {
                if (img instanceof ImageInput.Uploaded u && u.sha256().equals(nf.sha256())) return unknownUpload(u, null);
            }
        }
        if (c instanceof IllegalStateException && String.valueOf(c.getMessage()).startsWith("decoder-service ended the stream")) {
            return ApiException.internal(c.getMessage(), null);
        }
        if (c instanceof PeerException pe) {
            Status s = Status.fromThrowable(pe.getCause());
            String desc = s.getDescription() == null ? s.getCode().name() : s.getDescription();
            String who = pe.peer.label;
            return switch (s.getCode()) {
                case INVALID_ARGUMENT -> ApiException.invalid(null, desc);
                case RESOURCE_EXHAUSTED -> ApiException.overloaded(who + " is at capacity (" + desc + "); retry after "
                        + cfg.retryAfterSeconds() + " s.", cfg.retryAfterSeconds());
                case UNAVAILABLE -> ApiException.unavailable(who + " is unavailable at " + MeshCheck.address(pe.peer) + ": " + desc, c);
                case DEADLINE_EXCEEDED -> ApiException.timeout(who + " did not finish within its deadline ("
                        + (pe.peer == MeshClients.Peer.DECODER ? cfg.generateDeadlineSeconds() : cfg.grpcDeadlineSeconds()) + " s).", c);
                case CANCELLED -> ApiException.unavailable(who + " cancelled the call: " + desc, c);
                default -> ApiException.internal(who + " failed: " + s.getCode() + ": " + desc, c);
            };
        }
        return ApiException.internal("gateway error: " + c, c);
    }

    private static Throwable unwrap(Throwable e) {
        while ((e instanceof CompletionException || e instanceof java.util.concurrent.ExecutionException) && e.getCause() != null) {
            e = e.getCause();
        }
        return e;
    }

    private static String describe(Throwable e) {
        Throwable c = unwrap(e);
        if (c instanceof PeerException pe) {
            Status s = Status.fromThrowable(pe.getCause());
            return pe.peer.label + ": " + (s.getDescription() == null ? s.getCode().name() : s.getDescription());
        }
        return c.getMessage();
    }
}
