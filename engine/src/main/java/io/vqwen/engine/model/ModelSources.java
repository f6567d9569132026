package io.vqwen.engine.model;

import io.vqwen.engine.hub.ModelResolver;
import java.io.IOException;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Set;

/**
 * Turns a {@code --model} value into weights: a checkpoint directory, a Hub id {@code org/name[@rev]}
 * resolved from the Hugging Face cache (pulled if absent), or {@code synthetic:NAME} (seeded random weights made on
 * the backend, see {@link SyntheticWeights}).
 */
public final class ModelSources {
    public static final Set<Checkpoint.Part> ALL_PARTS = EnumSet.allOf(Checkpoint.Part.class);

    private ModelSources() {
    }

    public static WeightSource open(String model, Set<Checkpoint.Part> parts) throws IOException {
        if (SyntheticWeights.isSynthetic(model)) return SyntheticWeights.of(model);
        return Checkpoint.open(directoryOf(model), parts);
    }

    /** The directory holding the model's config, tokenizer and processor files. */
    public static Path directoryOf(String model) throws IOException {
        return ModelResolver.resolve(model);
    }
}
