package io.vqwen.cli;

import io.vqwen.engine.config.GenerationConfig;
import io.vqwen.engine.cpu.CpuBackend;
import io.vqwen.engine.generate.Collector;
import io.vqwen.engine.generate.Completion;
import io.vqwen.engine.generate.DecoderEngine;
import io.vqwen.engine.generate.DecoderOptions;
import io.vqwen.engine.generate.GenerationRequest;
import io.vqwen.engine.generate.SamplingParams;
import io.vqwen.engine.model.Checkpoint;
import io.vqwen.engine.model.ModelSources;
import io.vqwen.engine.text.Tokenizer;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.stream.IntStream;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./vqwen bench-cpu}: prefill and batch-1 decode tokens/s of the CPU engine, beside the machine's measured
 * memory read bandwidth and the decode ceiling it implies (every weight read once per token).
 */
@Command(name = "bench-cpu", mixinStandardHelpOptions = true, description = "CPU engine benchmark: prefill and decode tokens/s against memory bandwidth.")
public final class BenchCpuCommand implements Callable<Integer> {
    @Option(names = "--model", description = "Model directory (default: the bundled tiny model).")
    String model;

    @Option(names = "--prompt-tokens", defaultValue = "128")
    int promptTokens;

    @Option(names = "--new-tokens", defaultValue = "32")
    int newTokens;

    @Option(names = "--repeats", defaultValue = "3")
    int repeats;

    @Override
    public Integer call() throws Exception {
        String spec = model != null ? model : CaptionCommand.defaultModel().toString();
        Path dir = ModelSources.directoryOf(spec);
        double bandwidth = readBandwidthGBs();
        try (Checkpoint ckpt = Checkpoint.open(dir, java.util.EnumSet.of(Checkpoint.Part.TEXT));
             CpuBackend backend = new CpuBackend();
             Tokenizer tok = Tokenizer.load(dir)) {
            long weightBytes = 0;
            for (String k : ckpt.keys()) weightBytes += ckpt.view(k).data().byteSize();
            long embedBytes = ckpt.view("text.embed_tokens.weight").data().byteSize();
            // Per decode token: every layer weight once, lm_head (the tied embedding) once, one embedding row.
            long perToken = ckpt.has("lm_head.weight") ? weightBytes - embedBytes : weightBytes;
            DecoderOptions opts = new DecoderOptions(1, promptTokens + newTokens + 16, (promptTokens + newTokens + 16) / 16 + 2, 16, promptTokens, 4);
            try (DecoderEngine engine = new DecoderEngine(ckpt, backend, tok, GenerationConfig.load(dir, ckpt.config().textConfig()), opts)) {
                int[] prompt = new SplittableRandom(1).ints(promptTokens, 1000, 100000).toArray();
                run(engine, prompt, 2); // warm-up: JIT and page cache
                double bestPrefill = 0, bestDecode = 0;
                for (int r = 0; r < repeats; r++) {
                    Completion c = run(engine, prompt, newTokens);
                    bestPrefill = Math.max(bestPrefill, promptTokens / (c.timings().prefillMs() / 1000));
                    bestDecode = Math.max(bestDecode, c.timings().tokensPerS());
                }
                double limit = bandwidth * 1e9 / perToken;
                System.out.printf("%nvqwen CPU benchmark: %s, %d threads, %d prompt + %d new tokens, best of %d%n",
                        dir.getFileName(), Runtime.getRuntime().availableProcessors(), promptTokens, newTokens, repeats);
                System.out.println("| what | ours | limit | ours / limit |");
                System.out.println("| --- | --- | --- | --- |");
                System.out.printf("| memory read bandwidth (measured, Vector API sum) | %.1f GB/s | | |%n", bandwidth);
                System.out.printf("| decoder bytes per decode token (bf16 weights + lm_head) | %.3f GB | | |%n", perToken / 1e9);
                System.out.printf("| prefill | %.1f tokens/s | | |%n", bestPrefill);
                System.out.printf("| decode, batch 1 | %.2f tokens/s | %.2f tokens/s | %.0f%% |%n", bestDecode, limit, 100 * bestDecode / limit);
            }
        }
        return 0;
    }

    private static Completion run(DecoderEngine engine, int[] prompt, int n) throws Exception {
        Collector collector = new Collector();
        engine.submit(new GenerationRequest("bench", prompt, null, SamplingParams.greedy(), n, List.of(), false, 0, true), collector);
        return collector.result().get().completion();
    }

    /** Sums 1 GiB of floats on every core: the rate decode can at best stream weights at. */
    static double readBandwidthGBs() {
        int threads = Runtime.getRuntime().availableProcessors();
        int per = (1 << 28) / threads;
        float[][] data = new float[threads][per];
        for (float[] d : data) java.util.Arrays.fill(d, 1f);
        double best = 0;
        for (int rep = 0; rep < 5; rep++) {
            long t0 = System.nanoTime();
            double s = IntStream.range(0, threads).parallel().mapToDouble(i -> sum(data[i])).sum();
            double sec = (System.nanoTime() - t0) / 1e9;
            if (s < 0) System.out.print("");
            best = Math.max(best, (double) threads * per * 4 / sec / 1e9);
        }
        return best;
    }

    private static double sum(float[] a) {
        var sp = FloatVector.SPECIES_PREFERRED;
        FloatVector acc = FloatVector.zero(sp);
        int i = 0;
        for (; i < sp.loopBound(a.length); i += sp.length()) acc = acc.add(FloatVector.fromArray(sp, a, i));
        return acc.reduceLanes(VectorOperators.ADD);
    }
}
