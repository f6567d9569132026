package io.vqwen.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vqwen.engine.LlavaEngine;
import io.vqwen.engine.backend.Backend;
import io.vqwen.engine.backend.Backends;
import io.vqwen.engine.generate.DecoderOptions;
import io.vqwen.engine.generate.GenerationParams;
import io.vqwen.engine.generate.SamplingParams;
import io.vqwen.engine.generate.TokenLogprob;
import io.vqwen.engine.generate.TopLogprob;
import io.vqwen.engine.model.ModelSources;
import io.vqwen.engine.model.WeightSource;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code ./vqwen caption}: one request through the whole model in this process, streamed to stdout. */
@Command(name = "caption", mixinStandardHelpOptions = true,
        description = "Answer a prompt about an image (or text only) with the model in this process.")
public final class CaptionCommand implements Callable<Integer> {
    @Option(names = "--model", description = "Model directory or Hub id org/name[@rev] (default: the bundled tiny model).")
    String model;

    @Option(names = "--image", description = "Image file (JPEG, PNG, GIF, BMP, WebP). Without it the request is text-only.")
    Path image;

    @Option(names = "--prompt", defaultValue = "Describe this image in detail.", description = "The question (default: ${DEFAULT-VALUE}).")
    String prompt;

    @Option(names = "--max-tokens", defaultValue = "64", description = "Maximum new tokens (default: ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--temperature", defaultValue = "0", description = "0 = greedy (default).")
    float temperature;

    @Option(names = "--top-p", defaultValue = "1")
    float topP;

    @Option(names = "--top-k", defaultValue = "0")
    int topK;

    @Option(names = "--min-p", defaultValue = "0")
    float minP;

    @Option(names = "--repetition-penalty", defaultValue = "1")
    float repetitionPenalty;

    @Option(names = "--seed", description = "Seed of the sampler.")
    Long seed;

    @Option(names = "--stop", description = "Stop string (repeatable).")
    List<String> stop = new ArrayList<>();

    @Option(names = "--json", description = "Print one JSON object with text, ids, logprobs and timings.")
    boolean json;

    @Option(names = "--top-logprobs", defaultValue = "0", description = "With --json: alternatives per token (0-20).")
    int topLogprobs;

    @Option(names = "--backend", defaultValue = "cpu", description = "cpu or cuda (default: ${DEFAULT-VALUE}).")
    String backend;

    @Option(names = "--device", defaultValue = "0", description = "GPU index for --backend cuda.")
    int device;

    @Option(names = "--max-pixels", defaultValue = "40000000", description = "Refuse larger images before decoding them.")
    long maxPixels;

    @Override
    public Integer call() throws Exception {
        if (maxTokens <= 0) throw new IllegalArgumentException("--max-tokens must be > 0, got " + maxTokens);
        List<byte[]> images = new ArrayList<>();
        List<Object> content = new ArrayList<>();
        if (image != null) {
            try {
                images.add(Files.readAllBytes(image));
            } catch (NoSuchFileException e) {
                throw new IllegalArgumentException("image file not found: " + image);
            }
            content.add(Map.of("type", "image"));
        }
        content.add(Map.of("type", "text", "text", prompt));
        List<Object> messages = List.of(Map.of("role", "user", "content", content));

        String modelSpec = model != null ? model : defaultModel().toString();
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        try (WeightSource weights = ModelSources.open(modelSpec, ModelSources.ALL_PARTS);
             Backend b = Backends.create(backend, device)) {
            Path dir = ModelSources.directoryOf(modelSpec);
            int maxLen = Math.min(weights.config().textConfig().maxPositionEmbeddings(), 8192);
            DecoderOptions opts = new DecoderOptions(1, maxLen, (maxLen + 15) / 16, 16, 2048, 1);
            try (LlavaEngine engine = new LlavaEngine(weights, dir, b, opts, maxPixels)) {
                SamplingParams sampling = new SamplingParams(temperature, topP, topK, minP, repetitionPenalty, seed);
                var params = new GenerationParams(sampling, stop, json, json ? topLogprobs : 0, false);
                LlavaEngine.Result r = engine.generate(messages, Map.of(), images, maxTokens, params, json ? null : out::print);
                if (json) out.println(toJson(r));
                else out.println();
            }
        }
        return 0;
    }

    static Path defaultModel() {
        String home = System.getProperty("vqwen.home", ".");
        return Path.of(home).resolve("testdata/tiny-llava").toAbsolutePath().normalize();
    }

    private String toJson(LlavaEngine.Result r) throws Exception {
        ObjectMapper m = new ObjectMapper();
        ObjectNode o = m.createObjectNode();
        o.put("text", r.text());
        ArrayNode ids = o.putArray("token_ids");
        for (int id : r.tokenIds()) ids.add(id);
        o.put("prompt_tokens", r.promptTokens());
        o.put("completion_tokens", r.tokenIds().length);
        o.put("finish_reason", r.finishReason());
        ArrayNode lps = o.putArray("logprobs");
        ArrayNode tops = topLogprobs > 0 ? o.putArray("top_logprobs") : null;
        for (TokenLogprob lp : r.logprobs()) {
            lps.add(lp.logprob());
            if (tops != null) {
                ArrayNode alts = tops.addArray();
                for (TopLogprob t : lp.top()) alts.addObject().put("token_id", t.tokenId()).put("token", t.token()).put("logprob", t.logprob());
            }
        }
        var c = r.completion().timings();
        ObjectNode t = o.putObject("timings");
        t.put("encode_ms", r.encodeMs());
        t.put("prefill_ms", c.prefillMs());
        t.put("decode_ms", c.decodeMs());
        t.put("ttft_ms", r.encodeMs() + c.ttftMs());
        t.put("tokens_per_s", c.tokensPerS());
        return m.writeValueAsString(o);
    }
}
