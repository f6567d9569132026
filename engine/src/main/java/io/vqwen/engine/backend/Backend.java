package io.vqwen.engine.backend;

import io.vqwen.engine.pipeline.ImageEmbeddings;
import io.vqwen.engine.safetensors.TensorView;

/**
 * The narrow set of ops the model code runs on. {@code CpuBackend} (Vector API) and {@code CudaBackend}
 * (JCuda + our kernels + cuBLAS) implement it; model code never asks which one it has.
 * All tensors are 2-D row-major; ops are ordered (a GPU backend enqueues them on one stream).
 */
public interface Backend extends AutoCloseable {
    /** "cpu" or "cuda:N". */
    String name();

    /** Storage dtype of activations, for reporting: "f32" or "bf16". */
    String activationDtype();

    // ---- memory -------------------------------------------------------------------------------------------

    /** Makes a checkpoint weight resident, viewed as (rows, cols) = (shape[0], product of the rest). */
    Tensor weight(TensorView view);

    Tensor allocate(int rows, int cols);

    Tensor upload(float[] data, int rows, int cols);

    /**
     * Host embeddings as an activation. The default widens to float32 (exact for bf16), which is what an f32
     * backend stores; a bf16 backend overrides it to copy bf16 bytes as they are.
     */
    default Tensor upload(ImageEmbeddings e) {
        return upload(e.toF32(), e.rows(), e.width());
    }

    float[] download(Tensor t);

    /** An activation back on the host in its storage dtype (a bf16 backend overrides this to skip float32). */
    default ImageEmbeddings downloadEmbeddings(Tensor t) {
        return ImageEmbeddings.f32(download(t), t.rows(), t.cols());
    }

    /**
     * A seeded random weight made directly on the backend (synthetic checkpoints: full-size benchmarks without
     * weight files): normal(mean, std) per element, reproducible for a given seed.
     */
    Tensor randomWeight(int rows, int cols, long seed, float mean, float std);

    /** Rows [start, start + count) of {@code t}, sharing its storage. */
    Tensor rowSlice(Tensor t, int start, int count);

    /** Returns the storage of a tensor from {@link #allocate} or {@link #upload}; weights are freed on close. */
    void free(Tensor t);

    // ---- dense ops ----------------------------------------------------------------------------------------

    /** out(n, m) = x(n, k) · w(m, k)^T (+ bias(1, m) when not null). */
    void linear(Tensor out, Tensor x, Tensor w, Tensor bias);

    /** out = a + b, elementwise; out may be a or b. */
    void add(Tensor out, Tensor a, Tensor b);

    /** x(n, d) += rows [0, n) of table(>= n, d): position embeddings. */
    void addRows(Tensor x, Tensor table);

    /** Copies src rows into dst at {@code dstRows[i]} (image embeddings spliced into the prompt). */
    void scatterRows(Tensor dst, Tensor src, int[] dstRows);

    /** Copies rows [srcStart, srcStart + count) of src to rows [dstStart, ...) of dst. */
    void copyRows(Tensor dst, int dstStart, Tensor src, int srcStart, int count);

    /** Row-wise LayerNorm over cols with gamma/beta (1, cols). */
    void layerNorm(Tensor out, Tensor x, Tensor gamma, Tensor beta, float eps);

    /** RMSNorm over each group of gamma.cols() consecutive elements (whole rows, or per head for q/k norm). */
    void rmsNorm(Tensor out, Tensor x, Tensor gamma, float eps);

    /** residual += x; out = RMSNorm(residual). The pre-norm residual stream of a decoder layer, fused. */
    void addRmsNorm(Tensor residual, Tensor out, Tensor x, Tensor gamma, float eps);

    /** x * sigmoid(1.702 x), in place (CLIP). */
    void quickGelu(Tensor x);

    /** Exact erf GELU, in place (LLaVA projector). */
    void gelu(Tensor x);

    /** out = silu(gate) * up (SwiGLU). */
    void siluMul(Tensor out, Tensor gate, Tensor up);

    /** Bidirectional multi-head attention over {@code batch} independent sequences of {@code seqLen} rows each (CLIP). */
    void attention(Tensor out, Tensor q, Tensor k, Tensor v, int batch, int seqLen, int numHeads, int headDim);

    // ---- decoder step ops ---------------------------------------------------------------------------------

    StepBatch prepare(BatchLayout layout);

    /** out(numTokens, d) = table[tokenIds]. */
    void embed(Tensor out, Tensor table, StepBatch step);

    /** NeoX (rotate-half) RoPE, in place, on every head of x(numTokens, heads * headDim) at the step's positions. */
    void rope(Tensor x, int headDim, float theta, StepBatch step);

    KvCache allocateKvCache(KvCacheSpec spec);

    /** Writes k, v (numTokens, numKvHeads * headDim) into the cache slots of the step. */
    void writeKv(KvCache cache, int layer, Tensor k, Tensor v, StepBatch step);

    /** Causal GQA attention of each sequence's new rows over its cached context (which includes this step's K/V). */
    void pagedAttention(Tensor out, Tensor q, KvCache cache, int layer, StepBatch step, int numHeads, int numKvHeads,
                        int headDim);

    /** out(numLogits, d) = x[logitRows]. */
    void gatherLogitRows(Tensor out, Tensor x, StepBatch step);

    /**
     * Pixel values (one CHW float array per image, as the processor makes them) as the input rows of CLIP's patch
     * embedding, Conv2d(kernel = stride = patch) run as a matmul: (batch * (size / patch)^2, channels * patch^2),
     * each patch flattened in (channel, row, col) order like the conv weight. A GPU uploads the pixels and
     * rearranges them on the device.
     */
    default Tensor uploadPatches(float[][] images, int channels, int size, int patch) {
        int side = size / patch, patchLen = channels * patch * patch;
        float[] out = new float[Math.multiplyExact(images.length * side * side, patchLen)];
        for (int b = 0; b < images.length; b++) {
            float[] img = images[b];
            if (img.length != channels * size * size) {
                throw new IllegalArgumentException("pixel values: expected " + channels + "x" + size + "x" + size + " floats, got " + img.length);
            }
            for (int py = 0; py < side; py++) {
                for (int px = 0; px < side; px++) {
                    int base = ((b * side + py) * side + px) * patchLen;
                    for (int ch = 0; ch < channels; ch++) {
                        for (int ky = 0; ky < patch; ky++) {
                            System.arraycopy(img, (ch * size + py * patch + ky) * size + px * patch, out, base + (ch * patch + ky) * patch, patch);
                        }
                    }
                }
            }
        }
        return upload(out, images.length * side * side, patchLen);
    }

    // ---- fused and device-side variants: defaults compose the ops above, a GPU backend runs them in one launch --

    /** A buffer for logits; a bf16 backend keeps them in float32 so sampling and log-probabilities see full precision. */
    default Tensor allocateLogits(int rows, int cols) {
        return allocate(rows, cols);
    }

    /** outs[i] = x . ws[i]^T for projections sharing one input (q, k and v): one pass over x on a GPU. */
    default void linears(Tensor x, Tensor[] ws, Tensor[] outs) {
        if (ws.length != outs.length) throw new IllegalArgumentException("linears: " + ws.length + " weights for " + outs.length + " outputs");
        for (int i = 0; i < ws.length; i++) linear(outs[i], x, ws[i], null);
    }

    /** out = silu(x . gateW^T) * (x . upW^T) (HF Qwen3MLP before down_proj); {@code up} is scratch of out's shape. */
    default void gateUpSilu(Tensor out, Tensor up, Tensor x, Tensor gateW, Tensor upW) {
        linear(out, x, gateW, null);
        linear(up, x, upW, null);
        siluMul(out, out, up);
    }

    /**
     * Qwen3Attention between the projections and attention: per-head RMSNorm of q and k (q_norm, k_norm), RoPE on
     * both, and the write of k and v into the cache, in place.
     */
    default void qkNormRopeWriteKv(Tensor q, Tensor k, Tensor v, Tensor qNorm, Tensor kNorm, float eps, int headDim, float theta,
                                   KvCache cache, int layer, StepBatch step) {
        rmsNorm(q, q, qNorm, eps);
        rmsNorm(k, k, kNorm, eps);
        rope(q, headDim, theta, step);
        rope(k, headDim, theta, step);
        writeKv(cache, layer, k, v, step);
    }

    /**
     * Runs one decoder step: prepares the layout and applies {@code body}, which enqueues the step's ops and returns
     * its logits. A backend may record the ops of pure decode steps (one token per sequence) and replay the
     * recording for later steps with the same {@code owner} (compared with equals) and padded batch size, with the
     * new layout's data written into the recorded step's buffers (CUDA graphs). So {@code body} must depend on the
     * step only through the ops' arguments and must not read data back to the host. Replayed logits belong to the
     * recording: they are valid until the next step, and freeing them is a no-op.
     */
    default Tensor decodeStep(BatchLayout layout, Object owner, java.util.function.Function<StepBatch, Tensor> body) {
        return body.apply(prepare(layout));
    }

    /** Index of the largest logit of each row (ties: the lowest index, as torch.argmax); a GPU returns only the ids. */
    default int[] argmax(Tensor logits) {
        float[] all = download(logits);
        int rows = logits.rows(), cols = logits.cols();
        int[] ids = new int[rows];
        for (int r = 0; r < rows; r++) {
            int best = 0;
            for (int j = 1; j < cols; j++) if (all[r * cols + j] > all[r * cols + best]) best = j;
            ids[r] = best;
        }
        return ids;
    }

    /**
     * Samples one token from each row of {@code logits} with that row's parameters (penalty, temperature, top-k,
     * min-p, top-p, seeded draw) and returns the ids with the log-probabilities each row asked for. The host default
     * runs {@code Sampler} on the downloaded logits; a GPU samples on the device, so only ids and the requested
     * log-probabilities come back. The penalty may overwrite {@code logits}.
     */
    default SampledToken[] sample(Tensor logits, SamplingRow[] rows) {
        if (logits.rows() != rows.length) throw new IllegalArgumentException("sample: " + rows.length + " rows of parameters for " + logits.rows() + " rows of logits");
        return io.vqwen.engine.generate.Sampler.sampleRows(download(logits), logits.cols(), rows);
    }

    /** Blocks until queued work is done (no-op on the CPU). */
    void synchronize();

    @Override
    void close();
}
