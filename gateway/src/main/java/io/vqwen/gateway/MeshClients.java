package io.vqwen.gateway;

import io.grpc.Channel;
import io.grpc.ManagedChannel;
import io.quarkus.grpc.GrpcClient;
import io.smallrye.mutiny.Uni;
import io.vqwen.proto.v1.InfoRequest;
import io.vqwen.proto.v1.InfoResponse;
import io.vqwen.proto.v1.MutinyDecoderServiceGrpc.MutinyDecoderServiceStub;
import io.vqwen.proto.v1.MutinyProjectorServiceGrpc.MutinyProjectorServiceStub;
import io.vqwen.proto.v1.MutinyVisionServiceGrpc.MutinyVisionServiceStub;
import io.vqwen.service.ProjectorPool;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * The gateway's three peers over gRPC ({@code quarkus.grpc.clients.vision|projector|decoder}). The gateway calls
 * vision only for Info: image bytes go to the projector (Embed), handles to the decoder (Generate). Every call
 * carries a deadline, and a failure is tagged with the peer it came from so the client's error can name it.
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

    /** Projector replicas as host:port,host:port; blank: the one projector client. */
    @ConfigProperty(name = "vqwen.projector-endpoints")
    java.util.Optional<String> projectorEndpoints;

    private volatile ProjectorPool pool;

    /**
     * The projector replicas, for Embed (image bytes go to the one that owns their hash): vqwen.projector-endpoints
     * when set, else the one at quarkus.grpc.clients.projector.
     */
    public ProjectorPool projectors() {
        ProjectorPool p = pool;
        if (p == null) {
            synchronized (this) {
                if (pool == null) pool = ProjectorPool.of(projectorEndpoints.orElse(""), new ProjectorPool.Endpoint("projector", projectorChannel), 64 << 20);
                p = pool;
            }
        }
        return p;
    }

    /** The decoder's channel: Generate runs on the grpc-java stub over it (see RemoteGenerator for why). */
    public Channel decoderChannel() {
        return decoderChannel;
    }

    @PreDestroy
    void close() {
        if (pool != null) pool.close();
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
