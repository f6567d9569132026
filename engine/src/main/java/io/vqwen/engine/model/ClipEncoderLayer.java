package io.vqwen.engine.model;

import io.vqwen.engine.backend.Backend;
import io.vqwen.engine.backend.Tensor;
import io.vqwen.engine.config.ClipVisionConfig;

/** HF {@code CLIPEncoderLayer}: pre-LN attention with biases, then a pre-LN quick_gelu MLP, both residual. */
final class ClipEncoderLayer {
    private final Backend b;
    private final ClipVisionConfig cfg;
    private final Tensor layerNorm1Weight, layerNorm1Bias, layerNorm2Weight, layerNorm2Bias; // (1, hidden)
    private final Tensor qProj, kProj, vProj, outProj;         // (hidden, hidden)
    private final Tensor qBias, kBias, vBias, outBias;         // (1, hidden)
    private final Tensor fc1, fc1Bias;                         // (intermediate, hidden), (1, intermediate)
    private final Tensor fc2, fc2Bias;                         // (hidden, intermediate), (1, hidden)

    /** Activation buffers reused across layers. */
    static final class Scratch {
        final Tensor norm, q, k, v, attn, proj, mlp;

        Scratch(Backend b, int rows, ClipVisionConfig c) {
            int d = c.hiddenSize();
            norm = b.allocate(rows, d);
            q = b.allocate(rows, d);
            k = b.allocate(rows, d);
            v = b.allocate(rows, d);
            attn = b.allocate(rows, d);
            proj = b.allocate(rows, d);
            mlp = b.allocate(rows, c.intermediateSize());
        }

        void free(Backend b) {
            for (Tensor t : new Tensor[] {norm, q, k, v, attn, proj, mlp}) b.free(t);
        }
    }

    ClipEncoderLayer(Backend b, WeightSource w, ClipVisionConfig cfg, int i) {
        this.b = b;
        this.cfg = cfg;
        if (!cfg.hiddenAct().equals("quick_gelu")) {
            throw new IllegalArgumentException("vision_config.hidden_act '" + cfg.hiddenAct() + "' is not supported (quick_gelu)");
        }
        String p = "vision.encoder.layers." + i + ".";
        int d = cfg.hiddenSize(), m = cfg.intermediateSize();
        layerNorm1Weight = w.load(b, p + "layer_norm1.weight", d);
        layerNorm1Bias = w.load(b, p + "layer_norm1.bias", d);
        layerNorm2Weight = w.load(b, p + "layer_norm2.weight", d);
        layerNorm2Bias = w.load(b, p + "layer_norm2.bias", d);
        qProj = w.load(b, p + "self_attn.q_proj.weight", d, d);
        kProj = w.load(b, p + "self_attn.k_proj.weight", d, d);
        vProj = w.load(b, p + "self_attn.v_proj.weight", d, d);
        outProj = w.load(b, p + "self_attn.out_proj.weight", d, d);
        qBias = w.load(b, p + "self_attn.q_proj.bias", d);
        kBias = w.load(b, p + "self_attn.k_proj.bias", d);
        vBias = w.load(b, p + "self_attn.v_proj.bias", d);
        outBias = w.load(b, p + "self_attn.out_proj.bias", d);
        fc1 = w.load(b, p + "mlp.fc1.weight", m, d);
        fc1Bias = w.load(b, p + "mlp.fc1.bias", m);
        fc2 = w.load(b, p + "mlp.fc2.weight", d, m);
        fc2Bias = w.load(b, p + "mlp.fc2.bias", d);
    }

    void forward(Tensor x, int batch, Scratch s) {
        float eps = (float) cfg.layerNormEps();
        b.layerNorm(s.norm, x, layerNorm1Weight, layerNorm1Bias, eps);
        b.linear(s.q, s.norm, qProj, qBias);
        b.linear(s.k, s.norm, kProj, kBias);
        b.linear(s.v, s.norm, vProj, vBias);
        b.attention(s.attn, s.q, s.k, s.v, batch, cfg.numPositions(), cfg.numAttentionHeads(), cfg.headDim());
        b.linear(s.proj, s.attn, outProj, outBias);
        b.add(x, x, s.proj);

        b.layerNorm(s.norm, x, layerNorm2Weight, layerNorm2Bias, eps);
        b.linear(s.mlp, s.norm, fc1, fc1Bias);
        b.quickGelu(s.mlp);
        b.linear(s.proj, s.mlp, fc2, fc2Bias);
        b.add(x, x, s.proj);
    }
}
