package io.vqwen.engine.model;

import io.vqwen.engine.backend.Backend;
import io.vqwen.engine.backend.Tensor;
import io.vqwen.engine.config.LlavaConfig;

/**
 * Where model weights come from: a safetensors checkpoint or a seeded synthetic one. Keys are canonical, whatever
 * layout the checkpoint was saved in: {@code vision.*} (CLIPVisionTransformer), {@code projector.*},
 * {@code text.*} (Qwen3Model) and {@code lm_head.weight}.
 */
public interface WeightSource extends AutoCloseable {
    LlavaConfig config();

    /** A short identifier of the weights (the checkpoint's revision or the synthetic spec), for peer checks. */
    String revision();

    boolean has(String key);

    /** Loads a weight onto the backend, checking its shape; the message names the tensor and both shapes. */
    Tensor load(Backend backend, String key, long... shape);

    @Override
    void close();
}
