package io.vqwen.vision;

import io.grpc.Status;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.opentelemetry.context.Context;
import io.vqwen.engine.VisionEncoder;
import io.vqwen.engine.VisionEncoder.EncodedImage;
import io.vqwen.engine.backend.Backend;
import io.vqwen.engine.image.ImageException;
import io.vqwen.engine.model.Checkpoint;
import io.vqwen.engine.model.WeightSource;
import io.vqwen.proto.v1.InfoResponse;
import io.vqwen.service.EngineSettings;
import io.vqwen.service.Histograms;
import io.vqwen.service.PeerCheck;
import io.vqwen.service.ServedModel;
import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import javax.imageio.ImageIO;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * The CLIP vision tower, fed by one worker thread that takes up to {@code vqwen.vision.max-batch} queued images per
 * forward pass (on a GPU a batch costs little more than one image; on the CPU the kernels use every core anyway, so
 * one pass at a time is what the machine can do).
 */
@ApplicationScoped
public class VisionModel implements ServedModel {
    private static final Logger LOG = Logger.getLogger(VisionModel.class);

    /** One image waiting for the encoder. */
    private record Job(byte[] image, CompletableFuture<EncodedImage> result, long enqueuedNanos, Context trace) {
    }

    @Inject
    EngineSettings settings;

    @Inject
    MeterRegistry registry;

    @Inject
    VisionSpans spans;

    /** Images larger than this (width x height) are refused before decoding their pixels. */
    @ConfigProperty(name = "vqwen.vision.max-pixels", defaultValue = "50000000")
    long maxPixels;

    @ConfigProperty(name = "vqwen.vision.max-batch", defaultValue = "8")
    int maxBatch;

    /** Images queued at most; more get RESOURCE_EXHAUSTED. */
    @ConfigProperty(name = "vqwen.vision.max-waiting", defaultValue = "256")
    int maxWaiting;

    private volatile VisionEncoder encoder;
    private WeightSource weights;
    private Backend backend;
    private volatile InfoResponse info;
    private BlockingQueue<Job> queue;
    private Thread worker;

    private Timer preprocessTime, encodeTime, queueTime;
    private DistributionSummary batchSize;
    private Counter ok, invalid, failed;

    @PostConstruct
    void metrics() {
        queue = new ArrayBlockingQueue<>(maxWaiting);
        String stages = "Per image, by stage: decode + CLIP preprocessing; the vision tower forward (a batch's time divided by its size)";
        preprocessTime = Histograms.timer(registry, "vqwen_encoder_seconds", stages, Histograms.STAGE, "stage", "preprocess");
        encodeTime = Histograms.timer(registry, "vqwen_encoder_seconds", stages, Histograms.STAGE, "stage", "vision_tower");
        queueTime = Histograms.timer(registry, "vqwen_encoder_queue_time_seconds", "Time an image waited for the encoder",
                Histograms.STAGE);
        batchSize = DistributionSummary.builder("vqwen_encoder_batch_size").description("Images per vision tower forward")
                .serviceLevelObjectives(1, 2, 4, 8, 16, 32).register(registry);
        Gauge.builder("vqwen_encoder_queue_length", queue, BlockingQueue::size).description("Images waiting for the encoder")
                .register(registry);
        ok = Counter.builder("vqwen_encoder_images_total").tag("outcome", "ok").description("Images encoded, by outcome").register(registry);
        invalid = Counter.builder("vqwen_encoder_images_total").tag("outcome", "invalid").register(registry);
        failed = Counter.builder("vqwen_encoder_images_total").tag("outcome", "error").register(registry);
    }

    @Override
    public String component() {
        return "vision";
    }

    @Override
    public String load() throws IOException {
        backend = settings.createBackend();
        weights = settings.openWeights(EnumSet.of(Checkpoint.Part.VISION));
        VisionEncoder e = new VisionEncoder(weights, settings.modelDir(), backend, maxPixels);
        info = InfoResponse.newBuilder()
                .setService("vision")
                .setModel(settings.model())
                .setRevision(weights.revision())
                .setBackend(backend.name())
                .setDtype(backend.activationDtype())
                .setInputWidth(0)
                .setOutputWidth(e.featureWidth())
                .setTokensPerImage(e.tokensPerImage())
                .build();
        encoder = e;
        worker = Thread.ofPlatform().name("vqwen-vision-encoder").daemon().start(this::work);
        return "vision tower of " + settings.model() + " on " + backend.name() + ": " + e.tokensPerImage() + " x "
                + e.featureWidth() + " features per image";
    }

    @Override
    public String warmUp() throws Exception {
        EncodedImage out = submit(gradientPng(64, 48)).get();
        if (out.rows() != encoder.tokensPerImage() || out.cols() != encoder.featureWidth()) {
            throw new IllegalStateException("warm-up features are " + out.rows() + " x " + out.cols());
        }
        for (float v : out.features()) {
            if (!Float.isFinite(v)) throw new IllegalStateException("warm-up features contain " + v);
        }
        return "64x48 image -> " + out.rows() + " x " + out.cols() + " finite features";
    }

    @Override
    public Optional<PeerCheck> peerCheck() {
        return Optional.empty();
    }

    public InfoResponse info() {
        InfoResponse i = info;
        if (i == null) throw Status.UNAVAILABLE.withDescription("the model is still loading").asRuntimeException();
        return i;
    }

    /** Queues an image; the future fails with ImageException for a bad image, RESOURCE_EXHAUSTED when full. */
    public CompletableFuture<EncodedImage> submit(byte[] image) {
        if (image.length == 0) {
            invalid.increment();
            return CompletableFuture.failedFuture(new ImageException("the image is empty (0 bytes)"));
        }
        Job job = new Job(image, new CompletableFuture<>(), System.nanoTime(), Context.current());
        if (!queue.offer(job)) {
            return CompletableFuture.failedFuture(Status.RESOURCE_EXHAUSTED
                    .withDescription("the vision encoder's queue is full (" + maxWaiting + " images waiting); retry later")
                    .asRuntimeException());
        }
        return job.result();
    }

    private void work() {
        List<Job> batch = new ArrayList<>(maxBatch);
        while (!Thread.currentThread().isInterrupted()) {
            try {
                batch.add(queue.take());
            } catch (InterruptedException e) {
                break;
            }
            queue.drainTo(batch, maxBatch - 1);
            long now = System.nanoTime();
            for (Job j : batch) {
                queueTime.record(Duration.ofNanos(now - j.enqueuedNanos()));
                spans.queued(j.trace(), j.enqueuedNanos(), now);
            }
            encode(batch);
            batch.clear();
        }
        for (Job j; (j = queue.poll()) != null; ) {
            j.result().completeExceptionally(Status.UNAVAILABLE.withDescription("the service is shutting down").asRuntimeException());
        }
    }

    private void encode(List<Job> batch) {
        try {
            long t0 = System.nanoTime();
            List<EncodedImage> out = encoder.encodeBatch(batch.stream().map(Job::image).toList());
            long t1 = System.nanoTime();
            // encodeBatch reports the batch's preprocessing per image; the tower ran on the whole batch after it.
            long tower = Math.min(t1, t0 + (long) (out.getFirst().preprocessMs() * 1e6 * batch.size()));
            for (Job j : batch) spans.encoded(j.trace(), t0, tower, t1, batch.size());
            batchSize.record(batch.size());
            for (int i = 0; i < batch.size(); i++) done(batch.get(i), out.get(i));
        } catch (ImageException e) {
            if (batch.size() == 1) {
                invalid.increment();
                batch.getFirst().result().completeExceptionally(e);
                return;
            }
            // One bad image must not fail the others: encode them one by one, so only it gets the error.
            for (Job j : batch) encode(List.of(j));
        } catch (Throwable t) {
            LOG.errorf(t, "vision forward failed for a batch of %d", batch.size());
            failed.increment(batch.size());
            for (Job j : batch) j.result().completeExceptionally(t);
        }
    }

    private void done(Job j, EncodedImage e) {
        preprocessTime.record(Duration.ofNanos((long) (e.preprocessMs() * 1e6)));
        encodeTime.record(Duration.ofNanos((long) (e.encodeMs() * 1e6)));
        ok.increment();
        j.result().complete(e);
    }

    @Override
    public void close() {
        if (worker != null) worker.interrupt();
        if (weights != null) weights.close();
        if (backend != null) backend.close();
    }

    /** A small smooth RGB image, so the warm-up runs the real decode + preprocess + forward path. */
    static byte[] gradientPng(int w, int h) throws IOException {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) img.setRGB(x, y, (x * 255 / w) << 16 | (y * 255 / h) << 8 | 128);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(img, "png", out);
        return out.toByteArray();
    }
}
