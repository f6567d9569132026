package io.vqwen.vision;

import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanBuilder;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.time.Instant;
import java.util.concurrent.TimeUnit;

/**
 * The encoder's spans of one image (docs/tracing.md), recorded on the encoder thread after the fact under the
 * context the image arrived with (the Encode call's server span): its wait in the queue, then its batch's
 * preprocessing and vision tower forward, each with the batch size. Nothing when that context is not sampled.
 */
@ApplicationScoped
public class VisionSpans {
    @Inject
    Tracer tracer;

    void queued(Context parent, long enqueuedNanos, long takenNanos) {
        if (!sampled(parent)) return;
        long offset = epochMinusNano();
        span("vision.queue", parent, enqueuedNanos + offset).startSpan().end(takenNanos + offset, TimeUnit.NANOSECONDS);
    }

    /** One image of a batch: decode + preprocess from {@code start} to {@code towerStart}, then the forward to {@code end}. */
    void encoded(Context parent, long start, long towerStart, long end, int batch) {
        if (!sampled(parent)) return;
        long offset = epochMinusNano();
        span("vision.preprocess", parent, start + offset).setAttribute("vqwen.batch_size", batch).startSpan()
                .end(towerStart + offset, TimeUnit.NANOSECONDS);
        span("vision.tower", parent, towerStart + offset).setAttribute("vqwen.batch_size", batch).startSpan()
                .end(end + offset, TimeUnit.NANOSECONDS);
    }

    private SpanBuilder span(String name, Context parent, long startEpochNanos) {
        return tracer.spanBuilder(name).setParent(parent).setStartTimestamp(startEpochNanos, TimeUnit.NANOSECONDS);
    }

    private static boolean sampled(Context c) {
        return Span.fromContext(c).getSpanContext().isSampled();
    }

    private static long epochMinusNano() {
        Instant now = Instant.now();
        return now.getEpochSecond() * 1_000_000_000L + now.getNano() - System.nanoTime();
    }
}
