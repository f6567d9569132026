package io.vqwen.engine.image;

import java.awt.image.BufferedImage;
import java.util.Locale;

/**
 * Hugging Face's {@code CLIPImageProcessor} with the PIL backend ({@code PilBackend._preprocess} in transformers
 * 5.17), as LLaVA uses it, from encoded bytes to {@code pixel_values[0]}:
 * <ol>
 *   <li>{@code load_image}: decode, {@code exif_transpose}, {@code convert("RGB")} ({@link ImageDecoder});</li>
 *   <li>resize: short side to {@code shortest_edge}, long side {@code int(shortest_edge * long / short)}, with
 *       Pillow's antialiased {@code Image.resize} on the uint8 image ({@link PilResample});</li>
 *   <li>center crop: top {@code (h - crop_h) // 2}, left {@code (w - crop_w) // 2}, zero padding where the
 *       crop is larger than the image (transformers' {@code center_crop});</li>
 *   <li>rescale: {@code float32(uint8 * rescale_factor)}, the product taken in float64;</li>
 *   <li>normalize: {@code (x - mean) / std} in float32.</li>
 * </ol>
 * The output is channel-major (C, H, W) float32, the layout of {@code pixel_values[0]}. Instances are immutable and
 * thread-safe.
 */
public final class ClipImageProcessor {
    private final ImageProcessorConfig config;
    private final long maxPixels;
    /** (3, 256): the rescaled and normalised value of every uint8 level, per channel. */
    private final float[] levels = new float[3 * 256];

    /**
     * @param maxPixels limit on the decoded image's pixel count, and on the resized image's (a 1 x 100000 strip
     *                  would otherwise resize to 336 x 33.6 million)
     */
    public ClipImageProcessor(ImageProcessorConfig config, long maxPixels) {
        if (maxPixels <= 0) {
            throw new IllegalArgumentException("maxPixels must be positive, got " + maxPixels);
        }
        this.config = config;
        this.maxPixels = maxPixels;
        float[] mean = config.imageMean();
        float[] std = config.imageStd();
        for (int c = 0; c < 3; c++) {
            for (int v = 0; v < 256; v++) {
                // transformers rescale(): image.astype(float64) * scale, then astype(float32);
                // normalize() casts uint8 to float32 when there was no rescale
                float x = config.doRescale() ? (float) (v * config.rescaleFactor()) : (float) v;
                if (config.doNormalize()) {
                    x = (x - mean[c]) / std[c]; // float32 arithmetic, as numpy does with float32 operands
                }
                levels[c * 256 + v] = x;
            }
        }
    }

    public ImageProcessorConfig config() {
        return config;
    }

    /** Decode + EXIF transpose + RGB + resize + crop + rescale + normalize. Returns CHW float32, length 3*cropH*cropW. */
    public float[] preprocess(byte[] encodedImage) {
        return process(ImageDecoder.decode(encodedImage, maxPixels)).chw();
    }

    /** The same for an image decoded elsewhere; its samples are taken as {@link ImageDecoder#fromBufferedImage}. */
    public float[] preprocess(BufferedImage rgbImage) {
        return process(ImageDecoder.fromBufferedImage(rgbImage)).chw();
    }

    /** Pixel values with their size (which is the crop size unless {@code do_center_crop} is off). */
    public record PixelValues(int height, int width, float[] chw) {
    }

    /** Resize, crop, rescale and normalize an RGB image. */
    public PixelValues process(DecodedImage image) {
        ImageDecoder.checkSize(image.width(), image.height(), maxPixels);
        int w = image.width();
        int h = image.height();
        byte[] rgb = image.rgb();
        if (config.doResize()) {
            int[] hw = resizeOutputSize(h, w, config.shortestEdge());
            long outPixels = (long) hw[0] * hw[1];
            if (outPixels > maxPixels) {
                throw new ImageException(String.format(Locale.ROOT,
                        "image is %dx%d; resizing its short side to %d would make %dx%d = %.3g pixels, over the "
                                + "limit of %d", w, h, config.shortestEdge(), hw[1], hw[0], (double) outPixels,
                        maxPixels));
            }
            rgb = PilResample.resize(rgb, w, h, 3, hw[1], hw[0], config.resample());
            h = hw[0];
            w = hw[1];
        }
        if (config.doCenterCrop()) {
            rgb = centerCrop(rgb, h, w, config.cropHeight(), config.cropWidth());
            h = config.cropHeight();
            w = config.cropWidth();
        }
        int plane = h * w;
        float[] chw = new float[3 * plane];
        for (int i = 0; i < plane; i++) {
            chw[i] = levels[rgb[3 * i] & 0xFF];
            chw[plane + i] = levels[256 + (rgb[3 * i + 1] & 0xFF)];
            chw[2 * plane + i] = levels[512 + (rgb[3 * i + 2] & 0xFF)];
        }
        return new PixelValues(h, w, chw);
    }

    /**
     * transformers {@code get_resize_output_image_size(default_to_square=False)}: (height, width) with the short
     * side at {@code shortestEdge} and the long side {@code int(shortestEdge * long / short)}.
     */
    public static int[] resizeOutputSize(int height, int width, int shortestEdge) {
        int shortSide = Math.min(width, height);
        int longSide = Math.max(width, height);
        // Python's int / int is the correctly rounded quotient, which is what double division gives here
        long newLong = (long) ((double) ((long) shortestEdge * longSide) / shortSide);
        if (newLong > Integer.MAX_VALUE) {
            throw new ImageException("image is " + width + "x" + height + "; resizing its short side to "
                    + shortestEdge + " would make the long side " + newLong + " pixels");
        }
        return width <= height ? new int[] {(int) newLong, shortestEdge} : new int[] {shortestEdge, (int) newLong};
    }

    /**
     * transformers {@code center_crop} on (h, w, 3) uint8: offsets {@code (h - ch) // 2} and {@code (w - cw) // 2};
     * when the crop is larger, the image is first centred on a zero canvas with padding {@code ceil(diff / 2)}.
     */
    static byte[] centerCrop(byte[] rgb, int h, int w, int cropH, int cropW) {
        int top = Math.floorDiv(h - cropH, 2);
        int left = Math.floorDiv(w - cropW, 2);
        byte[] out = new byte[cropH * cropW * 3];
        if (top >= 0 && left >= 0 && top + cropH <= h && left + cropW <= w) {
            for (int y = 0; y < cropH; y++) {
                System.arraycopy(rgb, ((top + y) * w + left) * 3, out, y * cropW * 3, cropW * 3);
            }
            return out;
        }
        int newH = Math.max(cropH, h);
        int newW = Math.max(cropW, w);
        int topPad = (newH - h + 1) / 2; // ceil((new - orig) / 2), both non-negative
        int leftPad = (newW - w + 1) / 2;
        int cropTop = top + topPad;
        int cropLeft = left + leftPad;
        // the padded canvas is newH x newW with the image at (topPad, leftPad); copy its window [cropTop, +cropH)
        for (int y = 0; y < cropH; y++) {
            int cy = cropTop + y - topPad; // row in the original image
            if (cy < 0 || cy >= h) {
                continue;
            }
            for (int x = 0; x < cropW; x++) {
                int cx = cropLeft + x - leftPad;
                if (cx >= 0 && cx < w) {
                    System.arraycopy(rgb, (cy * w + cx) * 3, out, (y * cropW + x) * 3, 3);
                }
            }
        }
        return out;
    }
}
