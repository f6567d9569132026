package io.vqwen.gateway;

import com.google.protobuf.ByteString;
import io.grpc.Status;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.vqwen.engine.generate.TokenLogprob;
import io.vqwen.engine.generate.TopLogprob;
import io.vqwen.engine.template.TemplateException;
import io.vqwen.engine.text.Prompt;
import io.vqwen.gateway.EmbeddingCache.Embedding;
import io.vqwen.gateway.MeshClients.PeerException;
import io.vqwen.proto.v1.DType;
import io.vqwen.proto.v1.EncodeRequest;
import io.vqwen.proto.v1.GenerateChunk;
import io.vqwen.proto.v1.GenerateRequest;
import io.vqwen.proto.v1.InfoResponse;
import io.vqwen.proto.v1.ProjectRequest;
import io.vqwen.proto.v1.Tensor;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
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
import java.util.concurrent.Executor;
import org.jboss.logging.Logger;

/**
 * One chat request, end to end: body -> validated call -> prompt ids (chat template + tokenizer, image markers
 * expanded) -> image embeddings (cache, else vision -> projector over gRPC) -> decoder Generate stream -> events.
 * HTTP/SSE and the public gRPC ChatService are thin shells around {@link #prepare} and {@link #run}.
 */
@ApplicationScoped
public class ChatPipeline {
    private static final Logger LOG = Logger.getLogger(ChatPipeline.class);

    /** A request ready to run: validated, images fetched, prompt built. */
    public record Prepared(String id, long arrivalNanos, ChatCall call, List<ImageInput> images, Prompt prompt) {
    }

    private final ModelFiles model;
    private final MeshClients mesh;
    private final MeshCheck meshCheck;
    private final GatewayMetrics metrics;
    private final GatewayConfig cfg;
    private final EmbeddingCache cache;
    private final ChatRequestParser parser;
    private final DType embeddingDtype;
    private volatile HttpClient http;

    /** Spans of this hop (docs/tracing.md); the no-op tracer while tracing is off. */
    @Inject
    Tracer tracer;
    /** Runs a subscription on the calling thread: with {@code Context.wrap}, the gRPC calls it starts see that context. */
    private static final Executor DIRECT = Runnable::run;

    public ChatPipeline(ModelFiles model, MeshClients mesh, MeshCheck meshCheck, GatewayMetrics metrics, GatewayConfig cfg) {
        this.model = model;
        this.mesh = mesh;
        this.meshCheck = meshCheck;
        this.metrics = metrics;
        this.cfg = cfg;
        this.cache = new EmbeddingCache(cfg.embeddingCacheEntries());
        Set<String> hosts = new HashSet<>();
        cfg.allowedImageHosts().ifPresent(l -> l.forEach(h -> {
            if (!h.isBlank()) hosts.add(h.trim().toLowerCase(Locale.ROOT));
        }));
        this.parser = new ChatRequestParser(cfg.maxImageBytes(), hosts);
        this.embeddingDtype = switch (cfg.embeddingDtype().toLowerCase(Locale.ROOT)) {
            case "f32" -> DType.F32;
            case "bf16" -> DType.BF16;
            default -> throw new IllegalArgumentException("vqwen.gateway.embedding-dtype must be f32 or bf16, got " + cfg.embeddingDtype());
        };
    }

    public EmbeddingCache cache() {
        return cache;
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
     * that went away) cancels the Generate call, which frees the decoder's sequence. Failures are ApiExceptions.
     */
    public Multi<ChatEvent> run(Prepared p) {
        RequestState st = new RequestState(p);
        // The caller's span (HTTP or gRPC server) is the parent of every hop; Mutiny's callbacks run on gRPC threads
        // that do not carry it, so each call that leaves the gateway is subscribed inside it.
        Executor inRequest = Context.current().wrap(DIRECT);
        return Multi.createFrom().deferred(() -> {
                    metrics.started();
                    return meshCheck.decoderInfo()
                            .map(info -> maxTokens(p, info))
                            .chain(maxTokens -> embeddings(p, st).runSubscriptionOn(inRequest).map(emb -> request(p, emb, maxTokens)))
                            .onItem().transformToMulti(r -> mesh.generate(r).runSubscriptionOn(inRequest))
                            .onItem().transformToIterable(st::events)
                            .onCompletion().switchTo(() -> st.finished ? Multi.createFrom().empty()
                                    : Multi.createFrom().failure(ApiException.internal("decoder-service ended the stream without a finish reason", null)));
                })
                .onFailure().transform(e -> toApi(e, p))
                .onTermination().invoke(st::end);
    }

    /** vLLM's rule: the prompt plus max_tokens must fit max_model_len; without max_tokens, the rest of the context. */
    private int maxTokens(Prepared p, InfoResponse decoder) {
        int promptLen = p.prompt().ids().length;
        long ctx = decoder.getMaxModelLen();
        if (promptLen >= ctx) {
            throw ApiException.invalid("messages", "This model's maximum context length is " + ctx + " tokens, but the prompt is "
                    + promptLen + " tokens" + (p.images().isEmpty() ? "" : " (" + p.images().size() + " image(s) of "
                    + model.config().imageTokensPerImage() + " tokens each)")
                    + ", which leaves no room for a new token. Shorten the messages.");
        }
        Integer asked = p.call().maxTokens();
        if (asked == null) return (int) (ctx - promptLen);
        if (promptLen + (long) asked > ctx) {
            throw ApiException.invalid("max_tokens", "This model's maximum context length is " + ctx + " tokens. However, you requested "
                    + (promptLen + (long) asked) + " tokens (" + promptLen + " in the messages, " + asked + " in the completion). "
                    + "Reduce max_tokens to at most " + (ctx - promptLen) + ".");
        }
        return asked;
    }

    private GenerateRequest request(Prepared p, Tensor embeddings, int maxTokens) {
        GenerateRequest.Builder b = GenerateRequest.newBuilder().setRequestId(p.id());
        for (int id : p.prompt().ids()) b.addPromptTokenIds(id);
        if (embeddings != null) b.setImageEmbeddings(embeddings);
        var s = p.call().sampling();
        var sb = io.vqwen.proto.v1.SamplingParams.newBuilder().setTemperature(s.temperature()).setTopP(s.topP())
                .setTopK(s.topK()).setMinP(s.minP()).setRepetitionPenalty(s.repetitionPenalty());
        if (s.seed() != null) sb.setSeed(s.seed());
        return b.setSampling(sb).addAllStop(p.call().stop()).setMaxTokens(maxTokens).setLogprobs(p.call().logprobs())
                .setTopLogprobs(p.call().topLogprobs()).setIgnoreEos(p.call().ignoreEos()).build();
    }

    // ------------------------------------------------------------------ images

    private record Resolved(Embedding embedding, boolean hit) {
    }

    /** All images' embeddings in prompt order, concatenated to (images * tokensPerImage, hidden); null without images. */
    private Uni<Tensor> embeddings(Prepared p, RequestState st) {
        if (p.images().isEmpty()) return Uni.createFrom().nullItem();
        long t0 = System.nanoTime();
        List<Uni<Resolved>> all = new ArrayList<>();
        for (ImageInput img : p.images()) all.add(resolve(img));
        return Uni.join().all(all).andFailFast().map(list -> {
            st.encodeMs = (System.nanoTime() - t0) / 1e6;
            boolean allHit = true;
            for (Resolved r : list) {
                metrics.cache(r.hit);
                allHit &= r.hit;
            }
            st.cacheStatus = allHit ? "hit" : "miss";
            return concat(list);
        });
    }

    private Uni<Resolved> resolve(ImageInput img) {
        return Uni.createFrom().deferred(() -> {
            // From the lookup to the embeddings: on a miss the encode it starts (vision, projector) is its child.
            Span span = tracer.spanBuilder("embedding.cache").startSpan();
            EmbeddingCache.Lookup l;
            try (Scope ignored = span.makeCurrent()) {
                l = switch (img) {
                    case ImageInput.Inline i -> cache.getOrStart(i.sha256(), () -> encode(i.bytes()));
                    case ImageInput.Uploaded u -> {
                        CompletableFuture<Embedding> f = cache.get(u.sha256());
                        if (f == null) throw unknownUpload(u);
                        yield new EmbeddingCache.Lookup(f, true);
                    }
                    case ImageInput.Remote r -> throw new IllegalStateException("remote image not fetched: " + r.param());
                };
            } catch (RuntimeException e) {
                span.setStatus(StatusCode.ERROR, String.valueOf(e.getMessage())).end();
                throw e;
            }
            span.setAttribute("vqwen.cache_hit", l.hit());
            // copy(): a request that is cancelled must not cancel an encode other requests share.
            return Uni.createFrom().completionStage(l.future().copy()).map(e -> new Resolved(e, l.hit()))
                    .onTermination().invoke((e, f, cancelled) -> {
                        if (f != null) span.setStatus(StatusCode.ERROR, String.valueOf(f.getMessage()));
                        span.end();
                    });
        }).onFailure().transform(e -> imageError(img, e));
    }

    private ApiException unknownUpload(ImageInput.Uploaded u) {
        Throwable failed = cache.failure(u.sha256());
        if (failed != null && unwrap(failed) instanceof PeerException pe
                && Status.fromThrowable(pe.getCause()).getCode() == Status.Code.INVALID_ARGUMENT) {
            // The bytes themselves are bad: uploading them again would not help.
            return ApiException.invalid(u.param(), u.param() + ": the image uploaded as sha256:" + u.sha256()
                    + " could not be encoded: " + describe(failed));
        }
        return ApiException.unknownImage(u.param(), u.param() + ": image sha256:" + u.sha256() + " is not in the embedding cache ("
                + (failed != null ? "the encode its upload started failed: " + describe(failed) : "never uploaded here, or evicted")
                + "). Upload it again with POST /v1/images, or send it inline as a data: URL.");
    }

    /** Starts vision -> projector for one image; the future is independent of any one request. */
    public CompletableFuture<Embedding> encode(byte[] image) {
        long t0 = System.nanoTime();
        int tokens = model.config().imageTokensPerImage();
        int hidden = model.config().textConfig().hiddenSize();
        EncodeRequest req = EncodeRequest.newBuilder().setImage(ByteString.copyFrom(image))
                .setMimeType(String.valueOf(Images.sniff(image))).setDtype(DType.F32).build();
        Executor inCaller = Context.current().wrap(DIRECT);
        return mesh.encode(req).runSubscriptionOn(inCaller)
                .chain(er -> mesh.project(ProjectRequest.newBuilder().setFeatures(er.getFeatures()).setDtype(embeddingDtype).build())
                        .runSubscriptionOn(inCaller))
                .map(pr -> {
                    Tensor t = pr.getEmbeddings();
                    long bytesPer = t.getDtype() == DType.BF16 ? 2 : 4;
                    if (t.getShapeCount() != 2 || t.getShape(0) != tokens || t.getShape(1) != hidden
                            || t.getData().size() != tokens * hidden * bytesPer) {
                        throw ApiException.internal("projector-service returned embeddings of shape " + t.getShapeList() + " ("
                                + t.getData().size() + " bytes), expected [" + tokens + ", " + hidden + "]", null);
                    }
                    double ms = (System.nanoTime() - t0) / 1e6;
                    metrics.encoded(ms);
                    return new Embedding(t, tokens, ms);
                })
                .subscribeAsCompletionStage();
    }

    /** {@code POST /v1/images}: checks the bytes and starts their encode in the background. */
    public EmbeddingCache.Lookup upload(byte[] image) {
        Images.check("image", image, cfg.maxImageBytes());
        String sha = Images.sha256Hex(image);
        return cache.getOrStart(sha, () -> encode(image));
    }

    private static Tensor concat(List<Resolved> list) {
        if (list.size() == 1) return list.getFirst().embedding.tensor();
        ByteString data = ByteString.EMPTY;
        long rows = 0;
        Tensor first = list.getFirst().embedding.tensor();
        for (Resolved r : list) {
            data = data.concat(r.embedding.tensor().getData());
            rows += r.embedding.tensor().getShape(0);
        }
        return Tensor.newBuilder().setData(data).addShape(rows).addShape(first.getShape(1)).setDtype(first.getDtype()).build();
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

    /** Timing and accounting of one request, fed by the decoder's chunks. */
    private final class RequestState {
        final Prepared p;
        volatile double encodeMs;
        volatile String cacheStatus;
        volatile long firstTokenNanos;
        volatile boolean finished;

        RequestState(Prepared p) {
            this.p = p;
        }

        List<ChatEvent> events(GenerateChunk c) {
            List<ChatEvent> out = new ArrayList<>(2);
            if (c.getTokenIdsCount() > 0 || !c.getText().isEmpty()) {
                if (firstTokenNanos == 0 && c.getTokenIdsCount() > 0) {
                    firstTokenNanos = System.nanoTime();
                    metrics.ttft(firstTokenNanos - p.arrivalNanos());
                }
                int[] ids = new int[c.getTokenIdsCount()];
                for (int i = 0; i < ids.length; i++) ids[i] = c.getTokenIds(i);
                out.add(new ChatEvent.Delta(ids, c.getText(), logprobs(c)));
            }
            if (!c.getFinishReason().isEmpty()) {
                if (!c.getFinishReason().equals("stop") && !c.getFinishReason().equals("length")) {
                    throw ApiException.unavailable("decoder-service ended the request with '" + c.getFinishReason()
                            + "' before it finished (is it shutting down?); retry.", null);
                }
                var t = c.getTimings();
                double ttftMs = firstTokenNanos == 0 ? (System.nanoTime() - p.arrivalNanos()) / 1e6
                        : (firstTokenNanos - p.arrivalNanos()) / 1e6;
                ChatEvent.Finish f = new ChatEvent.Finish(c.getFinishReason(), c.getUsage().getPromptTokens(),
                        c.getUsage().getCompletionTokens(), new ChatTimings(encodeMs, t.getQueueMs(), t.getPrefillMs(),
                        t.getDecodeMs(), ttftMs, t.getTokensPerS(), cacheStatus));
                metrics.finished(f);
                metrics.e2e(System.nanoTime() - p.arrivalNanos());
                finished = true;
                out.add(f);
            }
            return out;
        }

        void end(Throwable failure, boolean cancelled) {
            metrics.ended();
            int status = cancelled ? 499 : failure instanceof ApiException a ? a.status() : failure != null ? 500 : 200;
            metrics.request(status);
            if (status >= 500) LOG.warnf("%s failed: %s", p.id(), failure.getMessage());
        }
    }

    private static List<TokenLogprob> logprobs(GenerateChunk c) {
        if (c.getLogprobsCount() == 0) return List.of();
        List<TokenLogprob> out = new ArrayList<>(c.getLogprobsCount());
        for (var lp : c.getLogprobsList()) {
            List<TopLogprob> top = new ArrayList<>(lp.getTopCount());
            for (var t : lp.getTopList()) top.add(new TopLogprob(t.getTokenId(), t.getToken(), t.getLogprob()));
            out.add(new TokenLogprob(lp.getTokenId(), lp.getToken(), lp.getLogprob(), top));
        }
        return out;
    }

    private ApiException imageError(ImageInput img, Throwable e) {
        Throwable c = unwrap(e);
        if (c instanceof ApiException a) return a;
        if (c instanceof PeerException pe && Status.fromThrowable(pe.getCause()).getCode() == Status.Code.INVALID_ARGUMENT) {
            // The vision service decodes the image: a corrupt file is the client's error, about this image.
            return ApiException.invalid(img.param(), img.param() + ": " + Status.fromThrowable(pe.getCause()).getDescription());
        }
        return toApi(c, null);
    }

    /** A gRPC status of a peer -> the client's error. */
    ApiException toApi(Throwable e, Prepared p) {
        Throwable c = unwrap(e);
        if (c instanceof ApiException a) return a;
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
