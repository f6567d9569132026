package io.vqwen.engine.generate;

import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import java.time.Instant;
import java.util.concurrent.TimeUnit;

/**
 * The decoder's spans of one request (docs/tracing.md), recorded on the step thread after the fact, with explicit
 * start and end times, under the context the request arrived with (the decoder's gRPC server span). Only the
 * OpenTelemetry API: the service that embeds the engine supplies the tracer, and without a sampled parent (tracing
 * off, or this trace not sampled) every method returns at once.
 */
public final class StepTrace {
    /** No spans: the in-process engine, tests, benchmarks. */
    public static final StepTrace NONE = new StepTrace(OpenTelemetry.noop().getTracer("vqwen-engine"), Context.root());

    private final Tracer tracer;
    private final Context parent;
    private final boolean on;
    /** System.nanoTime() -> epoch nanoseconds, anchored once per request. */
    private final long epochMinusNano;
    private boolean firstTokenDone;

    public StepTrace(Tracer tracer, Context parent) {
        this.tracer = tracer;
        this.parent = parent;
        this.on = Span.fromContext(parent).getSpanContext().isSampled();
        Instant now = on ? Instant.now() : Instant.EPOCH;
        this.epochMinusNano = on ? now.getEpochSecond() * 1_000_000_000L + now.getNano() - System.nanoTime() : 0;
    }

    /** Admission queue: arrival -> first scheduled. */
    void queued(long arrivalNanos, long scheduledNanos) {
        if (on) span("decoder.queue", arrivalNanos).end(epoch(scheduledNanos), TimeUnit.NANOSECONDS);
    }

    /** One prefill chunk: its tokens, and the step it ran in (sequences and tokens in that forward). */
    void prefill(long startNanos, long endNanos, int tokens, int batchSequences, int batchTokens) {
        if (!on) return;
        span("decoder.prefill", startNanos).setAttribute("vqwen.tokens", tokens).setAttribute("vqwen.batch_size", batchSequences)
                .setAttribute("vqwen.batch_tokens", batchTokens).end(epoch(endNanos), TimeUnit.NANOSECONDS);
    }

    /** Arrival -> first token sampled; once per request (a preempted sequence's recompute does not count again). */
    void firstToken(long arrivalNanos, long tokenNanos) {
        if (!on || firstTokenDone) return;
        firstTokenDone = true;
        span("decoder.first_token", arrivalNanos).end(epoch(tokenNanos), TimeUnit.NANOSECONDS);
    }

    private Span span(String name, long startNanos) {
        return tracer.spanBuilder(name).setParent(parent).setStartTimestamp(epoch(startNanos), TimeUnit.NANOSECONDS).startSpan();
    }

    private long epoch(long nanoTime) {
        return epochMinusNano + nanoTime;
    }
}
