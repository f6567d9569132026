package io.vqwen.gateway;

import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
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
        return Uni.createFrom().item(() -> pipeline.prepare(body, arrival))
                .runSubscriptionOn(Infrastructure.getDefaultWorkerPool())
                .onItem().transformToMulti(p -> {
                    OpenAiFormat fmt = new OpenAiFormat(p.id(), System.currentTimeMillis() / 1000, model.servedName(),
                            "fp_" + model.revision(), p.call(), model.tokenBytes(), true);
                    boolean[] started = {false};
                    return pipeline.run(p).onItem().transformToIterable(e -> {
                        List<String> out = new ArrayList<>(3);
                        if (!started[0]) {
                            started[0] = true;
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
                    });
                })
                .map(json -> ChatChunk.newBuilder().setChunkJson(json).build())
                .onFailure().transform(e -> toStatus(HttpApi.asApi(e)));
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
