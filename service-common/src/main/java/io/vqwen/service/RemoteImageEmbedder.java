package io.vqwen.service;

import com.google.common.util.concurrent.FutureCallback;
import com.google.common.util.concurrent.Futures;
import com.google.common.util.concurrent.ListenableFuture;
import com.google.common.util.concurrent.MoreExecutors;
import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import io.grpc.Status;
import io.micrometer.core.instrument.DistributionSummary;
import io.vqwen.engine.pipeline.ImageEmbedder;
import io.vqwen.engine.pipeline.ImageHandle;
import io.vqwen.engine.pipeline.ImageNotFoundException;
import io.vqwen.engine.pipeline.Sha256;
import io.vqwen.proto.v1.EmbedRequest;
import io.vqwen.proto.v1.EmbedResponse;
import io.vqwen.proto.v1.FetchRequest;
import io.vqwen.proto.v1.ProjectorServiceGrpc;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

/**
 * The image embedder over gRPC: projector-service's Embed. Image bytes go to the replica that owns their hash, once;
 * what comes back is a handle. NOT_FOUND (a reference the projector no longer holds) becomes
 * {@link ImageNotFoundException}; every other failure goes through {@code tag}, so the caller can say which peer
 * failed.
 */
public final class RemoteImageEmbedder implements ImageEmbedder {
    private final ProjectorPool pool;
    private final int deadlineSeconds;
    private final DistributionSummary imageBytes;
    private final UnaryOperator<Throwable> tag;

    public RemoteImageEmbedder(ProjectorPool pool, int deadlineSeconds, DistributionSummary imageBytes, UnaryOperator<Throwable> tag) {
        this.pool = pool;
        this.deadlineSeconds = deadlineSeconds;
        this.imageBytes = imageBytes;
        this.tag = tag;
    }

    private ProjectorServiceGrpc.ProjectorServiceFutureStub stub(String sha256) {
        // One replica needs no hash (hashing a 10 MB file costs ~20 ms); several route by it.
        var ep = pool.endpoints().size() == 1 ? pool.endpoints().getFirst() : pool.owner(sha256);
        return ProjectorServiceGrpc.newFutureStub(ep.channel()).withDeadlineAfter(deadlineSeconds, TimeUnit.SECONDS);
    }

    @Override
    public CompletableFuture<ImageHandle> embed(byte[] image) {
        String sha = pool.endpoints().size() == 1 ? "" : Sha256.hex(image);
        imageBytes.record(image.length);
        // The bytes are the caller's and never written again: wrap them instead of copying up to 10 MB.
        ByteString bytes = UnsafeByteOperations.unsafeWrap(image);
        return call(stub(sha).embed(EmbedRequest.newBuilder().setImage(bytes).setSha256(sha).build()), null);
    }

    @Override
    public CompletableFuture<ImageHandle> lookup(String sha256) {
        return call(stub(sha256).embed(EmbedRequest.newBuilder().setSha256(sha256).build()), sha256);
    }

    @Override
    public void release(List<String> sha256s) {
        for (String sha : sha256s) stub(sha).fetch(FetchRequest.newBuilder().addSha256(sha).setReleaseOnly(true).build());
    }

    private CompletableFuture<ImageHandle> call(ListenableFuture<EmbedResponse> call, String lookupSha) {
        CompletableFuture<ImageHandle> out = new CompletableFuture<>();
        Futures.addCallback(call, new FutureCallback<>() {
            @Override
            public void onSuccess(EmbedResponse r) {
                try {
                    out.complete(new ImageHandle(r.getSha256(), (int) r.getRows(), (int) r.getWidth(),
                            r.getCached() ? 0 : r.getTimings().getTotalMs(), r.getCached()));
                } catch (RuntimeException e) {
                    out.completeExceptionally(e);
                }
            }

            @Override
            public void onFailure(Throwable t) {
                boolean missing = lookupSha != null && Status.fromThrowable(t).getCode() == Status.Code.NOT_FOUND;
                out.completeExceptionally(missing ? new ImageNotFoundException(lookupSha) : tag.apply(t));
            }
        }, MoreExecutors.directExecutor());
        return out;
    }
}
