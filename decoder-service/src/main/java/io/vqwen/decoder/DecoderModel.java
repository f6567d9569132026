package io.vqwen.decoder;

import io.grpc.Status;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.grpc.GrpcClient;
import io.vqwen.engine.backend.Backend;
import io.vqwen.engine.config.GenerationConfig;
import io.vqwen.engine.config.Qwen3Config;
import io.vqwen.engine.generate.Collector;
import io.vqwen.engine.generate.Completion;
import io.vqwen.engine.generate.DecoderEngine;
import io.vqwen.engine.generate.DecoderOptions;
import io.vqwen.engine.generate.EngineStats;
import io.vqwen.engine.generate.GenerationRequest;
import io.vqwen.engine.model.Checkpoint;
import io.vqwen.engine.model.WeightSource;
import io.vqwen.engine.text.Tokenizer;
import io.vqwen.proto.v1.InfoRequest;
import io.vqwen.proto.v1.InfoResponse;
import io.vqwen.proto.v1.ProjectorServiceGrpc;
import io.vqwen.service.EngineSettings;
import io.vqwen.service.PeerCheck;
import io.vqwen.service.ServedModel;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/** The Qwen3 decoder: its own step thread (continuous batching) inside {@link DecoderEngine}. */
@ApplicationScoped
public class DecoderModel implements ServedModel {
    private static final Logger LOG = Logger.getLogger(DecoderModel.class);

    @Inject
    EngineSettings settings;

    @Inject
    MeterRegistry registry;

    @GrpcClient("projector")
    ProjectorServiceGrpc.ProjectorServiceBlockingStub projector;

    @ConfigProperty(name = "vqwen.decoder.max-running", defaultValue = "64")
    int maxRunning;

    /** 0: min(max_position_embeddings, 8192). */
    @ConfigProperty(name = "vqwen.decoder.max-model-len", defaultValue = "0")
    int maxModelLen;

    /** 0: sized by {@link KvCacheSizing}. */
    @ConfigProperty(name = "vqwen.decoder.kv-cache-blocks", defaultValue = "0")
    int kvCacheBlocks;

    /** Share of the memory that holds the KV cache (the JVM heap on the CPU, the device on CUDA) it may take. */
    @ConfigProperty(name = "vqwen.decoder.kv-cache-fraction", defaultValue = "0.3")
    double kvCacheFraction;

    @ConfigProperty(name = "vqwen.decoder.block-size", defaultValue = "16")
    int blockSize;

    /** 0: by backend, see {@link #prefillBudget}. */
    @ConfigProperty(name = "vqwen.decoder.prefill-token-budget", defaultValue = "0")
    int prefillTokenBudget;

    @ConfigProperty(name = "vqwen.decoder.max-waiting", defaultValue = "256")
    int maxWaiting;

    private volatile DecoderEngine engine;
    private WeightSource weights;
    private Backend backend;
    private Tokenizer tokenizer;
    private volatile InfoResponse info;

    @Override
    public String component() {
        return "decoder";
    }

    @Override
    public String load() throws Exception {
        backend = settings.createBackend();
        weights = settings.openWeights(EnumSet.of(Checkpoint.Part.TEXT));
        Path dir = settings.modelDir();
        tokenizer = Tokenizer.load(dir);
        Qwen3Config text = weights.config().textConfig();
        GenerationConfig generation = GenerationConfig.load(dir, text);
        int len = maxModelLen > 0 ? maxModelLen : Math.min(text.maxPositionEmbeddings(), 8192);
        if (len > text.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("vqwen.decoder.max-model-len " + len + " exceeds the model's max_position_embeddings "
                    + text.maxPositionEmbeddings());
        }
        int blocks = KvCacheSizing.blocks(kvCacheBlocks, kvCacheFraction, text, backend, maxRunning, len, blockSize);
        DecoderOptions options = new DecoderOptions(maxRunning, len, blocks, blockSize,
                prefillBudget(prefillTokenBudget, backend.name()), maxWaiting);
        DecoderEngine e = new DecoderEngine(weights, backend, tokenizer, generation, options);
        info = InfoResponse.newBuilder()
                .setService("decoder")
                .setModel(settings.model())
                .setRevision(weights.revision())
                .setBackend(backend.name())
                .setDtype(backend.activationDtype())
                .setInputWidth(text.hiddenSize())
                .setOutputWidth(0)
                .setTokensPerImage(weights.config().imageTokensPerImage())
                .setMaxModelLen(len)
                .build();
        engine = e;
        registerEngineMetrics(e);
        return "decoder of " + settings.model() + " on " + backend.name() + ": hidden " + text.hiddenSize() + ", max_model_len "
                + len + ", " + blocks + " KV blocks of " + blockSize + " tokens, max_running " + maxRunning;
    }

    /**
     * Tokens per step. On a GPU a whole image prompt (~600 tokens) and several of them fit one step: a step costs about
     * the same up to thousands of tokens, and the traces of 2026-12-04 showed 64 image requests queueing ~0.7 s (p99
     * 3.5 s) for admission at 512 (vLLM's default for large GPUs is 8192). On the CPU a step's cost grows with its
     * tokens, so a small budget keeps running streams flowing during a long prefill.
     */
    static int prefillBudget(int configured, String backend) {
        if (configured < 0) throw new IllegalArgumentException("vqwen.decoder.prefill-token-budget must be >= 0 (0: by backend), got " + configured);
        if (configured > 0) return configured;
        return backend.startsWith("cpu") ? 512 : 8192;
    }

    private void registerEngineMetrics(DecoderEngine e) {
        Gauge.builder("vqwen_num_requests_running", e, x -> x.stats().running())
                .description("Sequences in the running batch").register(registry);
        Gauge.builder("vqwen_num_requests_waiting", e, x -> x.stats().waiting())
                .description("Requests waiting to be scheduled").register(registry);
        Gauge.builder("vqwen_kv_cache_usage_perc", e, x -> x.stats().kvCacheUsage())
                .description("Fraction of KV cache blocks in use (0-1)").register(registry);
        Gauge.builder("vqwen_kv_cache_blocks_used", e, x -> x.stats().kvBlocksUsed())
                .description("KV cache blocks in use").register(registry);
        Gauge.builder("vqwen_kv_cache_blocks_total", e, x -> x.stats().kvBlocksTotal())
                .description("KV cache blocks allocated").register(registry);
        Gauge.builder("vqwen_batch_size", e, x -> x.stats().lastBatchSize())
                .description("Sequences in the latest decoder step").register(registry);
        FunctionCounter.builder("vqwen_engine_steps", e, x -> x.stats().stepCount())
                .description("Decoder steps run").register(registry);
        FunctionCounter.builder("vqwen_num_preemptions", e, x -> x.stats().preemptions())
                .description("Sequences preempted for lack of KV cache and recomputed later").register(registry);
    }

    /** A short greedy request through the whole step loop: prefill, two decode steps, sampling, detokenizing. */
    @Override
    public String warmUp() throws Exception {
        // Folded into the vocabulary, for test checkpoints whose vocabulary is smaller than the tokenizer's.
        int vocab = weights.config().textConfig().vocabSize();
        int[] prompt = java.util.Arrays.stream(tokenizer.encode("Hello")).map(id -> id % vocab).toArray();
        Collector collector = new Collector();
        engine.submit(GenerationRequest.greedy("warm-up", prompt, null, 2), collector);
        Completion c = collector.result().get(5, TimeUnit.MINUTES).completion();
        if (c.completionTokens() < 1) throw new IllegalStateException("warm-up generated no token (" + c.finishReason() + ")");
        return prompt.length + " prompt tokens -> " + c.completionTokens() + " tokens (" + c.finishReason() + ")";
    }

    /** The projector must serve the same checkpoint and produce embeddings as wide as our hidden size. */
    @Override
    public Optional<PeerCheck> peerCheck() {
        return Optional.of(new PeerCheck("projector", PeerCheck.address("projector"),
                () -> projector.withDeadlineAfter(3, TimeUnit.SECONDS).info(InfoRequest.getDefaultInstance()),
                PeerCheck.expecting(info.getRevision(), "output width", InfoResponse::getOutputWidth,
                        "hidden size", info.getInputWidth())));
    }

    public InfoResponse info() {
        InfoResponse i = info;
        if (i == null) throw Status.UNAVAILABLE.withDescription("the model is still loading").asRuntimeException();
        return i;
    }

    public DecoderEngine engine() {
        DecoderEngine e = engine;
        if (e == null) throw Status.UNAVAILABLE.withDescription("the model is still loading").asRuntimeException();
        return e;
    }

    public EngineStats stats() {
        DecoderEngine e = engine;
        return e == null ? null : e.stats();
    }

    @Override
    public void close() {
        DecoderEngine e = engine;
        if (e != null) {
            // The service's drain already waited for the streams; this cancels whatever outlived the deadline.
            if (!e.drain(Duration.ofMillis(100))) LOG.warn("decoder: closing with requests still in flight");
            e.close();
        }
        if (tokenizer != null) tokenizer.close();
        if (weights != null) weights.close();
        if (backend != null) backend.close();
    }
}
