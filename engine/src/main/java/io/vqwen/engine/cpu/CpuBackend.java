package io.vqwen.engine.cpu;

import io.vqwen.engine.backend.Backend;
import io.vqwen.engine.backend.BatchLayout;
import io.vqwen.engine.backend.KvCache;
import io.vqwen.engine.backend.KvCacheSpec;
import io.vqwen.engine.backend.StepBatch;
import io.vqwen.engine.backend.Tensor;
import io.vqwen.engine.safetensors.DType;
import io.vqwen.engine.safetensors.TensorView;

/**
 * The CPU backend: float32 activations on the heap, weights read in place from the mmap, Vector API inner loops,
 * matmuls and attention spread over a fork-join pool.
 */
public final class CpuBackend implements Backend {
    private final Parallel parallel;

    public CpuBackend() {
        this(Runtime.getRuntime().availableProcessors());
    }

    public CpuBackend(int threads) {
        this.parallel = new Parallel(threads);
    }

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public String activationDtype() {
        return "f32";
    }

    // ---- memory -------------------------------------------------------------------------------------------

    @Override
    public Tensor weight(TensorView view) {
        if (!view.dtype().isFloatWeight()) {
            throw new IllegalArgumentException("tensor " + view.name() + ": unsupported weight dtype " + view.dtype());
        }
        return CpuTensor.weight(view);
    }

    @Override
    public Tensor allocate(int rows, int cols) {
        return CpuTensor.activation(new float[Math.multiplyExact(rows, cols)], 0, rows, cols);
    }

    @Override
    public Tensor upload(float[] data, int rows, int cols) {
        if (data.length != rows * cols) throw new IllegalArgumentException("upload: " + data.length + " != " + rows + "x" + cols);
        return CpuTensor.activation(data.clone(), 0, rows, cols);
    }

    @Override
    public float[] download(Tensor t) {
        return c(t).toFloats();
    }

    @Override
    public Tensor randomWeight(int rows, int cols, long seed, float mean, float std) {
        float[] data = new float[Math.multiplyExact(rows, cols)];
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(seed);
        for (int i = 0; i < data.length; i++) data[i] = (float) (mean + std * gaussian(rnd));
        return CpuTensor.activation(data, 0, rows, cols);
    }

    private static double gaussian(java.util.SplittableRandom rnd) {
        // Box-Muller; SplittableRandom has no nextGaussian.
        double u = 1.0 - rnd.nextDouble(), v = rnd.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }

    @Override
    public Tensor rowSlice(Tensor t, int start, int count) {
        CpuTensor x = act(t, "rowSlice");
        if (start < 0 || count < 0 || start + count > x.rows) throw new IndexOutOfBoundsException("rowSlice " + start + "+" + count + " of " + x.rows);
        return CpuTensor.activation(x.data, x.offset + start * x.cols, count, x.cols);
    }

    @Override
    public void free(Tensor t) {
        // Heap buffers are reclaimed by the garbage collector.
    }

    // ---- dense ops ----------------------------------------------------------------------------------------

    @Override
    public void linear(Tensor out, Tensor x, Tensor w, Tensor bias) {
        CpuTensor o = act(out, "linear out"), in = act(x, "linear x"), wt = c(w);
        int n = in.rows, k = in.cols, m = wt.rows;
        if (wt.cols != k || o.rows != n || o.cols != m) {
            throw new IllegalArgumentException("linear: x " + n + "x" + k + ", w " + m + "x" + wt.cols + ", out " + o.rows + "x" + o.cols);
        }
        float[] b = bias == null ? null : c(bias).toFloats();
        boolean bf16Direct = wt.isWeight() && wt.weightType == DType.BF16 && n <= 4;
        int tile = 16;
        parallel.forRange((m + tile - 1) / tile, 1, (t0, t1) -> {
            float[] row = (wt.isWeight() && !bf16Direct) ? new float[k] : null;
            for (int t = t0; t < t1; t++) {
                int j0 = t * tile, j1 = Math.min(m, j0 + tile);
                for (int j = j0; j < j1; j++) {
                    float bj = b == null ? 0f : b[j];
                    if (bf16Direct) {
                        long elem = (long) j * k;
                        for (int i = 0; i < n; i++) {
                            o.data[o.offset + i * m + j] = CpuKernels.dotBf16(in.data, in.offset + i * k, wt.weight, elem, k) + bj;
                        }
                    } else {
                        float[] wd = wt.data;
                        int wo = wt.offset + j * k;
                        if (row != null) {
                            wt.readRow(j, row);
                            wd = row;
                            wo = 0;
                        }
                        int i = 0;
                        for (; i + 4 <= n; i += 4) CpuKernels.dot4(wd, wo, in.data, in.offset + i * k, k, o.data, o.offset + i * m + j, m);
                        for (; i < n; i++) o.data[o.offset + i * m + j] = CpuKernels.dot(in.data, in.offset + i * k, wd, wo, k);
                        if (bj != 0f) for (int r = 0; r < n; r++) o.data[o.offset + r * m + j] += bj;
                    }
                }
            }
        });
    }

    @Override
    public void add(Tensor out, Tensor a, Tensor b) {
        CpuTensor o = act(out, "add"), x = act(a, "add"), y = act(b, "add");
        int n = (int) o.numel();
        for (int i = 0; i < n; i++) o.data[o.offset + i] = x.data[x.offset + i] + y.data[y.offset + i];
    }

    @Override
    public void addRows(Tensor x, Tensor table) {
        CpuTensor o = act(x, "addRows");
        CpuTensor t = c(table);
        float[] row = new float[o.cols];
        for (int r = 0; r < o.rows; r++) {
            t.readRow(r, row);
            for (int j = 0; j < o.cols; j++) o.data[o.offset + r * o.cols + j] += row[j];
        }
    }

    @Override
    public void scatterRows(Tensor dst, Tensor src, int[] dstRows) {
        CpuTensor d = act(dst, "scatterRows"), s = act(src, "scatterRows");
        if (s.rows != dstRows.length || s.cols != d.cols) throw new IllegalArgumentException("scatterRows: " + s.rows + "x" + s.cols + " into " + dstRows.length + " rows of width " + d.cols);
        for (int i = 0; i < dstRows.length; i++) {
            System.arraycopy(s.data, s.offset + i * s.cols, d.data, d.offset + dstRows[i] * d.cols, d.cols);
        }
    }

    @Override
    public void copyRows(Tensor dst, int dstStart, Tensor src, int srcStart, int count) {
        CpuTensor d = act(dst, "copyRows"), s = c(src);
        if (s.isWeight()) {
            float[] row = new float[s.cols];
            for (int i = 0; i < count; i++) {
                s.readRow(srcStart + i, row);
                System.arraycopy(row, 0, d.data, d.offset + (dstStart + i) * d.cols, d.cols);
            }
        } else {
            System.arraycopy(s.data, s.offset + srcStart * s.cols, d.data, d.offset + dstStart * d.cols, count * d.cols);
        }
    }

    @Override
    public void layerNorm(Tensor out, Tensor x, Tensor gamma, Tensor beta, float eps) {
        CpuTensor o = act(out, "layerNorm"), in = act(x, "layerNorm");
        float[] g = c(gamma).toFloats(), b = c(beta).toFloats();
        int d = in.cols;
        parallel.forRange(in.rows, 64, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int xi = in.offset + r * d, oi = o.offset + r * d;
                float mean = 0;
                for (int j = 0; j < d; j++) mean += in.data[xi + j];
                mean /= d;
                float var = 0;
                for (int j = 0; j < d; j++) {
                    float t = in.data[xi + j] - mean;
                    var += t * t;
                }
                var /= d;
                float inv = (float) (1.0 / Math.sqrt(var + eps));
                for (int j = 0; j < d; j++) o.data[oi + j] = (in.data[xi + j] - mean) * inv * g[j] + b[j];
            }
        });
    }

    @Override
    public void rmsNorm(Tensor out, Tensor x, Tensor gamma, float eps) {
        CpuTensor o = act(out, "rmsNorm"), in = act(x, "rmsNorm");
        float[] g = c(gamma).toFloats();
        int group = g.length;
        int groups = (int) (in.numel() / group);
        parallel.forRange(groups, 256, (g0, g1) -> {
            for (int gi = g0; gi < g1; gi++) rmsNormGroup(in.data, in.offset + gi * group, o.data, o.offset + gi * group, g, eps);
        });
    }

    private static void rmsNormGroup(float[] x, int xi, float[] out, int oi, float[] g, float eps) {
        int d = g.length;
        float ss = CpuKernels.dot(x, xi, x, xi, d) / d;
        // HF Qwen3RMSNorm: x * rsqrt(mean(x^2) + eps), then weight * x.
        float inv = (float) (1.0 / Math.sqrt(ss + eps));
        for (int j = 0; j < d; j++) out[oi + j] = g[j] * (x[xi + j] * inv);
    }

    @Override
    public void addRmsNorm(Tensor residual, Tensor out, Tensor x, Tensor gamma, float eps) {
        add(residual, residual, x);
        rmsNorm(out, residual, gamma, eps);
    }

    @Override
    public void quickGelu(Tensor x) {
        CpuTensor t = act(x, "quickGelu");
        int n = (int) t.numel();
        parallel.forRange(n, 1 << 14, (i0, i1) -> {
            for (int i = i0; i < i1; i++) {
                float v = t.data[t.offset + i];
                t.data[t.offset + i] = (float) (v / (1.0 + Math.exp(-1.702 * v)));
            }
        });
    }

    @Override
    public void gelu(Tensor x) {
        CpuTensor t = act(x, "gelu");
        int n = (int) t.numel();
        parallel.forRange(n, 1 << 14, (i0, i1) -> {
            for (int i = i0; i < i1; i++) {
                double v = t.data[t.offset + i];
                t.data[t.offset + i] = (float) (0.5 * v * (1.0 + CpuKernels.erf(v / Math.sqrt(2.0))));
            }
        });
    }

    @Override
    public void siluMul(Tensor out, Tensor gate, Tensor up) {
        CpuTensor o = act(out, "siluMul"), g = act(gate, "siluMul"), u = act(up, "siluMul");
        int n = (int) o.numel();
        parallel.forRange(n, 1 << 14, (i0, i1) -> {
            for (int i = i0; i < i1; i++) {
                float v = g.data[g.offset + i];
                o.data[o.offset + i] = (float) (v / (1.0 + Math.exp(-v))) * u.data[u.offset + i];
            }
        });
    }

    @Override
    public void attention(Tensor out, Tensor q, Tensor k, Tensor v, int batch, int seqLen, int numHeads, int headDim) {
        CpuTensor o = act(out, "attention"), Q = act(q, "attention"), K = act(k, "attention"), V = act(v, "attention");
        int width = numHeads * headDim;
        float scale = (float) (1.0 / Math.sqrt(headDim));
        parallel.forRange(batch * numHeads * seqLen, 8, (w0, w1) -> {
            float[] scores = new float[seqLen];
            for (int w = w0; w < w1; w++) {
                int b = w / (numHeads * seqLen), h = (w / seqLen) % numHeads, i = w % seqLen;
                int qRow = Q.offset + (b * seqLen + i) * width + h * headDim;
                float max = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < seqLen; j++) {
                    scores[j] = CpuKernels.dot(Q.data, qRow, K.data, K.offset + (b * seqLen + j) * width + h * headDim, headDim) * scale;
                    max = Math.max(max, scores[j]);
                }
                int oRow = o.offset + (b * seqLen + i) * width + h * headDim;
                softmaxWeightedSum(scores, seqLen, max, j -> V.offset + (b * seqLen + j) * width + h * headDim, V.data, o.data, oRow, headDim);
            }
        });
    }

    private interface RowIndex {
        int at(int j);
    }

    private static void softmaxWeightedSum(float[] scores, int n, float max, RowIndex vRow, float[] vData, float[] out, int oRow, int headDim) {
        float sum = 0;
        for (int j = 0; j < n; j++) {
            scores[j] = (float) Math.exp(scores[j] - max);
            sum += scores[j];
        }
        java.util.Arrays.fill(out, oRow, oRow + headDim, 0f);
        float inv = 1f / sum;
        for (int j = 0; j < n; j++) CpuKernels.axpy(scores[j] * inv, vData, vRow.at(j), out, oRow, headDim);
    }

    // ---- decoder step ops ---------------------------------------------------------------------------------

    private record CpuStep(BatchLayout layout) implements StepBatch {
    }

    @Override
    public StepBatch prepare(BatchLayout layout) {
        return new CpuStep(layout);
    }

    @Override
    public void embed(Tensor out, Tensor table, StepBatch step) {
        CpuTensor o = act(out, "embed"), t = c(table);
        int[] ids = step.layout().tokenIds();
        float[] row = new float[t.cols];
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= t.rows) throw new IllegalArgumentException("token id " + ids[i] + " outside the vocabulary of " + t.rows);
            t.readRow(ids[i], row);
            System.arraycopy(row, 0, o.data, o.offset + i * o.cols, o.cols);
        }
    }

    @Override
    public void rope(Tensor x, int headDim, float theta, StepBatch step) {
        CpuTensor t = act(x, "rope");
        int half = headDim / 2, heads = t.cols / headDim;
        // HF: inv_freq = 1 / theta^(arange(0, d, 2) / d) and freqs = pos * inv_freq, all in float32.
        float[] invFreq = new float[half];
        for (int j = 0; j < half; j++) invFreq[j] = (float) (1.0 / Math.pow(theta, (float) (2 * j) / (float) headDim));
        int[] positions = step.layout().positions();
        parallel.forRange(t.rows, 16, (r0, r1) -> {
            float[] cos = new float[half], sin = new float[half];
            for (int r = r0; r < r1; r++) {
                for (int j = 0; j < half; j++) {
                    float f = (float) positions[r] * invFreq[j];
                    cos[j] = (float) Math.cos(f);
                    sin[j] = (float) Math.sin(f);
                }
                for (int h = 0; h < heads; h++) {
                    int base = t.offset + r * t.cols + h * headDim;
                    for (int j = 0; j < half; j++) {
                        float x1 = t.data[base + j], x2 = t.data[base + j + half];
                        t.data[base + j] = x1 * cos[j] - x2 * sin[j];
                        t.data[base + j + half] = x2 * cos[j] + x1 * sin[j];
                    }
                }
            }
        });
    }

    private record CpuKvCache(KvCacheSpec spec, float[][] k, float[][] v) implements KvCache {
        @Override
        public void close() {
        }
    }

    @Override
    public KvCache allocateKvCache(KvCacheSpec spec) {
        int perLayer = Math.multiplyExact(spec.numSlots(), spec.numKvHeads() * spec.headDim());
        float[][] k = new float[spec.numLayers()][], v = new float[spec.numLayers()][];
        for (int l = 0; l < spec.numLayers(); l++) {
            k[l] = new float[perLayer];
            v[l] = new float[perLayer];
        }
        return new CpuKvCache(spec, k, v);
    }

    @Override
    public void writeKv(KvCache cache, int layer, Tensor k, Tensor v, StepBatch step) {
        CpuKvCache c = (CpuKvCache) cache;
        CpuTensor K = act(k, "writeKv"), V = act(v, "writeKv");
        int width = K.cols;
        int[] slots = step.layout().slotMapping();
        for (int i = 0; i < slots.length; i++) {
            System.arraycopy(K.data, K.offset + i * width, c.k[layer], slots[i] * width, width);
            System.arraycopy(V.data, V.offset + i * width, c.v[layer], slots[i] * width, width);
        }
    }

    @Override
    public void pagedAttention(Tensor out, Tensor q, KvCache cache, int layer, StepBatch step, int numHeads,
                               int numKvHeads, int headDim) {
        CpuKvCache c = (CpuKvCache) cache;
        CpuTensor o = act(out, "pagedAttention"), Q = act(q, "pagedAttention");
        BatchLayout L = step.layout();
        int blockSize = c.spec.blockSize();
        int kvWidth = numKvHeads * headDim, qWidth = numHeads * headDim, group = numHeads / numKvHeads;
        float scale = (float) (1.0 / Math.sqrt(headDim));
        float[] kc = c.k[layer], vc = c.v[layer];
        int[] rowSeq = new int[L.numTokens()];
        for (int s = 0; s < L.numSeqs(); s++) {
            for (int r = L.queryStart()[s]; r < L.queryStart()[s + 1]; r++) rowSeq[r] = s;
        }
        parallel.forRange(L.numTokens() * numHeads, 4, (w0, w1) -> {
            float[] scores = new float[0];
            for (int w = w0; w < w1; w++) {
                int r = w / numHeads, h = w % numHeads, s = rowSeq[r];
                int[] table = L.blockTables()[s];
                // Causal: row r sees every cached position up to its own.
                int visible = L.positions()[r] + 1;
                if (scores.length < visible) scores = new float[Math.max(visible, 2 * scores.length)];
                int qRow = Q.offset + r * qWidth + h * headDim;
                int kvOff = (h / group) * headDim;
                float max = Float.NEGATIVE_INFINITY;
                for (int t = 0; t < visible; t++) {
                    int slot = table[t / blockSize] * blockSize + t % blockSize;
                    scores[t] = CpuKernels.dot(Q.data, qRow, kc, slot * kvWidth + kvOff, headDim) * scale;
                    max = Math.max(max, scores[t]);
                }
                softmaxWeightedSum(scores, visible, max, t -> (table[t / blockSize] * blockSize + t % blockSize) * kvWidth + kvOff,
                        vc, o.data, o.offset + r * qWidth + h * headDim, headDim);
            }
        });
    }

    @Override
    public void gatherLogitRows(Tensor out, Tensor x, StepBatch step) {
        CpuTensor o = act(out, "gatherLogitRows"), in = act(x, "gatherLogitRows");
        int[] rows = step.layout().logitRows();
        for (int i = 0; i < rows.length; i++) {
            System.arraycopy(in.data, in.offset + rows[i] * in.cols, o.data, o.offset + i * o.cols, o.cols);
        }
    }

    @Override
    public void synchronize() {
    }

    @Override
    public void close() {
        parallel.close();
    }

    private static CpuTensor c(Tensor t) {
        return (CpuTensor) t;
    }

    private static CpuTensor act(Tensor t, String op) {
        CpuTensor x = (CpuTensor) t;
        if (x.isWeight()) throw new IllegalArgumentException(op + ": expects an activation, got a weight");
        return x;
    }
}
