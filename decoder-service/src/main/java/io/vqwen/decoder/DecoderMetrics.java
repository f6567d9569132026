package io.vqwen.decoder;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.vqwen.engine.generate.Completion;
import io.vqwen.service.Histograms;
import jakarta.annotation.PostConstruct;
import jakarta.inject.Singleton;
import jakarta.inject.Inject;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/** Per-request decoder metrics, named as vLLM's (vllm:X -> vqwen_X). A @Singleton: its fields are read directly, without a proxy. */
@Singleton
public class DecoderMetrics {
    @Inject
    MeterRegistry registry;

    Timer ttft, interToken, e2e, queue, prefill, decode;
    Counter promptTokens, generationTokens;
    private final Map<String, Counter> success = new ConcurrentHashMap<>();
    private final Map<String, Counter> failure = new ConcurrentHashMap<>();

    @PostConstruct
    void init() {
        ttft = Histograms.timer(registry, "vqwen_time_to_first_token_seconds", "Time from the Generate call to the first token", Histograms.TTFT);
        interToken = Histograms.timer(registry, "vqwen_inter_token_latency_seconds", "Time between two tokens of a stream", Histograms.INTER_TOKEN);
        e2e = Histograms.timer(registry, "vqwen_e2e_request_latency_seconds", "Time from the Generate call to the last chunk", Histograms.REQUEST);
        queue = Histograms.timer(registry, "vqwen_request_queue_time_seconds", "Time a request waited before its first step", Histograms.REQUEST);
        prefill = Histograms.timer(registry, "vqwen_request_prefill_time_seconds", "Time from the first step to the first token", Histograms.REQUEST);
        decode = Histograms.timer(registry, "vqwen_request_decode_time_seconds", "Time from the first token to the last", Histograms.REQUEST);
        promptTokens = Counter.builder("vqwen_prompt_tokens").description("Prompt tokens processed (image tokens included)").register(registry);
        generationTokens = Counter.builder("vqwen_generation_tokens").description("Tokens generated").register(registry);
        for (String r : new String[] {"stop", "length", "cancelled"}) success(r);
        for (String r : new String[] {"invalid", "queue_full", "unavailable", "error"}) failure(r);
    }

    void finished(Completion c, long startNanos) {
        e2e.record(System.nanoTime() - startNanos, TimeUnit.NANOSECONDS);
        queue.record((long) (c.timings().queueMs() * 1e6), TimeUnit.NANOSECONDS);
        if (c.completionTokens() > 0) {
            prefill.record((long) (c.timings().prefillMs() * 1e6), TimeUnit.NANOSECONDS);
            decode.record((long) (c.timings().decodeMs() * 1e6), TimeUnit.NANOSECONDS);
        }
        promptTokens.increment(c.promptTokens());
        generationTokens.increment(c.completionTokens());
        success(c.finishReason()).increment();
    }

    private Counter success(String reason) {
        return success.computeIfAbsent(reason, r -> Counter.builder("vqwen_request_success").tag("finished_reason", r)
                .description("Requests finished, by finish reason").register(registry));
    }

    Counter failure(String reason) {
        return failure.computeIfAbsent(reason, r -> Counter.builder("vqwen_request_failure").tag("reason", r)
                .description("Requests that failed, by reason (invalid, queue_full, unavailable, error)").register(registry));
    }
}
