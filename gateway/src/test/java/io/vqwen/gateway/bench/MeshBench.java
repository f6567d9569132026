package io.vqwen.gateway.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vqwen.engine.config.GenerationConfig;
import io.vqwen.engine.config.LlavaConfig;
import io.vqwen.engine.cpu.CpuBackend;
import io.vqwen.engine.generate.Completion;
import io.vqwen.engine.generate.DecoderEngine;
import io.vqwen.engine.generate.DecoderOptions;
import io.vqwen.engine.generate.GenerationListener;
import io.vqwen.engine.generate.GenerationRequest;
import io.vqwen.engine.generate.SamplingParams;
import io.vqwen.engine.generate.TokenDelta;
import io.vqwen.engine.model.Checkpoint;
import io.vqwen.engine.model.ModelSources;
import io.vqwen.engine.model.WeightSource;
import io.vqwen.engine.template.ChatTemplate;
import io.vqwen.engine.text.PromptBuilder;
import io.vqwen.engine.text.Tokenizer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Benchmark of the mesh on the CPU (not a test; scripts/bench-mesh.sh starts the mesh and runs it):
 * <ul>
 *   <li>tokens/s and p50/p99 TTFT at 1, 8 and 32 concurrent SSE streams through the gateway, for the text prompt and
 *   for the image prompt with its embeddings cached;</li>
 *   <li>the per-token overhead of gateway + gRPC + SSE: one stream's inter-token interval as the HTTP client sees it,
 *   against the same request submitted to an in-process {@link DecoderEngine} (same weights, same CPU backend),
 *   timed at its listener.</li>
 * </ul>
 * <p>Both paths run on the same 2-core machine as everything else, so wall-clock inter-token time is noisy; the
 * overhead is therefore measured twice: as interleaved direct/mesh pairs (median of the paired differences), and as
 * CPU time per generated token of each process (the decoder-service's and the gateway's from /proc, the direct
 * engine's from this JVM), which contention inflates far less than wall time.
 *
 * <p>Usage: MeshBench GATEWAY_URL MODEL_DIR OUT_MARKDOWN [tokens=128] [rounds=3] [decoder PID] [gateway PID]
 */
public final class MeshBench {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** One request's client-side timing. */
    record Sample(double ttftMs, double e2eMs, int tokens, double itlMs) {
    }

    /** One concurrency level. */
    record Level(String workload, int concurrency, int requests, double wallS, int tokens, double p50Ttft, double p99Ttft,
                 double meanItl) {
        double tokensPerS() {
            return tokens / wallS;
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: MeshBench GATEWAY_URL MODEL_DIR OUT_MARKDOWN [tokens=128] [rounds=3]");
            System.exit(2);
        }
        URI gateway = URI.create(args[0]);
        Path modelDir = Path.of(args[1]);
        Path out = Path.of(args[2]);
        int tokens = args.length > 3 ? Integer.parseInt(args[3]) : 128;
        int rounds = args.length > 4 ? Integer.parseInt(args[4]) : 3;
        long decoderPid = args.length > 5 ? Long.parseLong(args[5]) : -1;
        long gatewayPid = args.length > 6 ? Long.parseLong(args[6]) : -1;
        String loadBefore = loadAverage();
        String textPrompt = "Write one sentence about the sea.";
        String imageUrl = "data:image/png;base64," + Base64.getEncoder().encodeToString(Files.readAllBytes(modelDir.resolve("image.png")));

        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        ObjectNode text = request(textPrompt, null, tokens);
        ObjectNode image = request("Describe this image in detail.", imageUrl, tokens);
        stream(http, gateway, text); // warm-up: JIT, connections
        Sample cold = stream(http, gateway, image); // first sight of the image: vision + projector run

        // 1. One stream: the engine in this JVM and the mesh, interleaved so that both see the same machine load.
        System.err.println("one stream, direct engine vs mesh ...");
        Overhead overhead = overhead(modelDir, textPrompt, tokens, Math.max(8, rounds * 3), http, gateway, decoderPid, gatewayPid);

        // 3. Concurrency sweep.
        List<Level> levels = new ArrayList<>();
        for (String workload : List.of("text", "image (cached)")) {
            for (int c : new int[] {1, 8, 32}) {
                System.err.println(workload + " x" + c + " ...");
                levels.add(level(http, gateway, workload, workload.equals("text") ? text : image, c, Math.max(c * rounds, 4)));
            }
        }

        String md = report(tokens, overhead, cold, levels, loadBefore, loadAverage());
        Files.writeString(out, md);
        System.out.println(md);
    }

    private static ObjectNode request(String prompt, String imageUrl, int tokens) {
        ObjectNode r = JSON.createObjectNode();
        ObjectNode m = r.putArray("messages").addObject().put("role", "user");
        if (imageUrl == null) {
            m.put("content", prompt);
        } else {
            ArrayNode parts = m.putArray("content");
            parts.addObject().put("type", "image_url").putObject("image_url").put("url", imageUrl);
            parts.addObject().put("type", "text").put("text", prompt);
        }
        r.put("max_tokens", tokens);
        r.put("temperature", 0);
        r.put("ignore_eos", true); // every request generates exactly `tokens`
        r.put("stream", true);
        r.putObject("stream_options").put("include_usage", true);
        return r;
    }

    // ------------------------------------------------------------------ through the gateway

    static Sample stream(HttpClient http, URI gateway, ObjectNode body) throws IOException, InterruptedException {
        HttpRequest req = HttpRequest.newBuilder(gateway.resolve("/v1/chat/completions")).timeout(Duration.ofMinutes(10))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body.toString())).build();
        long t0 = System.nanoTime();
        HttpResponse<InputStream> resp = http.send(req, HttpResponse.BodyHandlers.ofInputStream());
        if (resp.statusCode() != 200) {
            throw new IOException("HTTP " + resp.statusCode() + ": " + new String(resp.body().readAllBytes(), StandardCharsets.UTF_8));
        }
        long first = 0, last = 0;
        int tokens = 0;
        try (BufferedReader in = new BufferedReader(new InputStreamReader(resp.body(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null) {
                if (!line.startsWith("data: {")) continue;
                JsonNode c = JSON.readTree(line.substring(6));
                if (c.has("error")) throw new IOException("error event: " + c.get("error"));
                JsonNode content = c.at("/choices/0/delta/content");
                if (content.isTextual() && !content.asText().isEmpty()) {
                    long now = System.nanoTime();
                    if (first == 0) first = now;
                    last = now;
                }
                if (c.hasNonNull("usage")) tokens = c.at("/usage/completion_tokens").asInt();
            }
        }
        long end = System.nanoTime();
        return new Sample((first - t0) / 1e6, (end - t0) / 1e6, tokens, tokens > 1 ? (last - first) / 1e6 / (tokens - 1) : 0);
    }

    static Level level(HttpClient http, URI gateway, String workload, ObjectNode body, int concurrency, int requests) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(concurrency);
        try {
            List<Future<Sample>> futures = new ArrayList<>();
            long t0 = System.nanoTime();
            for (int i = 0; i < requests; i++) futures.add(pool.submit(() -> stream(http, gateway, body)));
            List<Sample> samples = new ArrayList<>();
            for (Future<Sample> f : futures) samples.add(f.get());
            double wall = (System.nanoTime() - t0) / 1e9;
            int tokens = samples.stream().mapToInt(Sample::tokens).sum();
            List<Double> ttft = samples.stream().map(Sample::ttftMs).sorted().toList();
            double itl = samples.stream().mapToDouble(Sample::itlMs).average().orElse(0);
            return new Level(workload, concurrency, requests, wall, tokens, percentile(ttft, 50), percentile(ttft, 99), itl);
        } finally {
            pool.shutdownNow();
        }
    }

    // ------------------------------------------------------------------ the engine alone vs the mesh

    /** Paired single-stream runs and the CPU each path spent per generated token. */
    record Overhead(List<Sample> direct, List<Sample> mesh, double directCpuMsPerToken, double decoderCpuMsPerToken,
                    double gatewayCpuMsPerToken) {
    }

    static Overhead overhead(Path modelDir, String prompt, int tokens, int pairs, HttpClient http, URI gateway, long decoderPid,
                             long gatewayPid) throws Exception {
        List<Sample> direct = new ArrayList<>(), mesh = new ArrayList<>();
        long directCpu = 0, decoderCpu = 0, gatewayCpu = 0, directTokens = 0, meshTokens = 0;
        var os = (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        ObjectNode body = request(prompt, null, tokens);
        try (WeightSource w = ModelSources.open(modelDir.toString(), EnumSet.of(Checkpoint.Part.TEXT));
             Tokenizer tok = Tokenizer.load(modelDir)) {
            LlavaConfig cfg = w.config();
            int[] ids = new PromptBuilder(ChatTemplate.load(modelDir), tok, cfg)
                    .build(List.of(Map.of("role", "user", "content", prompt)), Map.of()).ids();
            int maxLen = Math.min(cfg.textConfig().maxPositionEmbeddings(), 8192);
            try (DecoderEngine engine = new DecoderEngine(w, new CpuBackend(), tok, GenerationConfig.load(modelDir, cfg.textConfig()),
                    DecoderOptions.defaults(maxLen))) {
                for (int i = 0; i < 3; i++) directOne(engine, ids, tokens, -1 - i); // warm the JIT as the service's warm-up did
                for (int i = 0; i < pairs; i++) {
                    long c0 = os.getProcessCpuTime();
                    Sample d = directOne(engine, ids, tokens, i);
                    directCpu += os.getProcessCpuTime() - c0;
                    directTokens += d.tokens();
                    direct.add(d);

                    long dec0 = cpuNanos(decoderPid), gw0 = cpuNanos(gatewayPid);
                    Sample m = stream(http, gateway, body);
                    decoderCpu += cpuNanos(decoderPid) - dec0;
                    gatewayCpu += cpuNanos(gatewayPid) - gw0;
                    meshTokens += m.tokens();
                    mesh.add(m);
                }
            }
        }
        return new Overhead(direct, mesh, directCpu / 1e6 / directTokens,
                decoderPid > 0 ? decoderCpu / 1e6 / meshTokens : Double.NaN, gatewayPid > 0 ? gatewayCpu / 1e6 / meshTokens : Double.NaN);
    }

    /** utime + stime of a process from /proc/PID/stat, in nanoseconds (clock ticks of 10 ms), or 0. */
    static long cpuNanos(long pid) {
        if (pid <= 0) return 0;
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return (Long.parseLong(f[11]) + Long.parseLong(f[12])) * 10_000_000L; // fields 14 and 15, USER_HZ = 100
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).split(" ");
            return f[0] + " / " + f[1] + " / " + f[2];
        } catch (IOException e) {
            return "unknown";
        }
    }

    private static Sample directOne(DecoderEngine engine, int[] ids, int tokens, int i) throws Exception {
        CompletableFuture<Sample> done = new CompletableFuture<>();
        long t0 = System.nanoTime();
        long[] firstLast = new long[2];
        engine.submit(new GenerationRequest("bench-" + i, ids, null, SamplingParams.greedy(), tokens, List.of(), false, 0, true),
                new GenerationListener() {
                    @Override
                    public void onDelta(TokenDelta d) {
                        long now = System.nanoTime();
                        if (firstLast[0] == 0) firstLast[0] = now;
                        firstLast[1] = now;
                    }

                    @Override
                    public void onFinish(Completion c) {
                        int n = c.completionTokens();
                        done.complete(new Sample((firstLast[0] - t0) / 1e6, (System.nanoTime() - t0) / 1e6, n,
                                n > 1 ? (firstLast[1] - firstLast[0]) / 1e6 / (n - 1) : 0));
                    }

                    @Override
                    public void onError(Throwable t) {
                        done.completeExceptionally(t);
                    }
                });
        return done.get(10, TimeUnit.MINUTES);
    }

    // ------------------------------------------------------------------ report

    static double percentile(List<Double> sorted, double p) {
        if (sorted.isEmpty()) return Double.NaN;
        int idx = (int) Math.ceil(p / 100.0 * sorted.size()) - 1;
        return sorted.get(Math.max(0, Math.min(sorted.size() - 1, idx)));
    }

    private static double median(List<Sample> s, java.util.function.ToDoubleFunction<Sample> f) {
        List<Double> v = new ArrayList<>(s.stream().map(f::applyAsDouble).toList());
        Collections.sort(v);
        return percentile(v, 50);
    }

    static String report(int tokens, Overhead o, Sample cold, List<Level> levels, String loadBefore, String loadAfter) {
        StringBuilder b = new StringBuilder();
        b.append("# Mesh benchmark on the CPU (tiny-llava)\n\n");
        b.append(String.format(Locale.ROOT, "Date: %s. Machine: %s, %d CPUs visible to the JVM, shared with other work while it ran "
                + "(load average 1/5/15 min: %s at the start, %s at the end); Java %s. Four processes on loopback (vision, "
                + "projector, decoder, gateway), CPU backend, default service settings; produced by `scripts/bench-mesh.sh` "
                + "(`io.vqwen.gateway.bench.MeshBench`).\n\n",
                LocalDate.now(), cpuModel(), Runtime.getRuntime().availableProcessors(), loadBefore, loadAfter,
                System.getProperty("java.version")));
        b.append(String.format(Locale.ROOT, "Every request is greedy with `ignore_eos`, so it generates exactly %d tokens. "
                + "TTFT is measured by the HTTP client, from sending the request to the first content chunk; tokens/s is "
                + "all generated tokens over the wall time of the level; inter-token is per stream.\n\n", tokens));

        b.append("## Throughput and time to first token through the gateway (SSE)\n\n");
        b.append("| workload | concurrent streams | requests | tokens/s | TTFT p50 (ms) | TTFT p99 (ms) | inter-token (ms) |\n");
        b.append("|---|---:|---:|---:|---:|---:|---:|\n");
        for (Level l : levels) {
            b.append(String.format(Locale.ROOT, "| %s | %d | %d | %.1f | %.1f | %.1f | %.2f |\n", l.workload(), l.concurrency(),
                    l.requests(), l.tokensPerS(), l.p50Ttft(), l.p99Ttft(), l.meanItl()));
        }
        b.append(String.format(Locale.ROOT, "\nThe text prompt is 15 tokens; the image prompt is 591 tokens (576 image tokens), "
                + "so its TTFT is mostly prefill, and its embeddings come from the gateway's cache. The first image request of "
                + "the run, which went through vision + projector, had a TTFT of %.1f ms.\n\n", cold.ttftMs()));

        List<Double> diffs = new ArrayList<>();
        for (int i = 0; i < o.direct().size(); i++) diffs.add(o.mesh().get(i).itlMs() - o.direct().get(i).itlMs());
        Collections.sort(diffs);
        double dItl = median(o.direct(), Sample::itlMs), mItl = median(o.mesh(), Sample::itlMs);
        double dTtft = median(o.direct(), Sample::ttftMs), mTtft = median(o.mesh(), Sample::ttftMs);
        b.append("## Overhead of gateway + gRPC + SSE, per token\n\n");
        b.append(String.format(Locale.ROOT, "One stream of the text prompt, %d interleaved pairs: the same request to a `DecoderEngine` "
                + "in the benchmark's JVM (same weights, CPU backend, options as the service's defaults), timed at its listener, "
                + "then through the gateway, timed by the HTTP client. Medians. CPU is each process's total (all threads, so "
                + "GC and JIT included) over the runs, divided by the tokens generated.\n\n", o.direct().size()));
        b.append("| path | TTFT (ms) | inter-token (ms) | tokens/s of one stream | CPU per token (ms) |\n|---|---:|---:|---:|---:|\n");
        b.append(String.format(Locale.ROOT, "| DecoderEngine in process | %.2f | %.3f | %.1f | %.3f |\n", dTtft, dItl, 1000.0 / dItl,
                o.directCpuMsPerToken()));
        b.append(String.format(Locale.ROOT, "| gateway -> gRPC -> decoder-service -> SSE | %.2f | %.3f | %.1f | %.3f decoder-service + %.3f gateway |\n",
                mTtft, mItl, 1000.0 / mItl, o.decoderCpuMsPerToken(), o.gatewayCpuMsPerToken()));
        double cpuOverhead = o.decoderCpuMsPerToken() + o.gatewayCpuMsPerToken() - o.directCpuMsPerToken();
        b.append(String.format(Locale.ROOT, "\n- Wall clock: the paired inter-token difference (mesh - direct) has median %+.3f ms "
                + "(quartiles %+.3f / %+.3f ms); the first token costs %+.2f ms more through the mesh (HTTP parsing, chat template "
                + "and tokenizer in the gateway, a gRPC round trip).\n", percentile(diffs, 50), percentile(diffs, 25),
                percentile(diffs, 75), mTtft - dTtft));
        b.append(String.format(Locale.ROOT, "- CPU: the mesh spends %.3f ms of CPU per generated token against the engine's %.3f ms: "
                + "%+.3f ms per token for gRPC framing on both sides, the chunk JSON and SSE writing (%.0f%% of the engine's own "
                + "cost on this tiny model, whose decode step is only a few milliseconds).\n",
                o.decoderCpuMsPerToken() + o.gatewayCpuMsPerToken(), o.directCpuMsPerToken(), cpuOverhead,
                100 * cpuOverhead / o.directCpuMsPerToken()));
        b.append(String.format(Locale.ROOT, "- This is a fixed cost per token, about %.1f ms of CPU, that does not grow with the "
                + "model: the tiny model's decode step is only ~%.1f ms, so here it is a large fraction, while a 4B decode step on "
                + "the CPU takes about 1 s (docs/perf-cpu.md), where it would be about %.1f%%. The gateway runs in its own process, so "
                + "on free cores most of its share overlaps the decoder's next step instead of adding to it.\n",
                cpuOverhead, dItl, cpuOverhead / 10));
        return b.toString();
    }

    private static String cpuModel() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) return line.substring(line.indexOf(':') + 1).trim();
            }
        } catch (IOException ignored) {
            // not Linux: leave it out
        }
        return System.getProperty("os.arch");
    }
}
