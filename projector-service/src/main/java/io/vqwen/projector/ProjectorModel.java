package io.vqwen.projector;

import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.grpc.Status;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.quarkus.grpc.GrpcClient;
import io.vqwen.engine.ImageProjector;
import io.vqwen.engine.backend.Backend;
import io.vqwen.engine.model.Checkpoint;
import io.vqwen.engine.model.WeightSource;
import io.vqwen.engine.pipeline.ImageEmbeddings;
import io.vqwen.proto.v1.DType;
import io.vqwen.proto.v1.InfoRequest;
import io.vqwen.proto.v1.InfoResponse;
import io.vqwen.proto.v1.ProjectRequest;
import io.vqwen.proto.v1.ProjectResponse;
import io.vqwen.proto.v1.VisionServiceGrpc;
import io.vqwen.service.EngineSettings;
import io.vqwen.service.Histograms;
import io.vqwen.service.PeerCheck;
import io.vqwen.service.ServedModel;
import io.vqwen.service.TensorCodec;
import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.io.IOException;
import java.util.EnumSet;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * The LLaVA projector (linear_1, GELU, linear_2) on one worker thread: two matmuls per image, which the backend
 * already spreads over the machine, behind a bounded queue.
 */
@ApplicationScoped
public class ProjectorModel implements ServedModel {
    /** Projections queued at most; more get RESOURCE_EXHAUSTED. */
    @ConfigProperty(name = "vqwen.projector.max-waiting", defaultValue = "256")
    int maxWaiting;

    /** Feature sets projected together at most (what is queued when the worker is free). */
    @ConfigProperty(name = "vqwen.projector.max-batch", defaultValue = "32")
    int maxBatch;

    @Inject
    EngineSettings settings;

    @Inject
    MeterRegistry registry;

    @Inject
    Tracer tracer;

    @GrpcClient("vision")
    VisionServiceGrpc.VisionServiceBlockingStub vision;

    private volatile ImageProjector projector;
    private WeightSource weights;
    private Backend backend;
    private volatile InfoResponse info;
    private volatile ProjectorBatcher batcher;
    private Timer projectTime;
    private Counter ok, invalid;

    @PostConstruct
    void init() {
        projectTime = Histograms.timer(registry, "vqwen_projector_seconds", "Per request: the projector forward", Histograms.STAGE);
        ok = Counter.builder("vqwen_projector_requests_total").tag("outcome", "ok").description("Projections, by outcome").register(registry);
        invalid = Counter.builder("vqwen_projector_requests_total").tag("outcome", "invalid").register(registry);
    }

    @Override
    public String component() {
        return "projector";
    }

    @Override
    public String load() throws IOException {
        backend = settings.createBackend();
        weights = settings.openWeights(EnumSet.of(Checkpoint.Part.PROJECTOR));
        ImageProjector p = new ImageProjector(weights, backend);
        info = InfoResponse.newBuilder()
                .setService("projector")
                .setModel(settings.model())
                .setRevision(weights.revision())
                .setBackend(backend.name())
                .setDtype(backend.activationDtype())
                .setInputWidth(p.inWidth())
                .setOutputWidth(p.outWidth())
                .setTokensPerImage(weights.config().imageTokensPerImage())
                .build();
        projector = p;
        batcher = new ProjectorBatcher(p, maxBatch, maxWaiting);
        return "projector of " + settings.model() + " on " + backend.name() + ": " + p.inWidth() + " -> " + p.outWidth();
    }

    @Override
    public String warmUp() throws Exception {
        int rows = (int) info.getTokensPerImage();
        float[] x = new float[rows * projector.inWidth()];
        SplittableRandom r = new SplittableRandom(0);
        for (int i = 0; i < x.length; i++) x[i] = (float) (r.nextDouble() * 2 - 1);
        float[] y = projector.project(x, rows);
        for (float v : y) {
            if (!Float.isFinite(v)) throw new IllegalStateException("warm-up embeddings contain " + v);
        }
        return rows + " x " + projector.inWidth() + " -> " + rows + " x " + projector.outWidth() + " finite embeddings";
    }

    /** The vision service must serve the same checkpoint and produce features as wide as our input. */
    @Override
    public Optional<PeerCheck> peerCheck() {
        return Optional.of(new PeerCheck("vision", PeerCheck.address("vision"),
                () -> vision.withDeadlineAfter(3, TimeUnit.SECONDS).info(InfoRequest.getDefaultInstance()),
                PeerCheck.expecting(info.getRevision(), "feature width", InfoResponse::getOutputWidth,
                        "input width", projector.inWidth())));
    }

    public InfoResponse info() {
        InfoResponse i = info;
        if (i == null) throw Status.UNAVAILABLE.withDescription("the model is still loading").asRuntimeException();
        return i;
    }

    /** The dtype embeddings are kept and sent in: the backend's activation dtype (bf16 on CUDA, f32 on the CPU). */
    public ImageEmbeddings.Dtype activationDtype() {
        return "bf16".equals(info().getDtype()) ? ImageEmbeddings.Dtype.BF16 : ImageEmbeddings.Dtype.F32;
    }

    /**
     * Checks the features, projects them (batched with whatever else is queued) and encodes the embeddings in the
     * requested dtype. RejectedExecutionException when the queue is full; IllegalArgumentException for bad features.
     */
    public CompletableFuture<ProjectResponse> project(ProjectRequest request) {
        ImageEmbeddings features;
        try {
            if (!request.hasFeatures()) throw new IllegalArgumentException("features: missing");
            features = TensorCodec.decodeEmbeddings(request.getFeatures(), "features", projector.inWidth());
        } catch (IllegalArgumentException e) {
            invalid.increment();
            return CompletableFuture.failedFuture(e);
        }
        ImageEmbeddings.Dtype want = request.getDtype() == DType.BF16 ? ImageEmbeddings.Dtype.BF16 : ImageEmbeddings.Dtype.F32;
        return project(features).thenApply(p -> ProjectResponse.newBuilder()
                .setEmbeddings(TensorCodec.encode(p.embeddings().as(want)))
                .setProjectMs(p.projectMs())
                .build());
    }

    /** Features in any dtype -> embeddings in the activation dtype, batched. */
    CompletableFuture<ProjectorBatcher.Projected> project(ImageEmbeddings features) {
        ProjectorBatcher b = batcher;
        if (b == null) return CompletableFuture.failedFuture(Status.UNAVAILABLE.withDescription("the model is still loading").asRuntimeException());
        long t0 = System.nanoTime();
        // From the submit to the batch's result: this image's wait for the batcher and its share of the forward.
        Span span = tracer.spanBuilder("projector.forward").setAttribute("vqwen.rows", features.rows()).startSpan();
        return b.submit(features).whenComplete((p, err) -> {
            if (err != null) span.setStatus(StatusCode.ERROR, String.valueOf(err.getMessage()));
            span.end();
            if (err != null) {
                if (err instanceof IllegalArgumentException || err.getCause() instanceof IllegalArgumentException) invalid.increment();
                return;
            }
            projectTime.record(System.nanoTime() - t0, TimeUnit.NANOSECONDS);
            ok.increment();
        });
    }

    @Override
    public void close() {
        if (batcher != null) batcher.close();
        if (weights != null) weights.close();
        if (backend != null) backend.close();
    }
}
