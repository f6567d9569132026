package io.vqwen.worker;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import grpc.health.v1.HealthGrpc;
import grpc.health.v1.HealthOuterClass.HealthCheckRequest;
import grpc.health.v1.HealthOuterClass.HealthCheckResponse;
import io.grpc.Context;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import io.quarkus.grpc.GrpcClient;
import io.vqwen.proto.v1.ChatChunk;
import io.vqwen.proto.v1.ChatRequest;
import io.vqwen.proto.v1.ChatServiceGrpc;
import jakarta.enterprise.context.ApplicationScoped;
import java.io.IOException;
import java.util.Iterator;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * The gateway's public gRPC {@code ChatService.Chat}: the request JSON of {@code /v1/chat/completions} in, the
 * {@code chat.completion.chunk} objects of its SSE stream out. A job therefore gets exactly what an interactive
 * client gets: the same validation, prompt, embedding cache and decoder, and the same errors.
 */
@ApplicationScoped
public class GatewayChat implements Chat {
    private static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    /** The gateway sends its OpenAI error object in this trailer (see ChatGrpcService). */
    private static final Metadata.Key<String> OPENAI_ERROR = Metadata.Key.of("openai-error", Metadata.ASCII_STRING_MARSHALLER);

    private final ChatServiceGrpc.ChatServiceBlockingStub chat;
    private final HealthGrpc.HealthBlockingStub health;
    private final WorkerConfig cfg;
    private final String address;

    public GatewayChat(@GrpcClient("chat") ChatServiceGrpc.ChatServiceBlockingStub chat,
                       @GrpcClient("chat") HealthGrpc.HealthBlockingStub health, WorkerConfig cfg,
                       @ConfigProperty(name = "quarkus.grpc.clients.chat.host", defaultValue = "localhost") String host,
                       @ConfigProperty(name = "quarkus.grpc.clients.chat.port", defaultValue = "9080") int port) {
        this.cfg = cfg;
        this.address = host + ":" + port;
        if (cfg.apiKey().isPresent()) {
            Metadata md = new Metadata();
            md.put(AUTHORIZATION, "Bearer " + cfg.apiKey().get());
            this.chat = chat.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(md));
        } else {
            this.chat = chat;
        }
        this.health = health;
    }

    @Override
    public Outcome run(ObjectNode body, Cancel cancel) throws Failure {
        ChatRequest req = ChatRequest.newBuilder().setBodyJson(Json.string(body)).build();
        Context.CancellableContext ctx = Context.current().withCancellation();
        cancel.onCancel(() -> ctx.cancel(null));
        Context previous = ctx.attach();
        try {
            Iterator<ChatChunk> chunks = chat.withDeadlineAfter(cfg.jobTimeout().toMillis(), TimeUnit.MILLISECONDS).chat(req);
            StringBuilder text = new StringBuilder();
            String finish = null, model = null, id = null;
            JsonNode usage = null, timings = null;
            while (chunks.hasNext()) {
                JsonNode c = Json.MAPPER.readTree(chunks.next().getChunkJson());
                if (id == null) id = c.path("id").asText(null);
                if (model == null) model = c.path("model").asText(null);
                JsonNode choice = c.path("choices").path(0);
                String delta = choice.path("delta").path("content").asText("");
                text.append(delta);
                if (choice.hasNonNull("finish_reason")) finish = choice.get("finish_reason").asText();
                if (c.hasNonNull("usage")) usage = c.get("usage");
                if (c.hasNonNull("timings")) timings = c.get("timings");
            }
            if (finish == null) {
                // A stream that ends without a finish reason is cut short: treat it as the gateway failing.
                throw new Failure(Status.Code.INTERNAL, new JobError("The gateway's chat stream ended without a finish_reason.",
                        "server_error", "incomplete_stream", null, Status.Code.INTERNAL.name()), null);
            }
            return new Outcome(text.toString(), finish, usage, timings, model, id);
        } catch (StatusRuntimeException e) {
            throw failure(e, address);
        } catch (IOException e) {
            throw new Failure(Status.Code.INTERNAL, new JobError("The gateway sent a chunk that is not JSON: " + e.getMessage(),
                    "server_error", "bad_chunk", null, Status.Code.INTERNAL.name()), e);
        } finally {
            ctx.detach(previous);
            ctx.cancel(null);
        }
    }

    /** The gateway's status and its OpenAI error trailer, or a message of our own when it never answered. */
    static Failure failure(StatusRuntimeException e, String address) {
        Status s = e.getStatus();
        String json = e.getTrailers() == null ? null : e.getTrailers().get(OPENAI_ERROR);
        if (json != null) {
            try {
                JsonNode err = Json.MAPPER.readTree(json).path("error");
                if (err.isObject()) {
                    return new Failure(s.getCode(), new JobError(err.path("message").asText(s.getDescription()),
                            err.path("type").asText(null), err.path("code").asText(null), err.path("param").asText(null),
                            s.getCode().name()), e);
                }
            } catch (IOException ignored) {
                // Fall through to the status alone.
            }
        }
        String why = s.getDescription() != null ? s.getDescription()
                : s.getCause() != null ? s.getCause().toString() : "no description";
        // No OpenAI error: the gateway never answered (down, unreachable) or the call was cut.
        return new Failure(s.getCode(), new JobError("the gateway's chat at " + address + " failed: " + s.getCode() + ": " + why,
                Fault.of(s.getCode()) == Fault.POISON ? "invalid_request_error" : "server_error", null, null, s.getCode().name()), e);
    }

    @Override
    public boolean reachable() {
        try {
            HealthCheckResponse r = health.withDeadlineAfter(2, TimeUnit.SECONDS).check(HealthCheckRequest.getDefaultInstance());
            return r.getStatus() == HealthCheckResponse.ServingStatus.SERVING;
        } catch (StatusRuntimeException e) {
            return false;
        }
    }

    @Override
    public String address() {
        return address;
    }
}
