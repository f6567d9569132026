package io.vqwen.engine.model;

import io.vqwen.engine.backend.Backend;
import io.vqwen.engine.backend.KvCache;
import io.vqwen.engine.backend.StepBatch;
import io.vqwen.engine.backend.Tensor;
import io.vqwen.engine.config.Qwen3Config;

/** HF {@code Qwen3DecoderLayer}: {@code Qwen3Attention} (q/k RMSNorm per head, RoPE, GQA) and {@code Qwen3MLP} (SwiGLU). */
final class Qwen3DecoderLayer {
    private final Backend b;
    private final Qwen3Config cfg;
    final Tensor inputLayernorm, postAttentionLayernorm; // (1, hidden)
    private final Tensor qProj;   // (heads * headDim, hidden)
    private final Tensor kProj;   // (kvHeads * headDim, hidden)
    private final Tensor vProj;   // (kvHeads * headDim, hidden)
    private final Tensor oProj;   // (hidden, heads * headDim)
    private final Tensor qNorm, kNorm; // (1, headDim)
    private final Tensor gateProj, upProj; // (intermediate, hidden)
    private final Tensor downProj;         // (hidden, intermediate)
    private final int layer;

    /** Per-step activations, (numTokens, width) each. */
    static final class Scratch {
        final Tensor norm, q, k, v, attn, out, gate, up;

        Scratch(Backend b, int n, Qwen3Config c) {
            norm = b.allocate(n, c.hiddenSize());
            q = b.allocate(n, c.qWidth());
            k = b.allocate(n, c.kvWidth());
            v = b.allocate(n, c.kvWidth());
            attn = b.allocate(n, c.qWidth());
            out = b.allocate(n, c.hiddenSize());
            gate = b.allocate(n, c.intermediateSize());
            up = b.allocate(n, c.intermediateSize());
        }

        void free(Backend b) {
            for (Tensor t : new Tensor[] {norm, q, k, v, attn, out, gate, up}) b.free(t);
        }
    }

    Qwen3DecoderLayer(Backend b, WeightSource w, Qwen3Config cfg, int i) {
        this.b = b;
        this.cfg = cfg;
        this.layer = i;
        String p = "text.layers." + i + ".";
        int d = cfg.hiddenSize(), m = cfg.intermediateSize();
        inputLayernorm = w.load(b, p + "input_layernorm.weight", d);
        postAttentionLayernorm = w.load(b, p + "post_attention_layernorm.weight", d);
        qProj = w.load(b, p + "self_attn.q_proj.weight", cfg.qWidth(), d);
        kProj = w.load(b, p + "self_attn.k_proj.weight", cfg.kvWidth(), d);
        vProj = w.load(b, p + "self_attn.v_proj.weight", cfg.kvWidth(), d);
        oProj = w.load(b, p + "self_attn.o_proj.weight", d, cfg.qWidth());
        qNorm = w.load(b, p + "self_attn.q_norm.weight", cfg.headDim());
        kNorm = w.load(b, p + "self_attn.k_norm.weight", cfg.headDim());
        gateProj = w.load(b, p + "mlp.gate_proj.weight", m, d);
        upProj = w.load(b, p + "mlp.up_proj.weight", m, d);
        downProj = w.load(b, p + "mlp.down_proj.weight", d, m);
    }

    /** s.norm (the normed input) -> s.out, writing this step's K/V into the cache. */
    void attention(Scratch s, KvCache cache, int layerIndex, StepBatch step) {
        b.linears(s.norm, new Tensor[] {qProj, kProj, vProj}, new Tensor[] {s.q, s.k, s.v});
        // q_norm/k_norm per head (headDim elements each), RoPE, then k and v into the cache.
        b.qkNormRopeWriteKv(s.q, s.k, s.v, qNorm, kNorm, (float) cfg.rmsNormEps(), cfg.headDim(), (float) cfg.ropeTheta(), cache, layerIndex, step);
        b.pagedAttention(s.attn, s.q, cache, layerIndex, step, cfg.numAttentionHeads(), cfg.numKeyValueHeads(), cfg.headDim());
        b.linear(s.out, s.attn, oProj, null);
    }

    /** s.norm -> s.out. */
    void mlp(Scratch s) {
        b.gateUpSilu(s.gate, s.up, s.norm, gateProj, upProj); // act_fn(gate_proj(x)) * up_proj(x)
        b.linear(s.out, s.gate, downProj, null);
    }
}
