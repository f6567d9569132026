package io.vqwen.engine;

import io.vqwen.engine.backend.Backend;
import io.vqwen.engine.backend.Tensor;
import io.vqwen.engine.model.LlavaProjector;
import io.vqwen.engine.model.WeightSource;
import io.vqwen.engine.pipeline.ImageEmbeddings;
import java.util.ArrayList;
import java.util.List;

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

    /**
     * Several images' features -> their embeddings, in one forward (projector-service batches what is queued). The
     * result is in the backend's activation dtype: bf16 on CUDA never passes through float32 on the host.
     */
    public List<ImageEmbeddings> project(List<ImageEmbeddings> features) {
        for (ImageEmbeddings f : features) {
            if (f.width() != inWidth()) throw new IllegalArgumentException("projector input must be (rows, " + inWidth() + "); got " + f);
        }
        Tensor in = backend.upload(ImageEmbeddings.concat(features));
        Tensor out = projector.forward(in);
        ImageEmbeddings all = backend.downloadEmbeddings(out);
        backend.free(in);
        backend.free(out);
        if (features.size() == 1) return List.of(all);
        List<ImageEmbeddings> split = new ArrayList<>(features.size());
        int at = 0;
        for (ImageEmbeddings f : features) {
            split.add(all.slice(at, f.rows()));
            at += f.rows();
        }
        return split;
    }
}
