package io.vqwen.projector;

import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Scope;
import com.google.protobuf.ByteString;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.grpc.GrpcClient;
import io.vqwen.engine.pipeline.EmbeddingStore;
import io.vqwen.engine.pipeline.ImageEmbeddings;
import io.vqwen.engine.pipeline.ImageNotFoundException;
import io.vqwen.engine.pipeline.Sha256;
import io.vqwen.proto.v1.DType;
import io.vqwen.proto.v1.EmbedRequest;
import io.vqwen.proto.v1.EmbedResponse;
import io.vqwen.proto.v1.EmbedTimings;
import io.vqwen.proto.v1.EncodeRequest;
import io.vqwen.proto.v1.FetchRequest;
import io.vqwen.proto.v1.FetchResponse;
import io.vqwen.proto.v1.MutinyVisionServiceGrpc.MutinyVisionServiceStub;
import io.vqwen.service.TensorCodec;
import io.vqwen.service.WireBytes;
import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * The embedding store of the mesh, kept where embeddings are made: Embed takes an image's bytes, has vision encode
 * them (features come here once, in vision's activation dtype), projects them and keeps the result pinned until the
 * decoder Fetches it. The gateway holds only the SHA-256. Equal images share one encode; a failed encode is
 * remembered so a later lookup can say why.
 */
@ApplicationScoped
public class ProjectorStore {
    /** Images whose embeddings are kept (one 576 x 2560 image of the real model: 2.9 MB in bf16, 5.9 MB in f32). */
    @ConfigProperty(name = "vqwen.projector.embedding-cache-entries", defaultValue = "256")
    int entries;

    /** How long a pin holds an entry when its request never fetches (a gateway that died between Embed and Generate). */
    @ConfigProperty(name = "vqwen.projector.pin-lease-seconds", defaultValue = "120")
    int leaseSeconds;

    /** Deadline of the Encode call to vision. */
    @ConfigProperty(name = "vqwen.projector.vision-deadline-seconds", defaultValue = "30")
    int visionDeadlineSeconds;

    @Inject
    ProjectorModel model;

    @Inject
    MeterRegistry registry;

    @GrpcClient("vision")
    MutinyVisionServiceStub vision;

    /** The cache lookup's span (docs/tracing.md); on a miss the encode it starts (vision, projector) is its child. */
    @Inject
    Tracer tracer;

    private EmbeddingStore store;
    private DistributionSummary imageBytes, featureBytes, embeddingBytes;

    @PostConstruct
    void init() {
        store = new EmbeddingStore(entries, Duration.ofSeconds(leaseSeconds));
        imageBytes = WireBytes.hop(registry, WireBytes.GATEWAY_PROJECTOR);
        featureBytes = WireBytes.hop(registry, WireBytes.VISION_PROJECTOR);
        embeddingBytes = WireBytes.hop(registry, WireBytes.PROJECTOR_DECODER);
    }

    EmbeddingStore store() {
        return store;
    }

    public CompletableFuture<EmbedResponse> embed(EmbedRequest r) {
        long t0 = System.nanoTime();
        if (r.getImage().isEmpty()) return lookup(r.getSha256());
        imageBytes.record(r.getImage().size());
        String sha = Sha256.hex(r.getImage().toByteArray());
        if (!r.getSha256().isEmpty() && !r.getSha256().equals(sha)) {
            return CompletableFuture.failedFuture(new IllegalArgumentException("sha256 " + r.getSha256() + " does not match the image bytes (" + sha + ")"));
        }
        EmbedTimings.Builder timings = EmbedTimings.newBuilder();
        Span span = tracer.spanBuilder("embedding.cache").startSpan();
        EmbeddingStore.Lookup l;
        try (Scope ignored = span.makeCurrent()) {
            l = store.getOrStart(sha, () -> encode(r.getImage(), r.getMimeType(), timings), true);
        }
        span.setAttribute("vqwen.cache_hit", l.hit());
        return l.future().copy().whenComplete((s, err) -> {
            if (err != null) span.setStatus(StatusCode.ERROR, String.valueOf(err.getMessage()));
            span.end();
        }).thenApply(s -> response(sha, s.embeddings(), l.hit(), l.hit() ? EmbedTimings.newBuilder() : timings, t0));
    }

    /** vision Encode -> projector; runs once per image however many requests wait for it. */
    private CompletableFuture<EmbeddingStore.Stored> encode(ByteString image, String mime, EmbedTimings.Builder timings) {
        long t0 = System.nanoTime();
        DType dtype = model.activationDtype() == ImageEmbeddings.Dtype.BF16 ? DType.BF16 : DType.F32;
        EncodeRequest req = EncodeRequest.newBuilder().setImage(image).setMimeType(mime).setDtype(dtype).build();
        return vision.withDeadlineAfter(visionDeadlineSeconds, TimeUnit.SECONDS).encode(req).subscribeAsCompletionStage()
                .thenCompose(er -> {
                    featureBytes.record(er.getFeatures().getData().size());
                    timings.setPreprocessMs(er.getPreprocessMs()).setVisionMs(er.getEncodeMs());
                    return model.project(TensorCodec.decodeEmbeddings(er.getFeatures(), "vision features", -1));
                })
                .thenApply(p -> {
                    timings.setProjectMs(p.projectMs());
                    return new EmbeddingStore.Stored(p.embeddings(), (System.nanoTime() - t0) / 1e6);
                });
    }

    private CompletableFuture<EmbedResponse> lookup(String sha) {
        long t0 = System.nanoTime();
        if (sha.isEmpty()) return CompletableFuture.failedFuture(new IllegalArgumentException("EmbedRequest: neither image nor sha256"));
        CompletableFuture<EmbeddingStore.Stored> f = store.get(sha, true);
        if (f == null) return CompletableFuture.failedFuture(notFound(sha));
        return f.copy().thenApply(s -> response(sha, s.embeddings(), true, EmbedTimings.newBuilder(), t0));
    }

    private static EmbedResponse response(String sha, ImageEmbeddings e, boolean cached, EmbedTimings.Builder timings, long t0) {
        return EmbedResponse.newBuilder().setSha256(sha).setRows(e.rows()).setWidth(e.width()).setCached(cached)
                .setTimings(timings.setTotalMs((System.nanoTime() - t0) / 1e6)).build();
    }

    public CompletableFuture<FetchResponse> fetch(FetchRequest r) {
        if (r.getReleaseOnly()) {
            store.release(r.getSha256List());
            return CompletableFuture.completedFuture(FetchResponse.getDefaultInstance());
        }
        return store.fetch(r.getSha256List(), r.getRelease()).handle((list, err) -> {
            if (err != null) {
                Throwable c = err instanceof CompletionException && err.getCause() != null ? err.getCause() : err;
                if (c instanceof ImageNotFoundException nf) throw notFound(nf.sha256());
                throw c instanceof RuntimeException re ? re : new CompletionException(c);
            }
            FetchResponse.Builder b = FetchResponse.newBuilder();
            for (ImageEmbeddings e : list) {
                embeddingBytes.record(e.byteSize());
                b.addEmbeddings(TensorCodec.encode(e));
            }
            return b.build();
        });
    }

    /** NOT_FOUND naming the hash, with why when its encode failed (a bad file stays INVALID_ARGUMENT). */
    private StatusRuntimeException notFound(String sha) {
        Throwable failed = store.failure(sha);
        if (failed != null && Status.fromThrowable(failed).getCode() == Status.Code.INVALID_ARGUMENT) {
            return Status.INVALID_ARGUMENT.withDescription("image sha256:" + sha + " could not be encoded: "
                    + Status.fromThrowable(failed).getDescription()).asRuntimeException();
        }
        return Status.NOT_FOUND.withDescription("image sha256:" + sha + " is not held by this projector ("
                + (failed != null ? "its encode failed: " + failed.getMessage() : "never embedded here, or evicted") + ")").asRuntimeException();
    }
}
