package io.vqwen.gateway;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.vqwen.service.WireBytes;
import jakarta.enterprise.context.ApplicationScoped;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The gateway's Prometheus metrics, named as vLLM's where one exists ({@code vllm:time_to_first_token_seconds} ->
 * {@code vqwen_time_to_first_token_seconds}) with vLLM's histogram buckets.
 */
@ApplicationScoped
public class GatewayMetrics {
    /** vLLM's TTFT buckets. */
    private static final double[] TTFT_BUCKETS = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0,
            2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0};
    /** vLLM's request latency buckets. */
    private static final double[] LATENCY_BUCKETS = {0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0,
            50.0, 60.0, 120.0, 240.0, 480.0, 960.0};
    /** vLLM's inter-token latency buckets. */
    private static final double[] ITL_BUCKETS = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5};

    private final MeterRegistry registry;
    private final Timer ttft;
    private final Timer e2e;
    private final Timer queue;
    private final Timer encode;
    private final Timer perOutputToken;
    private final Counter promptTokens;
    private final Counter generationTokens;
    private final Counter cacheHits;
    private final Counter cacheMisses;
    private final AtomicInteger inFlight = new AtomicInteger();

    public GatewayMetrics(MeterRegistry registry) {
        this.registry = registry;
        this.ttft = timer("vqwen.time_to_first_token", "Arrival at the gateway to the first token", TTFT_BUCKETS);
        this.e2e = timer("vqwen.e2e_request_latency", "Arrival at the gateway to the last token", LATENCY_BUCKETS);
        this.queue = timer("vqwen.request_queue_time", "Time in the decoder's waiting queue", LATENCY_BUCKETS);
        this.encode = timer("vqwen.image_encode_time", "Vision + projector time of one image not found in the cache", TTFT_BUCKETS);
        this.perOutputToken = timer("vqwen.time_per_output_token", "Decode time per generated token after the first", ITL_BUCKETS);
        this.promptTokens = Counter.builder("vqwen.prompt_tokens").description("Prompt tokens processed (image tokens included)").register(registry);
        this.generationTokens = Counter.builder("vqwen.generation_tokens").description("Tokens generated").register(registry);
        this.cacheHits = Counter.builder("vqwen.embedding_cache.hits").description("Images whose embeddings came from the cache").register(registry);
        this.cacheMisses = Counter.builder("vqwen.embedding_cache.misses").description("Images that went through vision + projector").register(registry);
        registry.gauge("vqwen.gateway.requests_in_flight", inFlight);
    }

    private Timer timer(String name, String description, double[] bucketsSeconds) {
        Duration[] slo = new Duration[bucketsSeconds.length];
        for (int i = 0; i < slo.length; i++) slo[i] = Duration.ofNanos((long) (bucketsSeconds[i] * 1e9));
        return Timer.builder(name).description(description).serviceLevelObjectives(slo).register(registry);
    }

    /** One finished request: status is the HTTP status it got, or 499 when the client went away. */
    public void request(int status) {
        Counter.builder("vqwen.requests").description("Chat requests by outcome (HTTP status; 499 = client disconnected)")
                .tag("status", Integer.toString(status)).register(registry).increment();
    }

    public void started() {
        inFlight.incrementAndGet();
    }

    public void ended() {
        inFlight.decrementAndGet();
    }

    public void ttft(long nanos) {
        ttft.record(nanos, TimeUnit.NANOSECONDS);
    }

    public void e2e(long nanos) {
        e2e.record(nanos, TimeUnit.NANOSECONDS);
    }

    public void finished(ChatEvent.Finish f) {
        queue.record((long) (f.timings().queueMs() * 1e6), TimeUnit.NANOSECONDS);
        promptTokens.increment(f.promptTokens());
        generationTokens.increment(f.completionTokens());
        if (f.completionTokens() > 1) {
            perOutputToken.record((long) (f.timings().decodeMs() * 1e6 / (f.completionTokens() - 1)), TimeUnit.NANOSECONDS);
        }
    }

    public void encoded(double ms) {
        encode.record((long) (ms * 1e6), TimeUnit.NANOSECONDS);
    }

    /** Image bytes sent to the projector; the gateway has no embeddings hop to measure (it never carries one). */
    public DistributionSummary imageBytes() {
        return WireBytes.hop(registry, WireBytes.GATEWAY_PROJECTOR);
    }

    public void cache(boolean hit) {
        (hit ? cacheHits : cacheMisses).increment();
    }
}
