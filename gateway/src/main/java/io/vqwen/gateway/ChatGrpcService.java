package io.vqwen.gateway;

import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
import io.quarkus.grpc.GrpcService;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.smallrye.mutiny.infrastructure.Infrastructure;
import io.vqwen.proto.v1.ChatChunk;
import io.vqwen.proto.v1.ChatRequest;
import io.vqwen.proto.v1.ChatService;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import jakarta.inject.Inject;

/**
 * The public gRPC chat: the same request JSON as {@code /v1/chat/completions}, answered with the same
 * {@code chat.completion.chunk} objects as the SSE data lines (always streamed, always ending with the usage chunk
 * that carries {@code timings}). Errors are gRPC statuses whose description is the OpenAI error message, with
 * the OpenAI error JSON in the {@code openai-error} trailer.
 */
@GrpcService
public class ChatGrpcService implements ChatService {
    static final Metadata.Key<String> ERROR_TRAILER = Metadata.Key.of("openai-error", Metadata.ASCII_STRING_MARSHALLER);

    private final ChatPipeline pipeline;
    private final ModelFiles model;
    private final GatewayConfig cfg;
    @Inject
    Tracer tracer;

    public ChatGrpcService(ChatPipeline pipeline, ModelFiles model, GatewayConfig cfg) {
        this.pipeline = pipeline;
        this.model = model;
        this.cfg = cfg;
    }

    @Override
    public Multi<ChatChunk> chat(ChatRequest request) {
        long arrival = System.nanoTime();
        byte[] body = request.getBodyJson().getBytes(StandardCharsets.UTF_8);
        if (body.length > cfg.maxBodyBytes()) {
            return Multi.createFrom().failure(toStatus(ApiException.tooLarge("The request body is over this server's limit of "
                    + Images.describeSize(cfg.maxBodyBytes()) + " (vqwen.gateway.max-body-bytes).")));
        }
        // The gRPC server span, the parent of this request's spans; worker threads do not carry it by themselves.
        Context trace = Context.current();
        return Uni.createFrom().item(() -> {
                    try (Scope ignored = trace.makeCurrent()) {
                        return pipeline.prepare(body, arrival);
                    }
                })
                .runSubscriptionOn(Infrastructure.getDefaultWorkerPool())
                .onItem().transformToMulti(p -> {
                    try (Scope ignored = trace.makeCurrent()) {
                        return chunks(p, trace);
                    }
                })
                .map(json -> ChatChunk.newBuilder().setChunkJson(json).build())
                .onFailure().transform(e -> toStatus(HttpApi.asApi(e)));
    }

    private Multi<String> chunks(ChatPipeline.Prepared p, Context trace) {
        OpenAiFormat fmt = new OpenAiFormat(p.id(), System.currentTimeMillis() / 1000, model.servedName(),
                "fp_" + model.revision(), p.call(), model.tokenBytes(), true);
        boolean[] started = {false};
        // One span per stream, from the first chunk to the last, as the gateway's sse.write.
        Span[] write = {null};
        return pipeline.run(p).onItem().transformToIterable(e -> {
            List<String> out = new ArrayList<>(3);
            if (!started[0]) {
                started[0] = true;
                write[0] = tracer.spanBuilder("grpc.write").setParent(trace).startSpan();
                out.add(fmt.roleChunk());
            }
            switch (e) {
                case ChatEvent.Delta d -> {
                    String c = fmt.deltaChunk(d);
                    if (c != null) out.add(c);
                }
                case ChatEvent.Finish f -> out.addAll(fmt.finishChunks(f));
            }
            return out;
        }).onTermination().invoke((f, cancelled) -> {
            if (write[0] == null) return;
            if (f != null || cancelled) write[0].setStatus(StatusCode.ERROR, cancelled ? "cancelled" : f.getMessage());
            write[0].end();
        });
    }

    static StatusRuntimeException toStatus(ApiException e) {
        Status s = switch (e.status()) {
            case 400, 404, 413 -> Status.INVALID_ARGUMENT;
            case 401 -> Status.UNAUTHENTICATED;
            case 429 -> Status.RESOURCE_EXHAUSTED;
            case 503 -> Status.UNAVAILABLE;
            case 504 -> Status.DEADLINE_EXCEEDED;
            default -> Status.INTERNAL;
        };
        Metadata trailers = new Metadata();
        trailers.put(ERROR_TRAILER, OpenAiFormat.error(e).replaceAll("[^\\x20-\\x7e]", "?"));
        return s.withDescription(e.getMessage()).asRuntimeException(trailers);
    }
}
