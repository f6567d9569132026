package io.vqwen.engine;

import io.vqwen.engine.backend.Backend;
import io.vqwen.engine.backend.Tensor;
import io.vqwen.engine.image.ClipImageProcessor;
import io.vqwen.engine.image.ImageProcessorConfig;
import io.vqwen.engine.model.ClipVisionModel;
import io.vqwen.engine.model.WeightSource;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Image bytes -> CLIPImageProcessor pixel values -> CLIP vision tower -> selected features (vision-service's job). */
public final class VisionEncoder {
    /** Features (rows, cols) of one image, row-major, with where the time went. */
    public record EncodedImage(float[] features, int rows, int cols, double preprocessMs, double encodeMs) {
    }

    private final Backend backend;
    private final ClipImageProcessor processor;
    private final ClipVisionModel model;
    private final int tokensPerImage;
    private final int featureWidth;

    public VisionEncoder(WeightSource weights, ImageProcessorConfig processorConfig, Backend backend, long maxPixels) {
        this.backend = backend;
        this.processor = new ClipImageProcessor(processorConfig, maxPixels);
        this.model = new ClipVisionModel(backend, weights);
        this.tokensPerImage = weights.config().imageTokensPerImage();
        this.featureWidth = weights.config().visionFeatureWidth();
    }

    public VisionEncoder(WeightSource weights, Path modelDir, Backend backend, long maxPixels) throws IOException {
        this(weights, ImageProcessorConfig.load(modelDir), backend, maxPixels);
    }

    public int tokensPerImage() {
        return tokensPerImage;
    }

    public int featureWidth() {
        return featureWidth;
    }

    public ClipImageProcessor processor() {
        return processor;
    }

    public EncodedImage encode(byte[] image) {
        return encodeBatch(List.of(image)).getFirst();
    }

    /** Encodes several images in one forward pass. Bad images throw {@code ImageException}. */
    public List<EncodedImage> encodeBatch(List<byte[]> images) {
        long t0 = System.nanoTime();
        float[][] pixels = new float[images.size()][];
        // Decoding and resizing are per-image CPU work: spread a batch over the cores (the processor is immutable).
        if (pixels.length == 1) pixels[0] = processor.preprocess(images.getFirst());
        else java.util.stream.IntStream.range(0, pixels.length).parallel().forEach(i -> pixels[i] = processor.preprocess(images.get(i)));
        long t1 = System.nanoTime();
        List<EncodedImage> out = encodePixels(pixels);
        double pre = (t1 - t0) / 1e6 / images.size();
        return out.stream().map(e -> new EncodedImage(e.features, e.rows, e.cols, pre, e.encodeMs)).toList();
    }

    /** Pixel values (CHW, as the processor makes them) -> features; the golden tests enter here. */
    public List<EncodedImage> encodePixels(float[][] pixels) {
        long t0 = System.nanoTime();
        Tensor features = model.forward(pixels);
        float[] all = backend.download(features);
        backend.free(features);
        double ms = (System.nanoTime() - t0) / 1e6 / pixels.length;
        int per = tokensPerImage * featureWidth;
        List<EncodedImage> out = new ArrayList<>();
        for (int i = 0; i < pixels.length; i++) {
            float[] f = new float[per];
            System.arraycopy(all, i * per, f, 0, per);
            out.add(new EncodedImage(f, tokensPerImage, featureWidth, 0, ms));
        }
        return out;
    }
}
