package io.vqwen.service;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.Arrays;

/** Latency histograms with explicit buckets, as vLLM's (a handful of meaningful buckets, not Micrometer's ~70). */
public final class Histograms {
    /** vLLM's time_to_first_token_seconds buckets. */
    public static final double[] TTFT = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
            7.5, 10.0, 20.0, 40.0, 80.0};
    /** vLLM's inter_token_latency_seconds buckets. */
    public static final double[] INTER_TOKEN = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
            5.0, 7.5, 10.0, 20.0, 40.0, 80.0};
    /** vLLM's request latency buckets (e2e, queue, prefill, decode). */
    public static final double[] REQUEST = {0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0,
            60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};
    /** Encoder and projector stages: milliseconds on a GPU, up to seconds on a CPU. */
    public static final double[] STAGE = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0};

    private Histograms() {
    }

    public static Timer timer(MeterRegistry registry, String name, String description, double[] bucketsSeconds, String... tags) {
        Duration[] slo = Arrays.stream(bucketsSeconds).mapToObj(s -> Duration.ofNanos((long) (s * 1e9))).toArray(Duration[]::new);
        return Timer.builder(name).description(description).tags(Tags.of(tags)).serviceLevelObjectives(slo).register(registry);
    }
}
