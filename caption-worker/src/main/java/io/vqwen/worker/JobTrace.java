package io.vqwen.worker;

import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.propagation.TextMapGetter;
import io.opentelemetry.context.propagation.TextMapSetter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;

/**
 * W3C trace context ({@code traceparent}, {@code tracestate}) in Kafka record headers: the job API writes the
 * submitting request's context into the record, and the consumer makes the record's context the parent of the
 * job's {@code caption.job} span, under which the chat call to the gateway runs. So a job continues the trace of
 * whoever produced it. With tracing off, the no-op propagator reads and writes nothing.
 */
public final class JobTrace {
    public static final JobTrace NONE = new JobTrace(OpenTelemetry.noop());

    static final TextMapGetter<Headers> GETTER = new TextMapGetter<>() {
        @Override
        public Iterable<String> keys(Headers headers) {
            List<String> keys = new ArrayList<>();
            for (Header h : headers) keys.add(h.key());
            return keys;
        }

        @Override
        public String get(Headers headers, String key) {
            Header h = headers == null ? null : headers.lastHeader(key);
            return h == null || h.value() == null ? null : new String(h.value(), StandardCharsets.UTF_8);
        }
    };

    static final TextMapSetter<Headers> SETTER = (headers, key, value) -> {
        headers.remove(key);
        headers.add(key, value.getBytes(StandardCharsets.UTF_8));
    };

    private final OpenTelemetry otel;
    private final Tracer tracer;

    public JobTrace(OpenTelemetry otel) {
        this.otel = otel;
        this.tracer = otel.getTracer("io.vqwen.worker");
    }

    /** Writes the current context (the submitting request's span) into a record about to be produced. */
    public void inject(Headers headers) {
        otel.getPropagators().getTextMapPropagator().inject(Context.current(), headers, SETTER);
    }

    /** The job's processing span, a child of the record's trace context (a new trace when it carries none). */
    public Span start(ConsumerRecord<String, byte[]> record, String jobId) {
        Context parent = otel.getPropagators().getTextMapPropagator().extract(Context.root(), record.headers(), GETTER);
        return tracer.spanBuilder("caption.job").setParent(parent).setSpanKind(SpanKind.CONSUMER)
                .setAttribute("messaging.system", "kafka")
                .setAttribute("messaging.destination.name", record.topic())
                .setAttribute("messaging.kafka.offset", record.offset())
                .setAttribute("vqwen.job_id", jobId)
                .startSpan();
    }
}
