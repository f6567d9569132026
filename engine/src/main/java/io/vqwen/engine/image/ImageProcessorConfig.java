package io.vqwen.engine.image;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * The settings of Hugging Face's {@code CLIPImageProcessor}, named after its fields.
 *
 * @param shortestEdge  {@code size.shortest_edge}: the short side after resizing, aspect ratio kept
 * @param cropHeight    {@code crop_size.height}
 * @param cropWidth     {@code crop_size.width}
 * @param rescaleFactor {@code rescale_factor}, 1/255 for 8-bit input
 * @param imageMean     {@code image_mean}, one per RGB channel, as float32 (numpy casts them so)
 * @param imageStd      {@code image_std}, likewise
 * @param resample      {@code resample}: Pillow's filter id, see {@link PilResample} (3 = BICUBIC)
 * @param doConvertRgb  {@code do_convert_rgb}; decoded images are RGB whatever it says, as after {@code load_image}
 */
public record ImageProcessorConfig(int shortestEdge, int cropHeight, int cropWidth, boolean doResize,
                                   boolean doCenterCrop, boolean doRescale, double rescaleFactor, boolean doNormalize,
                                   float[] imageMean, float[] imageStd, int resample, boolean doConvertRgb) {

    /** transformers' OPENAI_CLIP_MEAN / OPENAI_CLIP_STD. */
    public static final float[] OPENAI_CLIP_MEAN = {0.48145466f, 0.4578275f, 0.40821073f};
    public static final float[] OPENAI_CLIP_STD = {0.26862954f, 0.26130258f, 0.27577711f};

    public ImageProcessorConfig {
        if (doResize && shortestEdge <= 0) {
            throw new IllegalArgumentException("size.shortest_edge must be positive, got " + shortestEdge);
        }
        if (doCenterCrop && (cropHeight <= 0 || cropWidth <= 0)) {
            throw new IllegalArgumentException("crop_size must be positive, got " + cropHeight + "x" + cropWidth);
        }
        if (imageMean == null || imageMean.length != 3 || imageStd == null || imageStd.length != 3) {
            throw new IllegalArgumentException("image_mean and image_std need 3 values (RGB), got "
                    + Arrays.toString(imageMean) + " and " + Arrays.toString(imageStd));
        }
        for (float s : imageStd) {
            if (s == 0f || Float.isNaN(s)) {
                throw new IllegalArgumentException("image_std must be non-zero, got " + Arrays.toString(imageStd));
            }
        }
        PilResample.filterName(resample);
        imageMean = imageMean.clone();
        imageStd = imageStd.clone();
    }

    /** {@code CLIPImageProcessor()} with no arguments: 224 short side, 224x224 crop, bicubic, CLIP mean/std. */
    public static ImageProcessorConfig clipDefaults() {
        return new ImageProcessorConfig(224, 224, 224, true, true, true, 1 / 255.0, true, OPENAI_CLIP_MEAN,
                OPENAI_CLIP_STD, PilResample.BICUBIC, true);
    }

    /**
     * Reads processor_config.json (key "image_processor" holds the settings) or preprocessor_config.json (settings
     * at top level) from a model dir; HF defaults for absent fields. processor_config.json wins when both exist.
     *
     * @throws IOException when neither file exists, or the settings are not ones this processor implements
     */
    public static ImageProcessorConfig load(Path modelDir) throws IOException {
        ObjectMapper json = new ObjectMapper();
        Path processor = modelDir.resolve("processor_config.json");
        Path preprocessor = modelDir.resolve("preprocessor_config.json");
        JsonNode settings = null;
        Path source = null;
        if (Files.isRegularFile(processor)) {
            JsonNode node = json.readTree(processor.toFile()).get("image_processor");
            if (node != null && node.isObject()) {
                settings = node;
                source = processor;
            }
        }
        if (settings == null && Files.isRegularFile(preprocessor)) {
            settings = json.readTree(preprocessor.toFile());
            source = preprocessor;
        }
        if (settings == null) {
            throw new IOException("no image processor settings in " + modelDir
                    + ": neither processor_config.json with an \"image_processor\" entry nor preprocessor_config.json");
        }
        try {
            return fromJson(settings);
        } catch (IllegalArgumentException e) {
            throw new IOException(source + ": " + e.getMessage(), e);
        }
    }

    /** The settings object itself (the top level of preprocessor_config.json). */
    public static ImageProcessorConfig fromJson(JsonNode s) {
        ImageProcessorConfig d = clipDefaults();
        int shortest = d.shortestEdge();
        JsonNode size = s.get("size");
        if (size != null && !size.isNull()) {
            if (size.isInt()) {
                shortest = size.asInt(); // get_size_dict(size, default_to_square=False): {"shortest_edge": n}
            } else if (size.has("shortest_edge") && !size.has("longest_edge")) {
                shortest = size.get("shortest_edge").asInt();
            } else {
                throw new IllegalArgumentException("size " + size + " is not supported: this processor resizes the "
                        + "shortest edge only ({\"shortest_edge\": n})");
            }
        }
        int cropH = d.cropHeight();
        int cropW = d.cropWidth();
        JsonNode crop = s.get("crop_size");
        if (crop != null && !crop.isNull()) {
            if (crop.isInt()) {
                cropH = cropW = crop.asInt();
            } else if (crop.has("height") && crop.has("width")) {
                cropH = crop.get("height").asInt();
                cropW = crop.get("width").asInt();
            } else {
                throw new IllegalArgumentException("crop_size " + crop + " needs \"height\" and \"width\"");
            }
        }
        return new ImageProcessorConfig(shortest, cropH, cropW,
                bool(s, "do_resize", true), bool(s, "do_center_crop", true), bool(s, "do_rescale", true),
                s.hasNonNull("rescale_factor") ? s.get("rescale_factor").asDouble() : d.rescaleFactor(),
                bool(s, "do_normalize", true),
                floats(s.get("image_mean"), OPENAI_CLIP_MEAN, "image_mean"),
                floats(s.get("image_std"), OPENAI_CLIP_STD, "image_std"),
                s.hasNonNull("resample") ? s.get("resample").asInt() : d.resample(),
                bool(s, "do_convert_rgb", true));
    }

    private static boolean bool(JsonNode s, String key, boolean dflt) {
        JsonNode v = s.get(key);
        return v == null || v.isNull() ? dflt : v.asBoolean();
    }

    private static float[] floats(JsonNode v, float[] dflt, String key) {
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (v.isNumber()) {
            float f = (float) v.asDouble(); // one value for all channels
            return new float[] {f, f, f};
        }
        if (!v.isArray() || v.size() != 3) {
            throw new IllegalArgumentException(key + " must be a number or 3 numbers, got " + v);
        }
        return new float[] {(float) v.get(0).asDouble(), (float) v.get(1).asDouble(), (float) v.get(2).asDouble()};
    }

    @Override
    public float[] imageMean() {
        return imageMean.clone();
    }

    @Override
    public float[] imageStd() {
        return imageStd.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ImageProcessorConfig c && shortestEdge == c.shortestEdge && cropHeight == c.cropHeight
                && cropWidth == c.cropWidth && doResize == c.doResize && doCenterCrop == c.doCenterCrop
                && doRescale == c.doRescale && Double.compare(rescaleFactor, c.rescaleFactor) == 0
                && doNormalize == c.doNormalize && Arrays.equals(imageMean, c.imageMean)
                && Arrays.equals(imageStd, c.imageStd) && resample == c.resample && doConvertRgb == c.doConvertRgb;
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(new Object[] {shortestEdge, cropHeight, cropWidth, doResize, doCenterCrop, doRescale,
                rescaleFactor, doNormalize, Arrays.hashCode(imageMean), Arrays.hashCode(imageStd), resample,
                doConvertRgb});
    }

    @Override
    public String toString() {
        return "ImageProcessorConfig[shortest_edge=" + shortestEdge + ", crop_size=" + cropHeight + "x" + cropWidth
                + ", resample=" + PilResample.filterName(resample) + ", do_resize=" + doResize + ", do_center_crop="
                + doCenterCrop + ", do_rescale=" + doRescale + " (" + rescaleFactor + "), do_normalize=" + doNormalize
                + ", image_mean=" + Arrays.toString(imageMean) + ", image_std=" + Arrays.toString(imageStd)
                + ", do_convert_rgb=" + doConvertRgb + "]";
    }
}
