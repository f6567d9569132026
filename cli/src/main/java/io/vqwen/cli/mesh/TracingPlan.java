package io.vqwen.cli.mesh;

import java.util.Map;

/**
 * What {@code ./vqwen up} tells about tracing. Every process it starts inherits its environment and gets its
 * {@code -D} properties, and each reads the standard {@code OTEL_EXPORTER_OTLP_*} variables (vqwen-telemetry), so
 * one setting here traces the whole mesh; this line only says which.
 */
public final class TracingPlan {
    private TracingPlan() {
    }

    /** One line: where spans go, or how to turn tracing on. Quarkus properties win over the variables, as in the services. */
    public static String describe(Map<String, String> env, Map<String, String> props) {
        String endpoint = first(props.get("quarkus.otel.exporter.otlp.traces.endpoint"), props.get("quarkus.otel.exporter.otlp.endpoint"),
                env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), env.get("OTEL_EXPORTER_OTLP_ENDPOINT"));
        String disabled = first(props.get("quarkus.otel.sdk.disabled"), env.get("OTEL_SDK_DISABLED"));
        if (endpoint == null || "true".equalsIgnoreCase(disabled)) {
            return "tracing: off (set OTEL_EXPORTER_OTLP_ENDPOINT, and OTEL_EXPORTER_OTLP_PROTOCOL grpc or http/protobuf; docs/tracing.md)";
        }
        String protocol = first(props.get("quarkus.otel.exporter.otlp.traces.protocol"), props.get("quarkus.otel.exporter.otlp.protocol"),
                env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), env.get("OTEL_EXPORTER_OTLP_PROTOCOL"), "grpc");
        String ratio = first(props.get("quarkus.otel.traces.sampler.arg"), env.get("OTEL_TRACES_SAMPLER_ARG"), "1.0");
        return "tracing: OTLP " + protocol + " to " + endpoint + ", sampling " + ratio + " of new traces (docs/tracing.md)";
    }

    private static String first(String... values) {
        for (String v : values) if (v != null && !v.isBlank()) return v.trim();
        return null;
    }
}
