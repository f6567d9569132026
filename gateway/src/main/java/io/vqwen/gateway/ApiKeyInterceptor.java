package io.vqwen.gateway;

import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.quarkus.grpc.GlobalInterceptor;
import io.vqwen.proto.v1.ChatServiceGrpc;
import jakarta.enterprise.context.ApplicationScoped;

/** The API keys on the public gRPC chat: metadata {@code authorization: Bearer <key>}, else UNAUTHENTICATED. */
@GlobalInterceptor
@ApplicationScoped
public class ApiKeyInterceptor implements ServerInterceptor {
    static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    private final ApiKeys keys;

    public ApiKeyInterceptor(ApiKeys keys) {
        this.keys = keys;
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        // Only the chat is public API; gRPC health and reflection stay open, as /q/health does.
        if (keys.enabled() && call.getMethodDescriptor().getServiceName().equals(ChatServiceGrpc.SERVICE_NAME)) {
            try {
                keys.check(headers.get(AUTHORIZATION));
            } catch (ApiException e) {
                var s = ChatGrpcService.toStatus(e);
                call.close(s.getStatus(), s.getTrailers());
                return new ServerCall.Listener<>() {
                };
            }
        }
        return next.startCall(call, headers);
    }
}
