package io.vqwen.engine.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.vqwen.engine.backend.Backend;
import io.vqwen.engine.backend.Tensor;
import io.vqwen.engine.config.LlavaConfig;
import io.vqwen.engine.safetensors.CheckpointException;
import io.vqwen.engine.tools.RandomCheckpointWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A checkpoint that exists only as a shape: {@code synthetic:vqwen3-4b} (CLIP ViT-L/14-336 + Qwen3-4B, the
 * benchmark's model) or {@code synthetic:tiny} (the fixture's shapes). Each weight is drawn on the backend itself
 * with {@link Backend#randomWeight} from a seed derived from its key, so a full-size model costs no 8.7 GB of files
 * and no host-to-device copy. Norm weights are N(1, 0.1^2), everything else N(0, 0.02^2), as
 * {@link RandomCheckpointWriter} writes them.
 */
public final class SyntheticWeights implements WeightSource {
    public static final String PREFIX = "synthetic:";

    private final String spec;
    private final LlavaConfig config;
    private final Map<String, long[]> shapes = new LinkedHashMap<>(); // canonical key -> shape
    private final long seed;

    private SyntheticWeights(String spec, RandomCheckpointWriter.Shape shape, long seed) {
        this.spec = spec;
        this.seed = seed;
        try {
            this.config = LlavaConfig.from(new ObjectMapper().readTree(RandomCheckpointWriter.config(shape)));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        RandomCheckpointWriter.tensorShapes(shape).forEach((k, v) -> shapes.put(Checkpoint.canonical(k), v));
    }

    /** {@code synthetic:NAME} with NAME one of {@link RandomCheckpointWriter.Shape#named}'s shapes. */
    public static SyntheticWeights of(String spec) {
        return of(spec, 0);
    }

    public static SyntheticWeights of(String spec, long seed) {
        if (!isSynthetic(spec)) throw new IllegalArgumentException("not a synthetic model: '" + spec + "' (expected synthetic:NAME)");
        return new SyntheticWeights(spec, RandomCheckpointWriter.Shape.named(spec.substring(PREFIX.length())), seed);
    }

    public static boolean isSynthetic(String model) {
        return model != null && model.startsWith(PREFIX);
    }

    @Override
    public LlavaConfig config() {
        return config;
    }

    @Override
    public String revision() {
        return spec + "@" + seed;
    }

    @Override
    public boolean has(String key) {
        return shapes.containsKey(key);
    }

    @Override
    public Tensor load(Backend backend, String key, long... shape) {
        long[] have = shapes.get(key);
        if (have == null) throw new CheckpointException("missing tensor " + key + " in synthetic model " + spec);
        if (!Arrays.equals(have, shape)) {
            throw new CheckpointException("tensor " + key + ": expected shape " + Arrays.toString(shape) + " but " + spec + " has " + Arrays.toString(have));
        }
        long numel = 1;
        for (long d : shape) numel *= d;
        int rows = shape.length <= 1 ? 1 : (int) shape[0];
        boolean norm = key.contains("norm") && key.endsWith("weight");
        // A different stream per tensor, reproducible whatever order the model loads them in.
        long tensorSeed = seed * 0x9E3779B97F4A7C15L ^ key.hashCode() * 0xC2B2AE3D27D4EB4FL;
        return backend.randomWeight(rows, (int) (numel / rows), tensorSeed, norm ? 1f : 0f, norm ? 0.1f : 0.02f);
    }

    @Override
    public void close() {
    }
}
