package io.vqwen.cuda.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vqwen.cuda.CudaBackend;
import io.vqwen.engine.backend.BatchLayout;
import io.vqwen.engine.backend.KvCache;
import io.vqwen.engine.backend.Tensor;
import io.vqwen.engine.config.ClipVisionConfig;
import io.vqwen.engine.config.GenerationConfig;
import io.vqwen.engine.config.LlavaConfig;
import io.vqwen.engine.config.Qwen3Config;
import io.vqwen.engine.generate.Completion;
import io.vqwen.engine.generate.DecoderEngine;
import io.vqwen.engine.generate.DecoderOptions;
import io.vqwen.engine.generate.GenerationListener;
import io.vqwen.engine.generate.GenerationRequest;
import io.vqwen.engine.generate.SamplingParams;
import io.vqwen.engine.generate.TokenDelta;
import io.vqwen.engine.model.ClipVisionModel;
import io.vqwen.engine.model.LlavaProjector;
import io.vqwen.engine.model.Qwen3Model;
import io.vqwen.engine.model.SyntheticWeights;
import io.vqwen.engine.pipeline.ImageEmbeddings;
import io.vqwen.engine.text.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The GPU benchmark on a synthetic full-size checkpoint with the transformers baseline's shapes: 1 image + 16 text
 * tokens, 128 new tokens, EOS ignored. It measures time to first token, decode tokens/s at several batch sizes,
 * the aggregate of 64 concurrent streams through the continuous-batching {@link DecoderEngine}, and vision +
 * projector images/s; then prints them beside the baseline (lines "HF {json}" of bench/hf_baseline.py's output),
 * the physical limit from the measured copy bandwidth and cuBLAS rate, and the ratios.
 * With {@code --streams N} it also times the scheduler's decode phase (all N running, no prefill) against the raw
 * batch-N step rate ({@code scheduler_decode_vs_raw}, when {@code --batches} holds N). {@code --only} picks the
 * measurements (parts, vision, ttft, decode, streams; default all) so a mesh run can add the engine's figures quickly.
 * <pre>java ... io.vqwen.cuda.bench.GpuBenchmark [--model synthetic:vqwen3-4b] [--baseline hf.txt] [--json out.json]
 *     [--batches 1,8,32,64] [--streams 64] [--new-tokens 128] [--tokenizer testdata/tiny-llava]
 *     [--only parts,vision,ttft,decode,streams]</pre>
 */
public final class GpuBenchmark {
    private static final int TEXT_TOKENS = 16;

    private final CudaBackend gpu;
    private final SyntheticWeights weights;
    private final LlavaConfig cfg;
    private final ClipVisionModel vision;
    private final LlavaProjector projector;
    private final Qwen3Model decoder;
    private final long decoderBytes;
    private final int newTokens;
    private final Map<String, Double> results = new LinkedHashMap<>();
    private final SplittableRandom rnd = new SplittableRandom(42);

    private GpuBenchmark(CudaBackend gpu, SyntheticWeights weights, int newTokens) {
        this.gpu = gpu;
        this.weights = weights;
        this.cfg = weights.config();
        this.newTokens = newTokens;
        long t0 = System.nanoTime();
        this.vision = new ClipVisionModel(gpu, weights);
        this.projector = new LlavaProjector(gpu, weights);
        long before = gpu.weightBytes();
        this.decoder = new Qwen3Model(gpu, weights);
        gpu.synchronize();
        this.decoderBytes = gpu.weightBytes() - before;
        System.out.printf(Locale.ROOT, "weights made on the GPU in %.1f s: %.2f GB in all, decoder %.2f GB%n", (System.nanoTime() - t0) / 1e9,
                gpu.weightBytes() / 1e9, decoderBytes / 1e9);
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> a = new LinkedHashMap<>(Map.of("--model", "synthetic:vqwen3-4b", "--batches", "1,8,32,64", "--streams", "64",
                "--new-tokens", "128", "--tokenizer", "testdata/tiny-llava", "--only", "parts,vision,ttft,decode,streams"));
        for (int i = 0; i + 1 < args.length; i += 2) a.put(args[i], args[i + 1]);
        try (CudaBackend gpu = new CudaBackend(Integer.parseInt(a.getOrDefault("--device", "0")));
             SyntheticWeights w = SyntheticWeights.of(a.get("--model"))) {
            System.out.println("device: " + gpu.describe());
            GpuBenchmark b = new GpuBenchmark(gpu, w, Integer.parseInt(a.get("--new-tokens")));
            double copyGBs = b.copyBandwidth();
            double tflops = b.gemmRate();
            java.util.Set<String> only = java.util.Set.of(a.get("--only").split(","));
            for (String m : only) {
                if (!java.util.Set.of("parts", "vision", "ttft", "decode", "streams").contains(m)) {
                    throw new IllegalArgumentException("--only: unknown measurement '" + m + "' (parts, vision, ttft, decode, streams)");
                }
            }
            if (only.contains("parts")) {
                b.attempt("decode step parts", () -> b.decodeParts(1));
                b.attempt("decode step parts", () -> b.decodeParts(64));
            }
            if (only.contains("vision")) {
                b.attempt("vision batch 1", () -> b.vision(1, 20));
                b.attempt("vision batch 32", () -> b.vision(32, 5));
            }
            if (only.contains("parts")) b.attempt("vision parts", b::visionParts);
            if (only.contains("ttft")) b.attempt("TTFT", b::ttft);
            if (only.contains("decode")) {
                for (String s : a.get("--batches").split(",")) b.attempt("decode batch " + s, () -> b.decode(Integer.parseInt(s.trim())));
            }
            int streams = Integer.parseInt(a.get("--streams"));
            if (streams > 0 && only.contains("streams")) b.attempt("streams", () -> b.streams(streams, Path.of(a.get("--tokenizer"))));
            Map<String, JsonNode> hf = a.containsKey("--baseline") ? baseline(Path.of(a.get("--baseline"))) : Map.of();
            String table = b.table(hf, copyGBs, tflops);
            System.out.println();
            System.out.println(table);
            if (a.containsKey("--json")) {
                Map<String, Object> out = new LinkedHashMap<>(b.results);
                out.put("device", gpu.describe());
                out.put("table", table);
                new ObjectMapper().writerWithDefaultPrettyPrinter().writeValue(Path.of(a.get("--json")).toFile(), out);
            }
        }
    }

    private interface Measurement {
        void run() throws Exception;
    }

    /** One failed measurement is reported and the others still run. */
    private void attempt(String what, Measurement m) {
        try {
            m.run();
        } catch (Throwable t) {
            System.out.println("FAILED " + what + ": " + t);
            t.printStackTrace(System.out);
        }
    }

    // ---- ceilings ----------------------------------------------------------------------------------------

    /** A large device-to-device copy: the memory ceiling, counting bytes read and written. */
    private double copyBandwidth() {
        long n = 1L << 30; // elements of bf16: 2 GiB buffers
        Tensor src = gpu.allocate((int) (n / 16384), 16384), dst = gpu.allocate((int) (n / 16384), 16384);
        gpu.copyRows(dst, 0, src, 0, src.rows());
        gpu.synchronize();
        long t = System.nanoTime();
        int reps = 10;
        for (int i = 0; i < reps; i++) gpu.copyRows(dst, 0, src, 0, src.rows());
        gpu.synchronize();
        double s = (System.nanoTime() - t) / 1e9 / reps;
        double gbs = 2.0 * n * 2 / s / 1e9;
        gpu.free(src);
        gpu.free(dst);
        System.out.printf(Locale.ROOT, "device copy: %.0f GB/s (read + write)%n", gbs);
        results.put("copy_GBs", gbs);
        return gbs;
    }

    /** A large bf16 product through our cuBLAS binding: the arithmetic ceiling. */
    private double gemmRate() {
        int n = 8192;
        Tensor x = gpuCopy(gpu.randomWeight(n, n, 1, 0f, 1f)), wt = gpu.randomWeight(n, n, 2, 0f, 1f);
        Tensor out = gpu.allocate(n, n);
        gpu.linear(out, x, wt, null);
        gpu.synchronize();
        long t = System.nanoTime();
        int reps = 10;
        for (int i = 0; i < reps; i++) gpu.linear(out, x, wt, null);
        gpu.synchronize();
        double s = (System.nanoTime() - t) / 1e9 / reps;
        double tf = 2.0 * n * n * n / s / 1e12;
        System.out.printf(Locale.ROOT, "bf16 GEMM 8192^3 through cuBLAS (FFM): %.0f TFLOP/s%n", tf);
        results.put("gemm_TFLOPs", tf);
        gpu.free(out);
        gpu.free(x);
        return tf;
    }

    private Tensor gpuCopy(Tensor weight) {
        Tensor t = gpu.allocate(weight.rows(), weight.cols());
        gpu.copyRows(t, 0, weight, 0, weight.rows());
        return t;
    }

    /**
     * One decoder layer's ops at decode time, each recorded 20 times in a CUDA graph and timed by replay (no launch
     * gaps), with a context of 650 tokens per sequence: where a step's time goes.
     */
    private void decodeParts(int batch) {
        Qwen3Config t = cfg.textConfig();
        int d = t.hiddenSize(), q = t.qWidth(), kv = t.kvWidth(), m = t.intermediateSize(), ctx = 650, bs = 16, bps = (ctx + bs) / bs;
        Tensor[] w = {gpu.randomWeight(q, d, 3, 0f, 0.02f), gpu.randomWeight(kv, d, 4, 0f, 0.02f), gpu.randomWeight(kv, d, 5, 0f, 0.02f),
                gpu.randomWeight(d, q, 6, 0f, 0.02f), gpu.randomWeight(m, d, 7, 0f, 0.02f), gpu.randomWeight(m, d, 8, 0f, 0.02f),
                gpu.randomWeight(d, m, 9, 0f, 0.02f), gpu.randomWeight(1, t.headDim(), 13, 1f, 0.1f), gpu.randomWeight(1, t.headDim(), 14, 1f, 0.1f),
                gpu.randomWeight(1, d, 15, 1f, 0.1f)};
        Tensor xd = gpu.allocate(batch, d), res = gpu.allocate(batch, d), oq = gpu.allocate(batch, q), ok = gpu.allocate(batch, kv), ov = gpu.allocate(batch, kv);
        Tensor attn = gpu.allocate(batch, q), od = gpu.allocate(batch, d), om = gpu.allocate(batch, m), up = gpu.allocate(batch, m);
        KvCache cache = gpu.allocateKvCache(new io.vqwen.engine.backend.KvCacheSpec(1, batch * bps, bs, t.numKeyValueHeads(), t.headDim()));
        int[] ids = new int[batch], pos = new int[batch], slots = new int[batch], qs = new int[batch + 1], lens = new int[batch], rows = new int[batch];
        int[][] tables = new int[batch][];
        for (int s = 0; s < batch; s++) {
            tables[s] = table(s, bps);
            pos[s] = ctx - 1;
            slots[s] = tables[s][(ctx - 1) / bs] * bs + (ctx - 1) % bs;
            qs[s] = s;
            lens[s] = ctx;
            rows[s] = s;
        }
        qs[batch] = batch;
        var step = gpu.prepare(new BatchLayout(ids, pos, slots, qs, lens, tables, rows));
        float eps = (float) t.rmsNormEps(), theta = (float) t.ropeTheta();
        double total = 0;
        System.out.printf(Locale.ROOT, "decoder layer at batch %d (context %d), each op recorded in a graph:%n", batch, ctx);
        total += part("q/k/v projections", 2L * d * (q + 2L * kv), () -> gpu.linears(xd, new Tensor[] {w[0], w[1], w[2]}, new Tensor[] {oq, ok, ov}));
        total += part("q/k norm + RoPE + KV write", 0, () -> gpu.qkNormRopeWriteKv(oq, ok, ov, w[7], w[8], eps, t.headDim(), theta, cache, 0, step));
        long kvBytes = 2L * batch * ctx * kv * 2;
        total += part("paged attention", kvBytes, () -> gpu.pagedAttention(attn, oq, cache, 0, step, t.numAttentionHeads(), t.numKeyValueHeads(), t.headDim()));
        total += part("o_proj", 2L * q * d, () -> gpu.linear(od, attn, w[3], null));
        total += part("residual add + RMSNorm", 0, () -> gpu.addRmsNorm(res, xd, od, w[9], eps));
        total += part("gate/up + SwiGLU", 4L * m * d, () -> gpu.gateUpSilu(om, up, xd, w[4], w[5]));
        total += part("down_proj", 2L * m * d, () -> gpu.linear(od, om, w[6], null));
        total += part("residual add + RMSNorm", 0, () -> gpu.addRmsNorm(res, xd, od, w[9], eps));
        System.out.printf(Locale.ROOT, "  one layer: %.1f us; x %d layers = %.2f ms%n", total * 1000, t.numHiddenLayers(), total * t.numHiddenLayers());
        Tensor logits = gpu.allocateLogits(batch, t.vocabSize());
        Tensor lm = gpu.randomWeight(t.vocabSize(), d, 10, 0f, 0.02f);
        part("lm_head (float32 logits)", 2L * t.vocabSize() * d, () -> gpu.linear(logits, xd, lm, null));
        results.put("decode_b" + batch + "_layer_us", total * 1000);
        cache.close();
        for (Tensor x : new Tensor[] {xd, res, oq, ok, ov, attn, od, om, up, logits}) gpu.free(x);
    }

    private double part(String what, long bytes, Runnable op) {
        double ms = gpu.timeRecorded(op, 20);
        if (bytes > 0) System.out.printf(Locale.ROOT, "  %-30s %8.1f us  %6.0f GB/s%n", what, ms * 1000, bytes / ms / 1e6);
        else System.out.printf(Locale.ROOT, "  %-30s %8.1f us%n", what, ms * 1000);
        return ms;
    }

    // ---- measurements ------------------------------------------------------------------------------------

    private float[][] images(int n) {
        ClipVisionConfig v = cfg.visionConfig();
        float[][] px = new float[n][v.numChannels() * v.imageSize() * v.imageSize()];
        for (float[] p : px) for (int i = 0; i < p.length; i++) p[i] = (float) (rnd.nextDouble() * 4 - 2);
        return px;
    }

    private Tensor embed(float[][] pixels) {
        Tensor f = vision.forward(pixels);
        Tensor e = projector.forward(f);
        gpu.free(f);
        return e;
    }

    private void vision(int batch, int reps) {
        float[][] px = images(batch);
        for (int i = 0; i < 2; i++) gpu.free(embed(px));
        gpu.synchronize();
        long t = System.nanoTime();
        for (int i = 0; i < reps; i++) gpu.free(embed(px));
        gpu.synchronize();
        double ms = (System.nanoTime() - t) / 1e6 / reps;
        System.out.printf(Locale.ROOT, "vision + projector, batch %d: %.2f ms per batch, %.0f images/s (host patchify + upload included)%n",
                batch, ms, batch * 1000 / ms);
        results.put("vision_b" + batch + "_images_s", batch * 1000 / ms);
        results.put("vision_b" + batch + "_ms", ms);
    }

    /** Where a batch of 32 images goes: the pixel upload, one layer's attention, one layer's MLP products. */
    private void visionParts() {
        ClipVisionConfig v = cfg.visionConfig();
        int batch = 32, n = v.numPositions(), d = v.hiddenSize(), rows = batch * n;
        float[][] px = images(batch);
        timeMs("upload 32 images + patchify on the device", 5, () -> gpu.free(gpu.uploadPatches(px, v.numChannels(), v.imageSize(), v.patchSize())));
        Tensor q = gpu.allocate(rows, d), k = gpu.allocate(rows, d), val = gpu.allocate(rows, d), o = gpu.allocate(rows, d);
        double flops = 4.0 * batch * v.numAttentionHeads() * n * (double) n * v.headDim();
        double ms = timeMs("attention, one layer, 32 images (flash, tensor cores)", 10,
                () -> gpu.attention(o, q, k, val, batch, n, v.numAttentionHeads(), v.headDim()));
        System.out.printf(Locale.ROOT, "    = %.0f TFLOP/s%n", flops / ms / 1e9);
        Tensor h = gpu.allocate(rows, v.intermediateSize());
        Tensor fc1 = gpu.randomWeight(v.intermediateSize(), d, 11, 0f, 0.02f), bias = gpu.randomWeight(1, v.intermediateSize(), 12, 0f, 0.02f);
        ms = timeMs("fc1 + bias, one layer, 32 images", 10, () -> gpu.linear(h, q, fc1, bias));
        System.out.printf(Locale.ROOT, "    = %.0f TFLOP/s%n", 2.0 * rows * d * v.intermediateSize() / ms / 1e9);
        timeMs("quick_gelu, one layer, 32 images", 10, () -> gpu.quickGelu(h));
        for (Tensor t : new Tensor[] {q, k, val, o, h}) gpu.free(t);
    }

    private double timeMs(String what, int reps, Runnable op) {
        op.run();
        gpu.synchronize();
        long t = System.nanoTime();
        for (int i = 0; i < reps; i++) op.run();
        gpu.synchronize();
        double ms = (System.nanoTime() - t) / 1e6 / reps;
        System.out.printf(Locale.ROOT, "  %-52s %8.2f ms%n", what, ms);
        return ms;
    }

    /** The baseline's prompt: 4 text tokens, the image's 576, then 12 more text tokens. */
    private int[] prompt() {
        int img = cfg.imageTokensPerImage();
        int[] ids = new int[TEXT_TOKENS + img];
        for (int i = 0; i < ids.length; i++) ids[i] = rnd.nextInt(150000);
        Arrays.fill(ids, 4, 4 + img, cfg.imageTokenIndex());
        return ids;
    }

    private static int[] imageRows(int[] ids, int token) {
        return java.util.stream.IntStream.range(0, ids.length).filter(i -> ids[i] == token).toArray();
    }

    private int[] table(int seq, int blocksPerSeq) {
        int[] t = new int[blocksPerSeq];
        for (int b = 0; b < blocksPerSeq; b++) t[b] = seq * blocksPerSeq + b;
        return t;
    }

    private int blocksPerSeq(int promptLen) {
        return (promptLen + newTokens + 15) / 16;
    }

    /** Image pixels on the host to the first token id on the host: vision, projector, prefill, argmax. */
    private void ttft() {
        int[] ids = prompt();
        int bps = blocksPerSeq(ids.length);
        KvCache cache = decoder.allocateKvCache(bps, 16);
        float[][] px = images(1);
        double[] ms = new double[7];
        for (int i = 0; i < ms.length; i++) {
            long t = System.nanoTime();
            Tensor emb = embed(px);
            Tensor logits = decoder.forward(BatchLayout.single(ids, 0, table(0, bps), 16, true), cache, emb, imageRows(ids, cfg.imageTokenIndex()));
            int first = gpu.argmax(logits)[0];
            ms[i] = (System.nanoTime() - t) / 1e6;
            if (first < 0) throw new IllegalStateException("no token");
            gpu.free(logits);
            gpu.free(emb);
        }
        double[] timed = Arrays.copyOfRange(ms, 2, ms.length);
        Arrays.sort(timed);
        double median = timed[timed.length / 2];
        System.out.printf(Locale.ROOT, "TTFT, 1 image + %d text tokens (%d prompt tokens): median %.1f ms of %s%n", TEXT_TOKENS, ids.length, median,
                Arrays.toString(Arrays.stream(timed).map(x -> Math.round(x * 10) / 10.0).toArray()));
        results.put("ttft_ms", median);
        cache.close();
    }

    /** B sequences prefilled with the prompt, then newTokens greedy steps decoded together (graph replays). */
    private void decode(int batch) {
        int[] ids = prompt();
        int bps = blocksPerSeq(ids.length);
        KvCache cache = decoder.allocateKvCache(batch * bps, 16);
        Tensor emb = embed(images(1));
        int[] last = new int[batch], len = new int[batch];
        int[][] tables = new int[batch][];
        for (int s = 0; s < batch; s++) {
            tables[s] = table(s, bps);
            Tensor logits = decoder.forward(BatchLayout.single(ids, 0, tables[s], 16, true), cache, emb, imageRows(ids, cfg.imageTokenIndex()));
            last[s] = gpu.argmax(logits)[0];
            gpu.free(logits);
            len[s] = ids.length;
        }
        gpu.free(emb);
        int steps = newTokens - 1; // the first token came from the prefill, as in the baseline's (n - 1) / (dt - ttft)
        long t = 0;
        for (int step = 0; step < steps + 1; step++) {
            if (step == 1) {
                gpu.synchronize();
                t = System.nanoTime(); // step 0 records the graph: not timed
            }
            int[] pos = new int[batch], slots = new int[batch], qs = new int[batch + 1], ctx = new int[batch], rows = new int[batch];
            for (int s = 0; s < batch; s++) {
                pos[s] = len[s];
                slots[s] = tables[s][len[s] / 16] * 16 + len[s] % 16;
                qs[s] = s;
                ctx[s] = len[s] + 1;
                rows[s] = s;
            }
            qs[batch] = batch;
            Tensor logits = decoder.forward(new BatchLayout(last.clone(), pos, slots, qs, ctx, tables, rows), cache, null, null);
            last = gpu.argmax(logits);
            gpu.free(logits);
            for (int s = 0; s < batch; s++) len[s]++;
        }
        double sec = (System.nanoTime() - t) / 1e9;
        double perSeq = steps / sec, agg = perSeq * batch;
        double msTok = sec * 1000 / steps;
        double gbs = decoderBytes / (msTok / 1000) / 1e9;
        System.out.printf(Locale.ROOT, "decode batch %d: %.2f ms per step, %.1f tokens/s per sequence, %.0f tokens/s aggregate; "
                + "%.2f GB of weights per step = %.0f GB/s%n", batch, msTok, perSeq, agg, decoderBytes / 1e9, gbs);
        results.put("decode_b" + batch + "_tok_s_per_seq", perSeq);
        results.put("decode_b" + batch + "_aggregate_tok_s", agg);
        results.put("decode_b" + batch + "_ms_per_step", msTok);
        cache.close();
    }

    /** {@code streams} requests submitted at once to the continuous-batching engine; wall time to the last token. */
    private void streams(int streams, Path tokenizerDir) throws IOException, InterruptedException {
        try {
            Class.forName("ai.djl.huggingface.tokenizers.HuggingFaceTokenizer");
        } catch (ClassNotFoundException e) {
            System.out.println(streams + "-stream DecoderEngine benchmark skipped: no tokenizer library in this bundle (bundle.sh --no-tokenizer)");
            return;
        }
        int[] ids = prompt();
        Tensor emb = embed(images(1));
        // The decoder gets them as decoder-service does: bf16, uploaded as they are.
        ImageEmbeddings embeddings = gpu.downloadEmbeddings(emb);
        gpu.free(emb);
        int bps = blocksPerSeq(ids.length);
        DecoderOptions opts = new DecoderOptions(streams, ids.length + newTokens + 16, streams * bps + 64, 16, 4096, streams * 2);
        try (Tokenizer tok = Tokenizer.load(tokenizerDir);
             DecoderEngine engine = new DecoderEngine(decoder, cfg.imageTokenIndex(), tok, GenerationConfig.load(tokenizerDir, cfg.textConfig()), opts)) {
            for (int round = 0; round < 2; round++) { // round 0 warms up (graph recording)
                CountDownLatch done = new CountDownLatch(streams);
                AtomicReference<Throwable> error = new AtomicReference<>();
                List<Completion> completions = java.util.Collections.synchronizedList(new ArrayList<>());
                DecodePhaseProbe probe = new DecodePhaseProbe(streams, () -> engine.stats().stepCount(), System::nanoTime);
                long t = System.nanoTime();
                for (int s = 0; s < streams; s++) {
                    GenerationRequest req = new GenerationRequest("bench-" + round + "-" + s, ids, embeddings, SamplingParams.greedy(), newTokens,
                            List.of(), false, 0, true);
                    engine.submit(req, new GenerationListener() {
                        private boolean first = true;

                        @Override
                        public void onDelta(TokenDelta delta) {
                            if (first) probe.firstToken();
                            first = false;
                        }

                        @Override
                        public void onFinish(Completion c) {
                            probe.finished();
                            completions.add(c);
                            done.countDown();
                        }

                        @Override
                        public void onError(Throwable e) {
                            probe.finished();
                            error.compareAndSet(null, e);
                            done.countDown();
                        }
                    });
                }
                if (!done.await(10, TimeUnit.MINUTES)) throw new IllegalStateException("streams did not finish in 10 minutes");
                if (error.get() != null) throw new IllegalStateException("a stream failed", error.get());
                double sec = (System.nanoTime() - t) / 1e9;
                int tokens = completions.stream().mapToInt(Completion::completionTokens).sum();
                double ttft = completions.stream().mapToDouble(c -> c.timings().ttftMs()).average().orElse(0);
                double tps = completions.stream().mapToDouble(c -> c.timings().tokensPerS()).average().orElse(0);
                if (round == 1) {
                    System.out.printf(Locale.ROOT, "%d concurrent streams through DecoderEngine: %d tokens in %.2f s = %.0f tokens/s aggregate; "
                            + "mean TTFT %.0f ms, mean decode %.1f tokens/s per stream%n", streams, tokens, sec, tokens / sec, ttft, tps);
                    results.put("streams" + streams + "_aggregate_tok_s", tokens / sec);
                    results.put("streams" + streams + "_mean_ttft_ms", ttft);
                    results.put("streams" + streams + "_per_stream_tok_s", tps);
                    double[] ttfts = completions.stream().mapToDouble(c -> c.timings().ttftMs()).sorted().toArray();
                    double[] rates = completions.stream().mapToDouble(c -> c.timings().tokensPerS()).sorted().toArray();
                    // unsuffixed copies: what scripts/gpu/record_results.py reads, whatever --streams was
                    results.put("streams_aggregate_tok_s", tokens / sec);
                    results.put("streams_ttft_ms_p50", nearestRank(ttfts, 50));
                    results.put("streams_ttft_ms_p99", nearestRank(ttfts, 99));
                    results.put("streams_per_stream_tok_s", nearestRank(rates, 50));
                    schedulerDecodePhase(streams, probe);
                }
            }
        }
    }

    /** The decode phase's step rate against the raw batch step rate measured by {@link #decode} in this run. */
    private void schedulerDecodePhase(int streams, DecodePhaseProbe probe) {
        double stepsPerS = probe.stepsPerSecond();
        results.put("scheduler_decode_steps", (double) probe.steps());
        results.put("scheduler_decode_steps_per_s", stepsPerS);
        Double rawMs = results.get("decode_b" + streams + "_ms_per_step");
        System.out.printf(Locale.ROOT, "scheduler decode phase (%d running, no prefill): %d steps at %.1f steps/s%s%n", streams, probe.steps(),
                stepsPerS, rawMs == null ? " (no raw batch-" + streams + " rate: add " + streams + " to --batches)"
                        : String.format(Locale.ROOT, " = %.3f of the raw batch-%d rate (%.1f steps/s)", stepsPerS * rawMs / 1000, streams, 1000 / rawMs));
        if (rawMs != null) results.put("scheduler_decode_vs_raw", stepsPerS * rawMs / 1000);
    }

    private static double nearestRank(double[] sorted, double q) {
        return sorted[Math.min(sorted.length - 1, Math.max(0, (int) Math.ceil(q / 100 * sorted.length) - 1))];
    }

    // ---- report ------------------------------------------------------------------------------------------

    private static Map<String, JsonNode> baseline(Path file) throws IOException {
        Map<String, JsonNode> out = new LinkedHashMap<>();
        if (!Files.isRegularFile(file)) return out;
        ObjectMapper json = new ObjectMapper();
        for (String line : Files.readAllLines(file)) {
            if (!line.startsWith("HF ")) continue;
            JsonNode n = json.readTree(line.substring(3));
            String what = n.path("what").asText("");
            if (what.equals("generate")) out.put("generate_b" + n.path("batch").asInt(), n);
            else if (what.equals("vision+projector")) out.put("vision_b" + n.path("batch").asInt(), n);
        }
        return out;
    }

    private String table(Map<String, JsonNode> hf, double copyGBs, double tflops) {
        Qwen3Config t = cfg.textConfig();
        ClipVisionConfig v = cfg.visionConfig();
        // Lower bounds: decode moves every decoder weight once per step; prefill and vision are matrix work.
        double stepFloorMs = decoderBytes / (copyGBs * 1e9) * 1000;
        int promptLen = TEXT_TOKENS + cfg.imageTokensPerImage();
        double decoderParams = decoderBytes / 2.0;
        double visionFlopsPerImage = 2.0 * v.numPositions() * (v.numHiddenLayers() - 1)
                * (4.0 * v.hiddenSize() * v.hiddenSize() + 2.0 * v.hiddenSize() * v.intermediateSize())
                + 4.0 * v.numPositions() * v.numPositions() * v.hiddenSize() * (v.numHiddenLayers() - 1);
        double prefillFlops = 2.0 * (decoderParams - (double) t.vocabSize() * t.hiddenSize()) * promptLen;
        double ttftFloorMs = (visionFlopsPerImage + prefillFlops) / (tflops * 1e12) * 1000;
        double visionFloor = tflops * 1e12 / visionFlopsPerImage;
        results.put("limit_ttft_ms", ttftFloorMs);
        results.put("limit_decode_tok_s_per_seq", 1000 / stepFloorMs);
        results.put("limit_decode_b64_tok_s", 64 * 1000 / stepFloorMs);
        results.put("limit_vision_images_s", visionFloor);

        StringBuilder sb = new StringBuilder();
        sb.append("GPU benchmark ").append(LocalDate.now()).append(", ").append(weights.revision()).append(" (").append(String.format(Locale.ROOT,
                "%.2f GB decoder weights, bf16); ceilings measured here: copy %.0f GB/s, bf16 GEMM %.0f TFLOP/s", decoderBytes / 1e9, copyGBs, tflops))
                .append("\n\n");
        sb.append("| measurement | vqwen (this run) | transformers baseline | vqwen / baseline | physical limit | vqwen / limit |\n");
        sb.append("| --- | --- | --- | --- | --- | --- |\n");
        Double ttft = results.get("ttft_ms");
        JsonNode hf1 = hf.get("generate_b1");
        row(sb, "TTFT, 1 image + 16 text tokens (ms, lower is better)", ttft, hf1 == null ? null : hf1.path("ttft_ms").asDouble(), ttftFloorMs, true);
        for (int b : new int[] {1, 8, 32, 64}) {
            Double per = results.get("decode_b" + b + "_tok_s_per_seq");
            if (per == null) continue;
            JsonNode h = hf.get("generate_b" + b);
            double limitPerSeq = 1000 / stepFloorMs;
            row(sb, "decode batch " + b + ", tokens/s per sequence", per, h == null ? null : h.path("decode_tok_s_per_seq").asDouble(), limitPerSeq, false);
            if (b > 1) {
                row(sb, "decode batch " + b + ", tokens/s aggregate", results.get("decode_b" + b + "_aggregate_tok_s"),
                        h == null ? null : h.path("decode_tok_s_per_seq").asDouble() * b, limitPerSeq * b, false);
            }
        }
        for (String k : results.keySet()) {
            if (k.startsWith("streams") && k.endsWith("_aggregate_tok_s")) {
                row(sb, k.substring(7, k.indexOf('_')) + " concurrent streams via DecoderEngine, tokens/s aggregate", results.get(k), null, null, false);
            }
        }
        for (int b : new int[] {1, 32}) {
            JsonNode h = hf.get("vision_b" + b);
            row(sb, "vision + projector, batch " + b + ", images/s", results.get("vision_b" + b + "_images_s"), h == null ? null : h.path("images_s").asDouble(),
                    visionFloor, false);
        }
        sb.append("\nLimits: decode = decoder weights / copy bandwidth (").append(String.format(Locale.ROOT, "%.2f ms a step", stepFloorMs))
                .append(", KV reads and compute ignored); TTFT and vision = matrix FLOPs / GEMM rate.\n");
        sb.append(String.format(Locale.ROOT, "Floors of issue 5: decode b1 >= 250 tok/s: %s; TTFT <= 51 ms: %s; vision b32 >= 830 images/s: %s%n",
                pass(results.get("decode_b1_tok_s_per_seq"), 250, false), pass(ttft, 51, true), pass(results.get("vision_b32_images_s"), 830, false)));
        return sb.toString();
    }

    private static String pass(Double v, double floor, boolean atMost) {
        if (v == null) return "not measured";
        boolean ok = atMost ? v <= floor : v >= floor;
        return (ok ? "PASS" : "FAIL") + String.format(Locale.ROOT, " (%.1f)", v);
    }

    private static void row(StringBuilder sb, String what, Double ours, Double base, Double limit, boolean lowerIsBetter) {
        sb.append("| ").append(what).append(" | ").append(fmt(ours)).append(" | ").append(fmt(base)).append(" | ");
        if (ours != null && base != null && base > 0) {
            double r = lowerIsBetter ? base / ours : ours / base;
            sb.append(String.format(Locale.ROOT, "%.1fx%s", r, lowerIsBetter ? " faster" : ""));
        } else {
            sb.append("-");
        }
        sb.append(" | ").append(fmt(limit)).append(" | ");
        if (ours != null && limit != null && limit > 0) sb.append(String.format(Locale.ROOT, "%.0f%%", 100 * (lowerIsBetter ? limit / ours : ours / limit)));
        else sb.append("-");
        sb.append(" |\n");
    }

    private static String fmt(Double v) {
        if (v == null) return "-";
        return v >= 100 ? String.format(Locale.ROOT, "%.0f", v) : String.format(Locale.ROOT, "%.1f", v);
    }
}
