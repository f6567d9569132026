package io.vqwen.gateway;

import io.grpc.Channel;
import io.grpc.ManagedChannel;
import io.quarkus.grpc.GrpcClient;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.vqwen.proto.v1.DecoderServiceGrpc;
import io.vqwen.proto.v1.EncodeRequest;
import io.vqwen.proto.v1.EncodeResponse;
import io.vqwen.proto.v1.GenerateChunk;
import io.vqwen.proto.v1.GenerateRequest;
import io.vqwen.proto.v1.InfoRequest;
import io.vqwen.proto.v1.InfoResponse;
import io.vqwen.proto.v1.MutinyDecoderServiceGrpc.MutinyDecoderServiceStub;
import io.vqwen.proto.v1.MutinyProjectorServiceGrpc.MutinyProjectorServiceStub;
import io.vqwen.proto.v1.MutinyVisionServiceGrpc.MutinyVisionServiceStub;
import io.vqwen.proto.v1.ProjectRequest;
import io.vqwen.proto.v1.ProjectResponse;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.util.concurrent.TimeUnit;

/**
 * The gateway's three peers over gRPC ({@code quarkus.grpc.clients.vision|projector|decoder}). Every call carries
 * a deadline, and a failure is tagged with the peer it came from so the client's error can name it.
 */
@ApplicationScoped
public class MeshClients {
    public enum Peer {
        VISION("vision-service"), PROJECTOR("projector-service"), DECODER("decoder-service");

        public final String label;

        Peer(String label) {
            this.label = label;
        }
    }

    /** A gRPC failure of one peer. */
    public static final class PeerException extends RuntimeException {
        public final Peer peer;

        PeerException(Peer peer, Throwable cause) {
            super(peer.label + ": " + cause.getMessage(), cause, false, false);
            this.peer = peer;
        }
    }

    @GrpcClient("vision")
    MutinyVisionServiceStub vision;
    @GrpcClient("projector")
    MutinyProjectorServiceStub projector;
    @GrpcClient("decoder")
    MutinyDecoderServiceStub decoder;
    @GrpcClient("vision")
    Channel visionChannel;
    @GrpcClient("projector")
    Channel projectorChannel;
    @GrpcClient("decoder")
    Channel decoderChannel;

    @Inject
    GatewayConfig cfg;

    public Uni<EncodeResponse> encode(EncodeRequest r) {
        return vision.withDeadlineAfter(cfg.grpcDeadlineSeconds(), TimeUnit.SECONDS).encode(r)
                .onFailure().transform(e -> new PeerException(Peer.VISION, e));
    }

    public Uni<ProjectResponse> project(ProjectRequest r) {
        return projector.withDeadlineAfter(cfg.grpcDeadlineSeconds(), TimeUnit.SECONDS).project(r)
                .onFailure().transform(e -> new PeerException(Peer.PROJECTOR, e));
    }

    /**
     * The token stream; cancelling the subscription cancels the call, and the decoder frees the sequence. Built on
     * the grpc-java stub because the Mutiny stub's server-streaming Multi does not cancel the call when its
     * subscriber goes away (quarkus-grpc-stubs ClientCalls.oneToMany), which would leave a disconnected client's
     * sequence decoding to the end.
     */
    public Multi<GenerateChunk> generate(GenerateRequest r) {
        return Multi.createFrom().<GenerateChunk>emitter(em -> DecoderServiceGrpc.newStub(decoderChannel)
                        .withDeadlineAfter(cfg.generateDeadlineSeconds(), TimeUnit.SECONDS)
                        .generate(r, new ClientResponseObserver<GenerateRequest, GenerateChunk>() {
                            private volatile boolean closed;

                            @Override
                            public void beforeStart(ClientCallStreamObserver<GenerateRequest> call) {
                                em.onTermination(() -> {
                                    if (!closed) call.cancel("the client went away", null);
                                });
                            }

                            @Override
                            public void onNext(GenerateChunk chunk) {
                                em.emit(chunk);
                            }

                            @Override
                            public void onError(Throwable t) {
                                closed = true;
                                em.fail(t);
                            }

                            @Override
                            public void onCompleted() {
                                closed = true;
                                em.complete();
                            }
                        }))
                .onFailure().transform(e -> new PeerException(Peer.DECODER, e));
    }

    public Uni<InfoResponse> info(Peer peer) {
        InfoRequest req = InfoRequest.getDefaultInstance();
        long d = cfg.healthDeadlineSeconds();
        Uni<InfoResponse> call = switch (peer) {
            case VISION -> vision.withDeadlineAfter(d, TimeUnit.SECONDS).info(req);
            case PROJECTOR -> projector.withDeadlineAfter(d, TimeUnit.SECONDS).info(req);
            case DECODER -> decoder.withDeadlineAfter(d, TimeUnit.SECONDS).info(req);
        };
        return call.onFailure().transform(e -> new PeerException(peer, e));
    }

    /**
     * Lets a channel reconnect at once instead of at the end of its exponential backoff (up to two minutes in
     * grpc-java), so readiness follows a restarted peer within a probe period.
     */
    public void resetConnectBackoff() {
        for (Channel c : new Channel[] {visionChannel, projectorChannel, decoderChannel}) {
            if (c instanceof ManagedChannel m) m.resetConnectBackoff();
        }
    }
}
