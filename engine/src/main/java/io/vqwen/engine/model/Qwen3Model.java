package io.vqwen.engine.model;

import io.vqwen.engine.backend.Backend;
import io.vqwen.engine.backend.BatchLayout;
import io.vqwen.engine.backend.KvCache;
import io.vqwen.engine.backend.KvCacheSpec;
import io.vqwen.engine.backend.StepBatch;
import io.vqwen.engine.backend.Tensor;
import io.vqwen.engine.config.Qwen3Config;
import java.util.ArrayList;
import java.util.List;

/**
 * HF {@code Qwen3ForCausalLM} over a paged KV cache: embeddings (with image embeddings spliced in), decoder
 * layers, final norm and lm_head, for one flattened batch step of prefill chunks and decode tokens.
 */
public final class Qwen3Model {
    private final Backend b;
    private final Qwen3Config cfg;
    private final Tensor embedTokens; // (vocab, hidden)
    private final Tensor norm;        // (1, hidden)
    private final Tensor lmHead;      // (vocab, hidden): embedTokens when tied
    private final List<Qwen3DecoderLayer> layers = new ArrayList<>();

    public Qwen3Model(Backend b, WeightSource w) {
        this.b = b;
        this.cfg = w.config().textConfig();
        int v = cfg.vocabSize(), d = cfg.hiddenSize();
        embedTokens = w.load(b, "text.embed_tokens.weight", v, d);
        norm = w.load(b, "text.norm.weight", d);
        // Tied checkpoints usually omit lm_head; an untied one must have it.
        if (w.has("lm_head.weight")) lmHead = w.load(b, "lm_head.weight", v, d);
        else if (cfg.tieWordEmbeddings()) lmHead = embedTokens;
        else throw new io.vqwen.engine.safetensors.CheckpointException("missing tensor lm_head.weight (tie_word_embeddings is false)");
        for (int i = 0; i < cfg.numHiddenLayers(); i++) layers.add(new Qwen3DecoderLayer(b, w, cfg, i));
    }

    public Qwen3Config config() {
        return cfg;
    }

    public Backend backend() {
        return b;
    }

    public KvCache allocateKvCache(int numBlocks, int blockSize) {
        return b.allocateKvCache(new KvCacheSpec(cfg.numHiddenLayers(), numBlocks, blockSize, cfg.numKeyValueHeads(), cfg.headDim()));
    }

    /**
     * Runs one step. {@code imageEmbeddings} (rows, hidden) replace the embeddings of {@code imageRows} (may be
     * null/empty). Returns logits (layout.logitRows().length, vocab) on the backend; the caller frees them.
     */
    public Tensor forward(BatchLayout layout, KvCache cache, Tensor imageEmbeddings, int[] imageRows) {
        if (imageEmbeddings != null && imageRows != null && imageRows.length > 0) {
            return step(b.prepare(layout), cache, imageEmbeddings, imageRows);
        }
        // Text-only steps: the backend may record decode steps once and replay them (CUDA graphs), per model and cache.
        return b.decodeStep(layout, List.of(this, cache), step -> step(step, cache, null, null));
    }

    private Tensor step(StepBatch step, KvCache cache, Tensor imageEmbeddings, int[] imageRows) {
        BatchLayout layout = step.layout();
        int n = layout.numTokens(), d = cfg.hiddenSize();
        Tensor residual = b.allocate(n, d);
        b.embed(residual, embedTokens, step);
        if (imageEmbeddings != null) b.scatterRows(residual, imageEmbeddings, imageRows);

        Qwen3DecoderLayer.Scratch s = new Qwen3DecoderLayer.Scratch(b, n, cfg);
        // Pre-norm stream: h = rmsnorm(x); x += attn(h); h = rmsnorm(x); x += mlp(h). The add of each sub-block's
        // output is fused into the next norm (addRmsNorm).
        b.rmsNorm(s.norm, residual, layers.get(0).inputLayernorm, (float) cfg.rmsNormEps());
        for (int i = 0; i < layers.size(); i++) {
            Qwen3DecoderLayer layer = layers.get(i);
            layer.attention(s, cache, i, step);
            b.addRmsNorm(residual, s.norm, s.out, layer.postAttentionLayernorm, (float) cfg.rmsNormEps());
            layer.mlp(s);
            Tensor nextNorm = i + 1 < layers.size() ? layers.get(i + 1).inputLayernorm : norm;
            b.addRmsNorm(residual, s.norm, s.out, nextNorm, (float) cfg.rmsNormEps());
        }
        int numLogits = layout.logitRows().length;
        Tensor logits = b.allocateLogits(Math.max(numLogits, 1), cfg.vocabSize());
        if (numLogits > 0) {
            Tensor last = b.allocate(numLogits, d);
            b.gatherLogitRows(last, s.norm, step);
            b.linear(logits, last, lmHead, null);
            b.free(last);
        }
        s.free(b);
        b.free(residual);
        return logits;
    }
}
