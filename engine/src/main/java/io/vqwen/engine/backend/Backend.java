package io.vqwen.engine.backend;

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

    float[] download(Tensor t);

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

    /** Blocks until queued work is done (no-op on the CPU). */
    void synchronize();

    @Override
    void close();
}
