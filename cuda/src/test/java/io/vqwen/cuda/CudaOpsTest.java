package io.vqwen.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vqwen.engine.backend.Backend;
import io.vqwen.engine.backend.BatchLayout;
import io.vqwen.engine.backend.KvCache;
import io.vqwen.engine.backend.KvCacheSpec;
import io.vqwen.engine.backend.StepBatch;
import io.vqwen.engine.backend.SampledToken;
import io.vqwen.engine.backend.SamplingRow;
import io.vqwen.engine.backend.Tensor;
import io.vqwen.engine.cpu.CpuBackend;
import io.vqwen.engine.generate.Sampler;
import io.vqwen.engine.model.Qwen3Model;
import io.vqwen.engine.model.SyntheticWeights;
import io.vqwen.engine.pipeline.Bf16;
import io.vqwen.engine.pipeline.ImageEmbeddings;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Every op of the CUDA backend against the float32 CPU backend on fresh random inputs (rounded to bf16 so both
 * start from the same numbers). Tolerances are relative L2: 1e-2 where the GPU stores a bf16 result (one rounding
 * is ~2e-3), 2e-2 for attention (bf16 probabilities), 1e-4 for float32 logits. Skipped without a GPU.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class) // simple ops first: a kernel fault poisons the context for the rest
class CudaOpsTest {
    static final double BF16_TOL = 1e-2, ATTN_TOL = 2e-2, F32_TOL = 1e-4;
    private CudaBackend gpu;
    private CpuBackend cpu;
    private final SplittableRandom rnd = new SplittableRandom(System.nanoTime());

    @BeforeAll
    void open() {
        gpu = Gpu.open(true);
        cpu = new CpuBackend();
        if (gpu != null) System.out.println("GPU: " + gpu.describe());
    }

    @BeforeEach
    void requireGpu() {
        Gpu.require(gpu);
    }

    @AfterAll
    void close() {
        if (gpu != null) gpu.close();
        if (cpu != null) cpu.close();
    }

    /** The same data on both backends: [0] CPU, [1] GPU. */
    private Tensor[] both(float[] data, int rows, int cols) {
        return new Tensor[] {cpu.upload(data, rows, cols), gpu.upload(data, rows, cols)};
    }

    private Tensor[] random(int rows, int cols) {
        return both(Gpu.randn(rnd, rows * cols, 1f, 0f), rows, cols);
    }

    private Tensor[] weight(String name, float std, float mean, long... shape) {
        long n = 1;
        for (long d : shape) n *= d;
        var view = Gpu.bf16View(name, Gpu.randn(rnd, (int) n, std, mean), shape);
        return new Tensor[] {cpu.weight(view), gpu.weight(view)};
    }

    private Tensor[] zeros(int rows, int cols) {
        return new Tensor[] {cpu.allocate(rows, cols), gpu.allocate(rows, cols)};
    }

    private void expect(String what, Tensor[] t, double tol) {
        float[] ref = cpu.download(t[0]), got = gpu.download(t[1]);
        double err = Gpu.relL2(got, ref);
        System.out.printf("%-46s rel L2 %.2e (tol %.0e)%n", what, err, tol);
        assertTrue(err <= tol, what + ": rel L2 " + err + " > " + tol);
    }

    @Test
    @Order(5)
    void linearMatchesForDecodeAndPrefillBatchesWithAndWithoutBias() {
        int k = 256, m = 96;
        Tensor[] w = weight("w", 0.05f, 0f, m, k), bias = weight("b", 0.1f, 0f, m);
        for (int n : new int[] {1, 3, 8, 9, 77}) {
            Tensor[] x = random(n, k), out = zeros(n, m), outB = zeros(n, m);
            cpu.linear(out[0], x[0], w[0], null);
            gpu.linear(out[1], x[1], w[1], null);
            expect("linear n=" + n + (n <= GemvKernels.MAX_ROWS ? " (gemv)" : " (cuBLAS)"), out, BF16_TOL);
            cpu.linear(outB[0], x[0], w[0], bias[0]);
            gpu.linear(outB[1], x[1], w[1], bias[1]);
            expect("linear + bias n=" + n, outB, BF16_TOL);
        }
        // The decoder's real widths: q/k/v from 2560, down_proj from 9728.
        for (int[] s : new int[][] {{1, 2560, 4096}, {4, 9728, 2560}, {64, 2560, 1024}}) {
            Tensor[] x = random(s[0], s[1]), wt = weight("w", 0.02f, 0f, s[2], s[1]), out = zeros(s[0], s[2]);
            cpu.linear(out[0], x[0], wt[0], null);
            gpu.linear(out[1], x[1], wt[1], null);
            expect("linear n=" + s[0] + " k=" + s[1] + " m=" + s[2], out, BF16_TOL);
        }
    }

    @Test
    @Order(6)
    void logitsStayFloat32() {
        int k = 256, vocab = 3000;
        Tensor[] w = weight("lm_head", 0.05f, 0f, vocab, k);
        for (int n : new int[] {1, 8, 40}) {
            Tensor[] x = random(n, k);
            Tensor[] out = {cpu.allocateLogits(n, vocab), gpu.allocateLogits(n, vocab)};
            cpu.linear(out[0], x[0], w[0], null);
            gpu.linear(out[1], x[1], w[1], null);
            expect("logits (float32) n=" + n, out, F32_TOL);
            int[] ids = gpu.argmax(out[1]);
            assertArrayEquals(cpu.argmax(out[0]), ids, "argmax of float32 logits, n=" + n);
        }
    }

    @Test
    @Order(7)
    void fusedProjectionsMatchTheSeparateOps() {
        int k = 64;
        Tensor[] wq = weight("q", 0.1f, 0f, 64, k), wk = weight("k", 0.1f, 0f, 32, k), wv = weight("v", 0.1f, 0f, 32, k);
        Tensor[] gate = weight("gate", 0.1f, 0f, 96, k), up = weight("up", 0.1f, 0f, 96, k);
        for (int n : new int[] {1, 5, 20}) {
            Tensor[] x = random(n, k), q = zeros(n, 64), kk = zeros(n, 32), v = zeros(n, 32);
            for (int b = 0; b < 2; b++) {
                Backend be = b == 0 ? cpu : gpu;
                be.linears(x[b], new Tensor[] {wq[b], wk[b], wv[b]}, new Tensor[] {q[b], kk[b], v[b]});
            }
            expect("linears q n=" + n, q, BF16_TOL);
            expect("linears k n=" + n, kk, BF16_TOL);
            expect("linears v n=" + n, v, BF16_TOL);
            Tensor[] out = zeros(n, 96), scratch = zeros(n, 96);
            cpu.gateUpSilu(out[0], scratch[0], x[0], gate[0], up[0]);
            gpu.gateUpSilu(out[1], scratch[1], x[1], gate[1], up[1]);
            expect("gateUpSilu n=" + n + (n <= GemvKernels.MAX_ROWS ? " (fused gemv)" : " (cuBLAS)"), out, BF16_TOL);
        }
    }

    @Test
    @Order(3)
    void normsAndElementwiseOpsMatch() {
        int rows = 7, d = 2560;
        Tensor[] gamma = weight("g", 0.1f, 1f, d), beta = weight("b", 0.1f, 0f, d);
        Tensor[] x = random(rows, d), out = zeros(rows, d);
        cpu.rmsNorm(out[0], x[0], gamma[0], 1e-6f);
        gpu.rmsNorm(out[1], x[1], gamma[1], 1e-6f);
        expect("rmsNorm rows", out, BF16_TOL);
        Tensor[] headGamma = weight("qn", 0.1f, 1f, 128);
        cpu.rmsNorm(out[0], x[0], headGamma[0], 1e-6f);
        gpu.rmsNorm(out[1], x[1], headGamma[1], 1e-6f);
        expect("rmsNorm per head (groups of 128)", out, BF16_TOL);
        Tensor[] res = random(rows, d), add = random(rows, d);
        cpu.addRmsNorm(res[0], out[0], add[0], gamma[0], 1e-6f);
        gpu.addRmsNorm(res[1], out[1], add[1], gamma[1], 1e-6f);
        expect("addRmsNorm residual", res, BF16_TOL);
        expect("addRmsNorm out", out, BF16_TOL);
        Tensor[] ln = random(rows, 1024), lg = weight("lg", 0.1f, 1f, 1024), lb = weight("lb", 0.1f, 0f, 1024);
        cpu.layerNorm(ln[0], ln[0], lg[0], lb[0], 1e-5f);
        gpu.layerNorm(ln[1], ln[1], lg[1], lb[1], 1e-5f);
        expect("layerNorm in place", ln, BF16_TOL);

        Tensor[] a = random(rows, 100), b = random(rows, 100), c = zeros(rows, 100);
        cpu.add(c[0], a[0], b[0]);
        gpu.add(c[1], a[1], b[1]);
        expect("add", c, BF16_TOL);
        Tensor[] table = weight("pos", 1f, 0f, rows + 3, 100);
        cpu.addRows(a[0], table[0]);
        gpu.addRows(a[1], table[1]);
        expect("addRows", a, BF16_TOL);
        Tensor[] g = random(rows, 4096);
        cpu.quickGelu(g[0]);
        gpu.quickGelu(g[1]);
        expect("quickGelu", g, BF16_TOL);
        Tensor[] e = random(rows, 2560);
        cpu.gelu(e[0]);
        gpu.gelu(e[1]);
        expect("gelu (erf)", e, BF16_TOL);
        Tensor[] s1 = random(rows, 9728), s2 = random(rows, 9728), s3 = zeros(rows, 9728);
        cpu.siluMul(s3[0], s1[0], s2[0]);
        gpu.siluMul(s3[1], s1[1], s2[1]);
        expect("siluMul", s3, BF16_TOL);
    }

    @Test
    @Order(2)
    void rowOpsMoveTheRightRows() {
        Tensor[] src = random(10, 24), dst = zeros(12, 24);
        cpu.copyRows(dst[0], 1, src[0], 3, 5);
        gpu.copyRows(dst[1], 1, src[1], 3, 5);
        Tensor[] w = weight("cls", 1f, 0f, 24);
        cpu.copyRows(dst[0], 0, w[0], 0, 1);
        gpu.copyRows(dst[1], 0, w[1], 0, 1);
        int[] rows = {11, 7, 9};
        Tensor[] part = random(3, 24);
        cpu.scatterRows(dst[0], part[0], rows);
        gpu.scatterRows(dst[1], part[1], rows);
        expect("copyRows + scatterRows", dst, 0);
        assertArrayEquals(cpu.download(cpu.rowSlice(dst[0], 7, 3)), gpu.download(gpu.rowSlice(dst[1], 7, 3)), "rowSlice");
        assertThrows(IndexOutOfBoundsException.class, () -> gpu.scatterRows(dst[1], part[1], new int[] {0, 1, 12}));
    }

    /** bf16 embeddings from the wire go up as their bytes and splice into the prompt bit for bit. */
    @Test
    @Order(2)
    void bf16EmbeddingsUploadAsTheyAreAndScatterExactly() {
        int rows = 5, width = 40;
        short[] bits = new short[rows * width];
        float[] widened = new float[bits.length];
        for (int i = 0; i < bits.length; i++) {
            bits[i] = Bf16.fromFloat((float) rnd.nextGaussian());
            widened[i] = Bf16.toFloat(bits[i]);
        }
        ImageEmbeddings e = ImageEmbeddings.bf16(bits, rows, width);
        Tensor up = gpu.upload(e);
        assertArrayEquals(widened, gpu.download(up), "bf16 upload round trip");
        int[] at = {6, 0, 3, 9, 1};
        Tensor[] dst = zeros(10, width);
        cpu.scatterRows(dst[0], cpu.upload(e), at);
        gpu.scatterRows(dst[1], up, at);
        assertArrayEquals(cpu.download(dst[0]), gpu.download(dst[1]), "scatterRows of bf16 embeddings");
        ImageEmbeddings back = gpu.downloadEmbeddings(up);
        assertEquals(ImageEmbeddings.Dtype.BF16, back.dtype());
        assertArrayEquals(bits, back.toBf16(), "bf16 download returns the uploaded bits");
        gpu.free(up);
    }

    @Test
    @Order(9)
    void patchRowsMatchTheHostRearrangement() {
        int batch = 3, c = 3, size = 336, p = 14;
        float[][] px = new float[batch][];
        for (int b = 0; b < batch; b++) px[b] = Gpu.randn(rnd, c * size * size, 1f, 0f);
        Tensor[] rows = {cpu.uploadPatches(px, c, size, p), gpu.uploadPatches(px, c, size, p)};
        expect("uploadPatches (patchify on the device)", rows, 0);
        assertThrows(IllegalArgumentException.class, () -> gpu.uploadPatches(new float[][] {new float[10]}, c, size, p));
    }

    @Test
    @Order(10)
    void denseAttentionMatchesForClipShapes() {
        // head sizes 16 and 64 take the tensor-core flash kernel, 8 the cuBLAS + softmax path
        for (int[] s : new int[][] {{2, 37, 4, 16}, {1, 577, 16, 64}, {3, 577, 4, 16}, {2, 77, 3, 8}}) {
            int batch = s[0], seq = s[1], heads = s[2], hd = s[3], w = heads * hd;
            Tensor[] q = random(batch * seq, w), k = random(batch * seq, w), v = random(batch * seq, w), o = zeros(batch * seq, w);
            cpu.attention(o[0], q[0], k[0], v[0], batch, seq, heads, hd);
            gpu.attention(o[1], q[1], k[1], v[1], batch, seq, heads, hd);
            expect("attention batch=" + batch + " seq=" + seq + " heads=" + heads + " hd=" + hd, o, ATTN_TOL);
        }
    }

    /** Qwen3-4B's attention shape (32 query heads over 8 KV heads of 128) and the fixture's (4 over 2 of 16). */
    @Test
    @Order(11)
    void pagedAttentionMatchesForPrefillChunksAndDecode() {
        for (int[] s : new int[][] {{32, 8, 128}, {4, 2, 16}}) {
            int heads = s[0], kv = s[1], hd = s[2];
            KvCacheSpec spec = new KvCacheSpec(2, 40, 16, kv, hd);
            KvCache[] cache = {cpu.allocateKvCache(spec), gpu.allocateKvCache(spec)};
            Tensor[] qn = weight("q_norm", 0.1f, 1f, hd), kn = weight("k_norm", 0.1f, 1f, hd);
            int[][] tables = {{5, 2, 9, 11, 0, 30}, {7, 12, 13}, {20}};
            String tag = " (" + heads + "/" + kv + " heads of " + hd + ")";
            // Step 1: prompts of 70 and 6 tokens. Step 2: seq 1 continues with a chunk of 34 while seq 0 decodes.
            // Step 3: three sequences decode (seq 2 has a one-token prompt written in step 3 itself).
            List<int[]> seqPos = List.of(new int[] {0, 0, 70}, new int[] {1, 0, 6});
            step(cache, qn, kn, 1, tables, seqPos, heads, kv, hd, "prefill" + tag);
            step(cache, qn, kn, 1, tables, List.of(new int[] {0, 70, 1}, new int[] {1, 6, 34}), heads, kv, hd, "prefill chunk + decode" + tag);
            step(cache, qn, kn, 1, tables, List.of(new int[] {0, 71, 1}, new int[] {1, 40, 1}, new int[] {2, 0, 1}), heads, kv, hd, "decode" + tag);
            step(cache, qn, kn, 0, tables, List.of(new int[] {2, 0, 16}), heads, kv, hd, "prefill (layer 0)" + tag);
            cache[0].close();
            cache[1].close();
        }
    }

    /** One step of {seq, start, count} chunks through q/k norm + RoPE + KV write and paged attention. */
    private void step(KvCache[] cache, Tensor[] qn, Tensor[] kn, int layer, int[][] tables, List<int[]> chunks, int heads, int kv, int hd,
                      String what) {
        int n = 0;
        for (int[] c : chunks) n += c[2];
        int[] ids = new int[n], pos = new int[n], slots = new int[n], qs = new int[chunks.size() + 1], ctx = new int[chunks.size()];
        int[][] bt = new int[chunks.size()][];
        int row = 0;
        for (int i = 0; i < chunks.size(); i++) {
            int[] c = chunks.get(i);
            qs[i] = row;
            bt[i] = tables[c[0]];
            for (int j = 0; j < c[2]; j++, row++) {
                int p = c[1] + j;
                pos[row] = p;
                slots[row] = bt[i][p / 16] * 16 + p % 16;
            }
            ctx[i] = c[1] + c[2];
        }
        qs[chunks.size()] = n;
        BatchLayout layout = new BatchLayout(ids, pos, slots, qs, ctx, bt, new int[0]);
        StepBatch[] st = {cpu.prepare(layout), gpu.prepare(layout)};
        Tensor[] q = random(n, heads * hd), k = random(n, kv * hd), v = random(n, kv * hd), out = zeros(n, heads * hd);
        for (int b = 0; b < 2; b++) {
            Backend be = b == 0 ? cpu : gpu;
            be.qkNormRopeWriteKv(q[b], k[b], v[b], qn[b], kn[b], 1e-6f, hd, 1e6f, cache[b], layer, st[b]);
            be.pagedAttention(out[b], q[b], cache[b], layer, st[b], heads, kv, hd);
        }
        expect("q after norm + rope: " + what, q, BF16_TOL);
        expect("pagedAttention: " + what, out, ATTN_TOL);
    }

    @Test
    @Order(8)
    void separateRopeAndKvWriteMatch() {
        int n = 5, heads = 4, hd = 128;
        int[][] tables = {{3, 1}};
        int[] pos = {0, 1, 2, 3, 17}, slots = {48, 49, 50, 51, 17};
        BatchLayout layout = new BatchLayout(new int[n], pos, slots, new int[] {0, n}, new int[] {18}, tables, new int[0]);
        StepBatch[] st = {cpu.prepare(layout), gpu.prepare(layout)};
        Tensor[] x = random(n, heads * hd);
        cpu.rope(x[0], hd, 1e6f, st[0]);
        gpu.rope(x[1], hd, 1e6f, st[1]);
        expect("rope", x, BF16_TOL);
    }

    @Test
    @Order(4)
    void embeddingGatherAndGreedyMatch() {
        int vocab = 1000, d = 64;
        Tensor[] table = weight("embed", 1f, 0f, vocab, d);
        int[] ids = {3, 999, 0, 3, 512};
        BatchLayout layout = new BatchLayout(ids, new int[5], new int[5], new int[] {0, 5}, new int[] {5}, new int[][] {{0}}, new int[] {4, 1});
        StepBatch[] st = {cpu.prepare(layout), gpu.prepare(layout)};
        Tensor[] e = zeros(5, d), g = zeros(2, d);
        for (int b = 0; b < 2; b++) {
            Backend be = b == 0 ? cpu : gpu;
            be.embed(e[b], table[b], st[b]);
            be.gatherLogitRows(g[b], e[b], st[b]);
        }
        expect("embed", e, 0);
        expect("gatherLogitRows", g, 0);
        assertArrayEquals(cpu.argmax(e[0]), gpu.argmax(e[1]), "argmax of bf16 rows");
        BatchLayout bad = new BatchLayout(new int[] {vocab}, new int[1], new int[1], new int[] {0, 1}, new int[] {1}, new int[][] {{0}}, new int[0]);
        IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, () -> gpu.embed(gpu.allocate(1, d), table[1], gpu.prepare(bad)));
        assertTrue(ex.getMessage().contains("outside the vocabulary"), ex.getMessage());
    }

    @Test
    @Order(1)
    void randomWeightsAreSeededNormals() {
        float[] a = gpu.download(gpu.randomWeight(1000, 1000, 7, 0.5f, 2f));
        float[] b = gpu.download(gpu.randomWeight(1000, 1000, 7, 0.5f, 2f));
        float[] c = gpu.download(gpu.randomWeight(1000, 1000, 8, 0.5f, 2f));
        double m = 0, v = 0;
        for (float x : a) m += x;
        m /= a.length;
        for (float x : a) v += (x - m) * (x - m);
        double sd = Math.sqrt(v / a.length);
        System.out.printf("randomWeight: mean %.4f std %.4f%n", m, sd);
        assertEquals(0.5, m, 0.01);
        assertEquals(2.0, sd, 0.01);
        assertArrayEquals(a, b, "same seed, same weights");
        assertNotEquals(a[0], c[0], "another seed, other weights");
    }

    /** Decode graphs replay exactly what the eager path computes, across bucket changes and growing contexts. */
    @Test
    @Order(13)
    void decodeGraphsReplayTheEagerSteps() {
        try (CudaBackend eager = new CudaBackend(gpu.deviceIndex(), false);
             SyntheticWeights w = SyntheticWeights.of("synthetic:tiny", 11)) {
            Qwen3Model mg = new Qwen3Model(gpu, w), me = new Qwen3Model(eager, w);
            KvCache cg = mg.allocateKvCache(32, 16), ce = me.allocateKvCache(32, 16);
            int[][] prompts = {{1, 2, 3, 4, 5, 6, 7}, {100, 200}, {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9}};
            int[][] tables = {{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9, 10, 11}};
            int[] len = new int[3], last = new int[3];
            for (int s = 0; s < 3; s++) {
                BatchLayout p = BatchLayout.single(prompts[s], 0, tables[s], 16, true);
                float[] a = gpu.download(mg.forward(p, cg, null, null)), b = eager.download(me.forward(p, ce, null, null));
                assertTrue(Gpu.relL2(a, b) < 1e-3, "prefill logits agree");
                last[s] = gpu.argmax(gpu.upload(a, 1, a.length))[0];
                len[s] = prompts[s].length;
            }
            int graphsBefore = gpu.recordedGraphs();
            double worst = 0;
            for (int stepNo = 0; stepNo < 12; stepNo++) {
                int live = stepNo < 6 ? 3 : 2; // sequence 2 leaves after 6 steps: bucket 3, then bucket 2
                int[] ids = new int[live], pos = new int[live], slots = new int[live], qs = new int[live + 1], ctx = new int[live], rows = new int[live];
                int[][] bt = new int[live][];
                for (int s = 0; s < live; s++) {
                    ids[s] = last[s];
                    pos[s] = len[s];
                    slots[s] = tables[s][len[s] / 16] * 16 + len[s] % 16;
                    qs[s] = s;
                    ctx[s] = len[s] + 1;
                    bt[s] = tables[s];
                    rows[s] = s;
                }
                qs[live] = live;
                BatchLayout l = new BatchLayout(ids, pos, slots, qs, ctx, bt, rows);
                float[] a = gpu.download(mg.forward(l, cg, null, null)), b = eager.download(me.forward(l, ce, null, null));
                worst = Math.max(worst, Gpu.relL2(a, b));
                int[] next = gpu.argmax(gpu.upload(a, live, a.length / live));
                for (int s = 0; s < live; s++) {
                    last[s] = next[s];
                    len[s]++;
                }
            }
            System.out.printf("decode graphs vs eager: worst logits rel L2 %.2e over 12 steps, %d graphs recorded%n", worst,
                    gpu.recordedGraphs() - graphsBefore);
            assertTrue(worst < 1e-3, "graph replay differs from eager: " + worst);
            assertEquals(2, gpu.recordedGraphs() - graphsBefore, "one graph per bucket (3 and 2)");
            cg.close();
            ce.close();
        }
    }

    @Test
    @Order(12)
    void errorsNameTheOperation() {
        Tensor[] x = random(2, 8);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> gpu.linear(gpu.allocate(2, 3), x[1], gpu.allocate(4, 8), null));
        assertTrue(e.getMessage().startsWith("linear:"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> gpu.pagedAttention(gpu.allocate(1, 8), gpu.allocate(1, 8),
                gpu.allocateKvCache(new KvCacheSpec(1, 1, 16, 1, 24)), 0, gpu.prepare(BatchLayout.single(new int[] {1}, 0, new int[] {0}, 16, false)),
                1, 1, 24));
        assertTrue(e.getMessage().contains("head_dim 24"), e.getMessage());
        List<Tensor> owned = new ArrayList<>();
        owned.add(gpu.allocate(3, 3));
        gpu.free(owned.getFirst());
        assertThrows(IllegalStateException.class, () -> gpu.free(owned.getFirst()));
    }

    /** Float32 logits on the device, (rows, vocab), from a random lm_head; [0] is the same values on the host. */
    private Object[] deviceLogits(int rows, int vocab, float std, boolean sameRows) {
        int k = 64;
        float[] x = Gpu.randn(rnd, sameRows ? k : rows * k, 1f, 0f);
        if (sameRows) {
            float[] one = x;
            x = new float[rows * k];
            for (int r = 0; r < rows; r++) System.arraycopy(one, 0, x, r * k, k);
        }
        Tensor w = weight("lm_head", std, 0f, vocab, k)[1];
        Tensor out = gpu.allocateLogits(rows, vocab);
        gpu.linear(out, gpu.upload(x, rows, k), w, null);
        return new Object[] {gpu.download(out), out};
    }

    private static SamplingRow row(float t, float topP, int topK, float minP, float penalty, long seed, int[] history, int top) {
        return new SamplingRow(t, topP, topK, minP, penalty, seed, 0, history, top > 0, top);
    }

    @Test
    @Order(14)
    void deviceSamplingKeepsTheCpuSamplersSetAndDistribution() {
        int vocab = 5000;
        // top_k 1 is greedy; a seeded row gives the same id twice; the penalty matches the CPU's penalised argmax.
        Object[] a = deviceLogits(3, vocab, 0.3f, false);
        float[] host = (float[]) a[0];
        int[] hist = {Sampler.argmax(java.util.Arrays.copyOfRange(host, 2 * vocab, 3 * vocab)), 7, 7};
        SamplingRow[] rows = {row(1.3f, 1f, 1, 0f, 1f, 5, null, 0), row(0.9f, 0.95f, 40, 0.02f, 1f, 11, null, 0), row(0f, 1f, 0, 0f, 4f, 1, hist, 0)};
        SampledToken[] first = gpu.sample((Tensor) a[1], rows), again = gpu.sample((Tensor) a[1], rows);
        int[] cpuArgmax = cpu.argmax(cpu.upload(host, 3, vocab));
        assertEquals(cpuArgmax[0], first[0].tokenId(), "top_k 1 is the argmax");
        assertEquals(first[1].tokenId(), again[1].tokenId(), "a seeded row draws the same id");
        SampledToken[] cpuPen = cpu.sample(cpu.upload(java.util.Arrays.copyOfRange(host, 2 * vocab, 3 * vocab), 1, vocab), new SamplingRow[] {rows[2]});
        assertEquals(cpuPen[0].tokenId(), first[2].tokenId(), "penalised greedy");

        // Over many seeds: every id inside the CPU's kept set, frequencies within a chi-square bound.
        int draws = 4096;
        for (float[] c : new float[][] {{1f, 1f, 8, 0f}, {0.8f, 0.9f, 0, 0f}, {1.2f, 0.95f, 20, 0.05f}, {1f, 1f, 0, 0.2f}}) {
            Object[] d = deviceLogits(draws, vocab, 0.5f, true);
            float[] ref = java.util.Arrays.copyOf((float[]) d[0], vocab);
            SamplingRow[] many = new SamplingRow[draws];
            for (int i = 0; i < draws; i++) many[i] = row(c[0], c[1], (int) c[2], c[3], 1f, 1000 + i, null, 0);
            int[] counts = new int[vocab];
            for (SampledToken t : gpu.sample((Tensor) d[1], many)) counts[t.tokenId()]++;
            var kept = SamplingReference.kept(ref, c[0], (int) c[2], c[3], c[1]);
            double[] cs = SamplingReference.chiSquare(counts, kept, draws);
            double chi = cs[0], dof = cs[1];
            System.out.printf("device sampling T=%.1f top_p=%.2f top_k=%d min_p=%.2f: %d kept, chi2 %.1f (dof %.0f)%n", c[0], c[1], (int) c[2], c[3],
                    kept.size(), chi, dof);
            // Pearson's statistic has mean dof and sd sqrt(2 dof): 6 sd is not chance; infinity means an id outside the set.
            assertTrue(chi <= dof + 6 * Math.sqrt(2 * dof) + 10, "chi-square " + chi + " for " + kept.size() + " kept ids");
        }
    }

    @Test
    @Order(15)
    void deviceTopLogprobsMatchTheCpu() {
        int vocab = 152_064;
        Object[] a = deviceLogits(2, vocab, 0.1f, false);
        SamplingRow[] rows = {row(0f, 1f, 0, 0f, 1f, 1, null, 20), row(0.7f, 0.9f, 50, 0f, 1.3f, 3, new int[] {1, 2, 3}, 5)};
        SampledToken[] g = gpu.sample((Tensor) a[1], rows);
        SampledToken[] c = cpu.sample(cpu.upload((float[]) a[0], 2, vocab), rows);
        assertEquals(c[0].tokenId(), g[0].tokenId());
        for (int r = 0; r < 2; r++) {
            assertArrayEquals(c[r].topIds(), g[r].topIds(), "row " + r);
            for (int j = 0; j < c[r].topIds().length; j++) assertEquals(c[r].topLogprobs()[j], g[r].topLogprobs()[j], 1e-3, "row " + r + " rank " + j);
        }
        float[] host = (float[]) a[0];
        double lse = Sampler.logSumExp(java.util.Arrays.copyOfRange(host, vocab, 2 * vocab));
        assertEquals(host[vocab + g[1].tokenId()] - lse, g[1].logprob(), 1e-3, "the sampled id's raw log-prob");
        assertThrows(IllegalArgumentException.class, () -> gpu.sample(gpu.upload(new float[4], 1, 4), new SamplingRow[] {rows[0]}), "bf16 logits");
    }
}
