package io.vqwen.decoder;

import com.google.common.util.concurrent.FutureCallback;
import com.google.common.util.concurrent.Futures;
import com.google.common.util.concurrent.MoreExecutors;
import io.grpc.Channel;
import io.grpc.Status;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.grpc.GrpcClient;
import io.vqwen.engine.pipeline.EmbeddingSource;
import io.vqwen.engine.pipeline.ImageEmbeddings;
import io.vqwen.engine.pipeline.ImageNotFoundException;
import io.vqwen.proto.v1.FetchRequest;
import io.vqwen.proto.v1.FetchResponse;
import io.vqwen.proto.v1.ProjectorServiceGrpc;
import io.vqwen.service.ProjectorPool;
import io.vqwen.service.TensorCodec;
import io.vqwen.service.WireBytes;
import jakarta.annotation.PostConstruct;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * The decoder's {@link EmbeddingSource}: pulls each image's embeddings from the projector replica that owns its
 * hash, one async Fetch per image (in parallel, and each under the message-size limit), off the step thread. The
 * embeddings arrive in the projector's activation dtype and go to the device as they are. NOT_FOUND becomes
 * {@link ImageNotFoundException}, which the caller of Generate sees as NOT_FOUND and answers by embedding again.
 */
@ApplicationScoped
public class ProjectorFetch implements EmbeddingSource {
    /** Projector replicas as host:port,host:port; empty: the one at quarkus.grpc.clients.projector. */
    @ConfigProperty(name = "vqwen.projector-endpoints")
    java.util.Optional<String> endpoints;

    @ConfigProperty(name = "vqwen.decoder.fetch-deadline-seconds", defaultValue = "30")
    int deadlineSeconds;

    @GrpcClient("projector")
    Channel projector;

    @Inject
    MeterRegistry registry;

    private ProjectorPool pool;
    private DistributionSummary bytes;

    @PostConstruct
    void init() {
        pool = ProjectorPool.of(endpoints.orElse(""), new ProjectorPool.Endpoint("projector", projector), 64 << 20);
        bytes = WireBytes.hop(registry, WireBytes.PROJECTOR_DECODER);
    }

    @PreDestroy
    void close() {
        pool.close();
    }

    @Override
    public CompletableFuture<List<ImageEmbeddings>> fetch(List<String> sha256s, boolean release) {
        List<CompletableFuture<ImageEmbeddings>> parts = new ArrayList<>(sha256s.size());
        for (String sha : sha256s) parts.add(fetchOne(sha, release));
        return CompletableFuture.allOf(parts.toArray(CompletableFuture[]::new)).thenApply(v -> parts.stream().map(CompletableFuture::join).toList());
    }

    private CompletableFuture<ImageEmbeddings> fetchOne(String sha, boolean release) {
        CompletableFuture<ImageEmbeddings> out = new CompletableFuture<>();
        var call = ProjectorServiceGrpc.newFutureStub(pool.owner(sha).channel()).withDeadlineAfter(deadlineSeconds, TimeUnit.SECONDS)
                .fetch(FetchRequest.newBuilder().addSha256(sha).setRelease(release).build());
        Futures.addCallback(call, new FutureCallback<FetchResponse>() {
            @Override
            public void onSuccess(FetchResponse r) {
                try {
                    if (r.getEmbeddingsCount() != 1) throw new IllegalStateException("projector-service answered Fetch of one image with " + r.getEmbeddingsCount());
                    bytes.record(r.getEmbeddings(0).getData().size());
                    out.complete(TensorCodec.decodeEmbeddings(r.getEmbeddings(0), "embeddings of sha256:" + sha, -1));
                } catch (RuntimeException e) {
                    out.completeExceptionally(e);
                }
            }

            @Override
            public void onFailure(Throwable t) {
                out.completeExceptionally(Status.fromThrowable(t).getCode() == Status.Code.NOT_FOUND ? new ImageNotFoundException(sha) : t);
            }
        }, MoreExecutors.directExecutor());
        return out;
    }

    @Override
    public void release(List<String> sha256s) {
        for (String sha : sha256s) {
            ProjectorServiceGrpc.newFutureStub(pool.owner(sha).channel()).withDeadlineAfter(deadlineSeconds, TimeUnit.SECONDS)
                    .fetch(FetchRequest.newBuilder().addSha256(sha).setReleaseOnly(true).build());
        }
    }
}
