package io.vqwen.engine;

import io.vqwen.engine.backend.Backend;
import io.vqwen.engine.backend.Tensor;
import io.vqwen.engine.model.LlavaProjector;
import io.vqwen.engine.model.WeightSource;

/** CLIP features -> image embeddings in the decoder's hidden space (projector-service's job). */
public final class ImageProjector {
    private final Backend backend;
    private final LlavaProjector projector;

    public ImageProjector(WeightSource weights, Backend backend) {
        this.backend = backend;
        this.projector = new LlavaProjector(backend, weights);
    }

    public int inWidth() {
        return projector.inWidth();
    }

    public int outWidth() {
        return projector.outWidth();
    }

    /** features (rows, inWidth) row-major -> embeddings (rows, outWidth). */
    public float[] project(float[] features, int rows) {
        if (rows <= 0 || features.length != (long) rows * inWidth()) {
            throw new IllegalArgumentException("projector input must be (rows, " + inWidth() + "); got " + features.length + " values for " + rows + " rows");
        }
        Tensor in = backend.upload(features, rows, inWidth());
        Tensor out = projector.forward(in);
        float[] result = backend.download(out);
        backend.free(in);
        backend.free(out);
        return result;
    }
}
