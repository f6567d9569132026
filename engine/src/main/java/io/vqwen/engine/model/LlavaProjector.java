package io.vqwen.engine.model;

import io.vqwen.engine.backend.Backend;
import io.vqwen.engine.backend.Tensor;
import io.vqwen.engine.config.LlavaConfig;

/** HF {@code LlavaMultiModalProjector}: linear_1, GELU (exact erf), linear_2. */
public final class LlavaProjector {
    private final Backend b;
    private final Tensor linear1, linear1Bias; // (text hidden, feature width), (1, text hidden)
    private final Tensor linear2, linear2Bias; // (text hidden, text hidden), (1, text hidden)
    private final int inWidth, outWidth;

    public LlavaProjector(Backend b, WeightSource w) {
        this.b = b;
        LlavaConfig c = w.config();
        if (!c.projectorHiddenAct().equals("gelu")) {
            throw new IllegalArgumentException("projector_hidden_act '" + c.projectorHiddenAct() + "' is not supported (gelu)");
        }
        inWidth = c.visionFeatureWidth();
        outWidth = c.textConfig().hiddenSize();
        linear1 = w.load(b, "projector.linear_1.weight", outWidth, inWidth);
        linear2 = w.load(b, "projector.linear_2.weight", outWidth, outWidth);
        linear1Bias = c.multimodalProjectorBias() ? w.load(b, "projector.linear_1.bias", outWidth) : null;
        linear2Bias = c.multimodalProjectorBias() ? w.load(b, "projector.linear_2.bias", outWidth) : null;
    }

    public int inWidth() {
        return inWidth;
    }

    public int outWidth() {
        return outWidth;
    }

    /** features (rows, inWidth) -> image embeddings (rows, text hidden). */
    public Tensor forward(Tensor features) {
        if (features.cols() != inWidth) throw new IllegalArgumentException("projector: features have width " + features.cols() + ", expected " + inWidth);
        Tensor h = b.allocate(features.rows(), outWidth);
        b.linear(h, features, linear1, linear1Bias);
        b.gelu(h);
        Tensor out = b.allocate(features.rows(), outWidth);
        b.linear(out, h, linear2, linear2Bias);
        b.free(h);
        return out;
    }
}
