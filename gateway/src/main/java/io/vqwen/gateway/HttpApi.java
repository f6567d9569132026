package io.vqwen.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Scope;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.subscription.Cancellable;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import io.vqwen.engine.generate.TokenLogprob;
import io.vqwen.gateway.ChatPipeline.Prepared;
import io.vqwen.proto.v1.InfoResponse;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The OpenAI-compatible HTTP API on Vert.x routes:
 * <ul>
 *   <li>{@code POST /v1/chat/completions}: {@code chat.completion}, or with {@code stream} SSE
 *   {@code data: {chat.completion.chunk}} events ending with {@code data: [DONE]};</li>
 *   <li>{@code GET /v1/models};</li>
 *   <li>{@code POST /v1/images} (raw image bytes, or JSON {@code {"url":"data:..."}}): returns
 *   {@code {"id":"sha256:<hex>"}} and starts vision + projector, so a later chat can name the image by its id;
 *   {@code GET /v1/images/sha256:<hex>} tells whether its embeddings are ready.</li>
 * </ul>
 * Raw routes rather than a REST resource returning {@code Multi}, for two reasons: the status line waits for the
 * decoder's first answer, so a full queue is a real 429 and a refused prompt a real 400 even when streaming; and
 * the SSE bytes are exactly OpenAI's ({@code "data: "} with a space, one blank line per event).
 */
@ApplicationScoped
public class HttpApi {
    private static final String CHAT = "/v1/chat/completions";
    /** How long an upload waits for the projector's answer before it says "encoding" (a cached image answers at once). */
    private static final long UPLOAD_WAIT_MS = 100;

    private final ChatPipeline pipeline;
    private final ModelFiles model;
    private final ApiKeys keys;
    private final GatewayConfig cfg;
    private final GatewayMetrics metrics;
    private final MeshCheck meshCheck;
    @Inject
    Tracer tracer;

    public HttpApi(ChatPipeline pipeline, ModelFiles model, ApiKeys keys, GatewayConfig cfg, GatewayMetrics metrics, MeshCheck meshCheck) {
        this.pipeline = pipeline;
        this.model = model;
        this.keys = keys;
        this.cfg = cfg;
        this.metrics = metrics;
        this.meshCheck = meshCheck;
    }

    void routes(@Observes Router router) {
        BodyHandler body = BodyHandler.create(false).setBodyLimit(cfg.maxBodyBytes());
        // Keys first, on a route of its own, for every /v1 endpoint (other modules' too): an unauthenticated body is
        // never read.
        router.route("/v1/*").handler(this::auth).failureHandler(this::failure);
        router.post(CHAT).handler(body).handler(this::chat).failureHandler(this::failure);
        router.get("/v1/models").handler(this::models).failureHandler(this::failure);
        router.post("/v1/images").handler(body).handler(this::upload).failureHandler(this::failure);
        router.get("/v1/images/:id").handler(this::imageStatus).failureHandler(this::failure);
    }

    private void auth(RoutingContext ctx) {
        keys.check(ctx.request().getHeader(HttpHeaders.AUTHORIZATION));
        ctx.next();
    }

    // ------------------------------------------------------------------ chat

    private void chat(RoutingContext ctx) {
        long arrival = System.nanoTime();
        Buffer buf = ctx.body().buffer();
        byte[] bytes = buf == null ? new byte[0] : buf.getBytes();
        Context vctx = Vertx.currentContext();
        // The HTTP server span: parent of this request's spans and of every call to the mesh.
        io.opentelemetry.context.Context trace = io.opentelemetry.context.Context.current();
        // JSON, base64 and the tokenizer are CPU work: off the event loop.
        ctx.vertx().<Prepared>executeBlocking(() -> {
                    try (Scope ignored = trace.makeCurrent()) {
                        return pipeline.prepare(bytes, arrival);
                    }
                }, false)
                .onSuccess(p -> {
                    try (Scope ignored = trace.makeCurrent()) {
                        respond(ctx, vctx, p);
                    }
                })
                .onFailure(e -> sendError(ctx, asApi(e)));
    }

    private void respond(RoutingContext ctx, Context vctx, Prepared p) {
        OpenAiFormat fmt = new OpenAiFormat(p.id(), System.currentTimeMillis() / 1000, model.servedName(), "fp_" + model.revision(),
                p.call(), model.tokenBytes(), p.call().includeUsage());
        Responder r = p.call().stream() ? new SseResponder(ctx, fmt) : new JsonResponder(ctx, fmt);
        Multi<ChatEvent> events = pipeline.run(p);
        // Events arrive on gRPC threads; the response is written on its own event loop, in order.
        Cancellable sub = events.subscribe().with(
                e -> vctx.runOnContext(v -> r.event(e)),
                f -> vctx.runOnContext(v -> r.failure(asApi(f))),
                () -> vctx.runOnContext(v -> r.complete()));
        // A client that goes away cancels the Generate call; the decoder frees the sequence at its next step.
        ctx.response().closeHandler(v -> {
            if (!r.done) sub.cancel();
            r.closed();
        });
    }

    private abstract static class Responder {
        final RoutingContext ctx;
        final OpenAiFormat fmt;
        boolean done;

        Responder(RoutingContext ctx, OpenAiFormat fmt) {
            this.ctx = ctx;
            this.fmt = fmt;
        }

        abstract void event(ChatEvent e);

        abstract void failure(ApiException e);

        /** The connection closed (after the end, or before it: a client that went away). */
        void closed() {
        }

        void complete() {
            if (!done) failure(ApiException.internal("the response ended without a finish", null));
        }
    }

    /** OpenAI's SSE: role chunk, content chunks, finish chunk, usage chunk, {@code [DONE]}. */
    private final class SseResponder extends Responder {
        private boolean started;
        /** One span per stream, from the first write to the last (not one per token: that would cost per token). */
        private Span write;
        private int chunks;
        private final io.opentelemetry.context.Context trace = io.opentelemetry.context.Context.current();

        SseResponder(RoutingContext ctx, OpenAiFormat fmt) {
            super(ctx, fmt);
        }

        @Override
        void event(ChatEvent e) {
            HttpServerResponse resp = ctx.response();
            if (done || resp.closed()) return;
            if (!started) {
                started = true;
                write = tracer.spanBuilder("sse.write").setParent(trace).startSpan();
                resp.setStatusCode(200).setChunked(true)
                        .putHeader(HttpHeaders.CONTENT_TYPE, "text/event-stream; charset=utf-8")
                        .putHeader(HttpHeaders.CACHE_CONTROL, "no-cache")
                        .putHeader("X-Accel-Buffering", "no")
                        .putHeader("X-Request-Id", fmt.id());
                send(fmt.roleChunk());
            }
            switch (e) {
                case ChatEvent.Delta d -> {
                    String chunk = fmt.deltaChunk(d);
                    if (chunk != null) send(chunk);
                }
                case ChatEvent.Finish f -> {
                    for (String chunk : fmt.finishChunks(f)) send(chunk);
                    done = true;
                    resp.end("data: [DONE]\n\n");
                    endWrite(null);
                }
            }
        }

        @Override
        void closed() {
            endWrite(done ? null : "the client went away");
        }

        private void endWrite(String error) {
            if (write == null) return;
            write.setAttribute("vqwen.chunks", chunks);
            if (error != null) write.setStatus(StatusCode.ERROR, error);
            write.end();
            write = null;
        }

        @Override
        void failure(ApiException e) {
            if (done) return;
            done = true;
            if (!started) {
                sendError(ctx, e);
            } else if (!ctx.response().closed()) {
                // Mid-stream: an error event is the last event; no [DONE], which would claim a complete answer.
                ctx.response().end("data: " + OpenAiFormat.error(e) + "\n\n");
            }
            endWrite(e.getMessage());
        }

        private void send(String json) {
            chunks++;
            ctx.response().write("data: " + json + "\n\n");
        }
    }

    /** One {@code chat.completion} when the stream has finished. */
    private final class JsonResponder extends Responder {
        private final StringBuilder text = new StringBuilder();
        private final List<TokenLogprob> logprobs = new ArrayList<>();

        JsonResponder(RoutingContext ctx, OpenAiFormat fmt) {
            super(ctx, fmt);
        }

        @Override
        void event(ChatEvent e) {
            if (done) return;
            switch (e) {
                case ChatEvent.Delta d -> {
                    text.append(d.text());
                    logprobs.addAll(d.logprobs());
                }
                case ChatEvent.Finish f -> {
                    done = true;
                    if (ctx.response().closed()) return;
                    ctx.response().setStatusCode(200).putHeader(HttpHeaders.CONTENT_TYPE, "application/json")
                            .end(fmt.completion(text.toString(), logprobs, f));
                }
            }
        }

        @Override
        void failure(ApiException e) {
            if (done) return;
            done = true;
            sendError(ctx, e);
        }
    }

    // ------------------------------------------------------------------ models, images

    private void models(RoutingContext ctx) {
        ObjectNode root = OpenAiFormat.JSON.createObjectNode();
        root.put("object", "list");
        ObjectNode m = root.putArray("data").addObject();
        m.put("id", model.servedName());
        m.put("object", "model");
        m.put("created", model.created());
        m.put("owned_by", "vqwen");
        m.put("root", model.model());
        m.putNull("parent");
        InfoResponse d = meshCheck.lastDecoderInfo();
        if (d != null) m.put("max_model_len", d.getMaxModelLen());
        ctx.response().putHeader(HttpHeaders.CONTENT_TYPE, "application/json").end(OpenAiFormat.write(root));
    }

    private void upload(RoutingContext ctx) {
        Buffer buf = ctx.body().buffer();
        byte[] raw = buf == null ? new byte[0] : buf.getBytes();
        String type = ctx.request().getHeader(HttpHeaders.CONTENT_TYPE);
        ctx.vertx().executeBlocking(() -> {
            byte[] image = type != null && type.toLowerCase().startsWith("application/json") ? imageFromJson(raw) : raw;
            Uploads.Upload u = pipeline.upload(image);
            // A cached image answers within a round trip; a new one is "encoding" until GET /v1/images/{id} says ready.
            boolean ready = u.knownReady();
            try {
                if (!ready) u.future().get(UPLOAD_WAIT_MS, TimeUnit.MILLISECONDS);
                ready = true;
            } catch (TimeoutException | ExecutionException e) {
                ready = false;
            }
            ObjectNode o = imageObject(u.sha256(), ready ? "ready" : "encoding");
            o.put("bytes", image.length);
            return OpenAiFormat.write(o);
        }, false).onSuccess(json -> ctx.response().putHeader(HttpHeaders.CONTENT_TYPE, "application/json").end(json))
                .onFailure(e -> sendError(ctx, asApi(e)));
    }

    /** {@code {"url":"data:image/png;base64,..."}} or {@code {"image_url":{"url":...}}}, as in a content part. */
    private byte[] imageFromJson(byte[] body) {
        JsonNode root = ChatRequestParser.readObject(body);
        JsonNode url = root.has("image_url") ? root.path("image_url").path("url") : root.path("url");
        if (!url.isTextual() || !url.asText().startsWith("data:")) {
            throw ApiException.invalid("url", "Send the image as raw bytes (Content-Type image/png, image/jpeg...) or as JSON "
                    + "{\"url\": \"data:image/png;base64,...\"}.");
        }
        ImageInput img = new ChatRequestParser(cfg.maxImageBytes(), java.util.Set.of()).parseImageUrl("url", url.asText());
        return ((ImageInput.Inline) img).bytes();
    }

    private void imageStatus(RoutingContext ctx) {
        String id = ctx.pathParam("id");
        String sha = id.startsWith("sha256:") ? id.substring(7) : id;
        Context loop = ctx.vertx().getOrCreateContext(); // the answer comes on a gRPC thread; reply on the request's loop
        pipeline.imageStatus(sha).whenComplete((st, err) -> loop.runOnContext(v -> {
            if (err != null) {
                sendError(ctx, asApi(err));
            } else if (st == null) {
                sendError(ctx, ApiException.notFound("id", "image_not_found", "Image " + id + " is not in the embedding cache "
                        + "(never uploaded here, or evicted); upload it again with POST /v1/images."));
            } else {
                ObjectNode o = imageObject(sha, st.state());
                if (st.error() != null) o.put("error", st.error());
                ctx.response().putHeader(HttpHeaders.CONTENT_TYPE, "application/json").end(OpenAiFormat.write(o));
            }
        }));
    }

    private static ObjectNode imageObject(String sha, String status) {
        ObjectNode o = OpenAiFormat.JSON.createObjectNode();
        o.put("id", "sha256:" + sha);
        o.put("object", "image");
        o.put("created", System.currentTimeMillis() / 1000);
        o.put("status", status);
        return o;
    }

    // ------------------------------------------------------------------ errors

    private void failure(RoutingContext ctx) {
        Throwable f = ctx.failure();
        ApiException e;
        if (f instanceof ApiException a) {
            e = a;
        } else if (ctx.statusCode() == 413) {
            e = ApiException.tooLarge("The request body is over this server's limit of " + Images.describeSize(cfg.maxBodyBytes())
                    + " (vqwen.gateway.max-body-bytes).");
        } else if (ctx.statusCode() >= 400 && ctx.statusCode() < 500) {
            e = ApiException.invalid(null, "Bad request (HTTP " + ctx.statusCode() + ")" + (f == null ? "." : ": " + f.getMessage()));
        } else {
            e = asApi(f);
        }
        if (ctx.request().path().equals(CHAT)) metrics.request(e.status());
        sendError(ctx, e);
    }

    static ApiException asApi(Throwable t) {
        while (t instanceof java.util.concurrent.CompletionException && t.getCause() != null) t = t.getCause();
        if (t instanceof ApiException a) return a;
        return ApiException.internal("gateway error: " + t, t);
    }

    static void sendError(RoutingContext ctx, ApiException e) {
        HttpServerResponse r = ctx.response();
        if (r.ended() || r.closed()) return;
        if (r.headWritten()) {
            r.end();
            return;
        }
        r.setStatusCode(e.status()).putHeader(HttpHeaders.CONTENT_TYPE, "application/json");
        if (e.retryAfterSeconds() != null) r.putHeader(HttpHeaders.RETRY_AFTER, Integer.toString(e.retryAfterSeconds()));
        if (e.status() == 401) r.putHeader("WWW-Authenticate", "Bearer");
        r.end(Buffer.buffer(OpenAiFormat.error(e).getBytes(StandardCharsets.UTF_8)));
    }
}
