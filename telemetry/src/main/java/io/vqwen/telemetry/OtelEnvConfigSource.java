package io.vqwen.telemetry;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.eclipse.microprofile.config.spi.ConfigSource;

/**
 * The OpenTelemetry SDK's standard environment ({@code OTEL_EXPORTER_OTLP_ENDPOINT}, {@code _PROTOCOL}, ...) as the
 * {@code quarkus.otel.*} properties Quarkus reads: Quarkus itself ignores {@code OTEL_*} (it only relocates the
 * service name and resource attributes, and only in MicroProfile-compatibility mode), while collectors, operators
 * and Helm charts set exactly these.
 * <p>
 * Ordinal 275: above {@code application.properties} (250), below {@code QUARKUS_OTEL_*} variables (300) and
 * {@code -Dquarkus.otel.*} (400), so a Quarkus-specific setting still wins. Not mapped: {@code OTEL_SERVICE_NAME}
 * (one environment names five processes under {@code ./vqwen up}; each keeps its module name) and
 * {@code OTEL_TRACES_SAMPLER} (the sampler type is fixed at build time in Quarkus; its argument is not).
 */
public final class OtelEnvConfigSource implements ConfigSource {
    /** Standard variable -> Quarkus property. The spec's names: opentelemetry.io/docs/specs/otel/protocol/exporter. */
    static final Map<String, String> MAPPED = Map.ofEntries(
            Map.entry("OTEL_SDK_DISABLED", "quarkus.otel.sdk.disabled"),
            Map.entry("OTEL_EXPORTER_OTLP_ENDPOINT", "quarkus.otel.exporter.otlp.endpoint"),
            Map.entry("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "quarkus.otel.exporter.otlp.traces.endpoint"),
            Map.entry("OTEL_EXPORTER_OTLP_PROTOCOL", "quarkus.otel.exporter.otlp.protocol"),
            Map.entry("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "quarkus.otel.exporter.otlp.traces.protocol"),
            Map.entry("OTEL_EXPORTER_OTLP_HEADERS", "quarkus.otel.exporter.otlp.headers"),
            Map.entry("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "quarkus.otel.exporter.otlp.traces.headers"),
            Map.entry("OTEL_EXPORTER_OTLP_COMPRESSION", "quarkus.otel.exporter.otlp.compression"),
            Map.entry("OTEL_EXPORTER_OTLP_TIMEOUT", "quarkus.otel.exporter.otlp.timeout"),
            Map.entry("OTEL_TRACES_SAMPLER_ARG", "quarkus.otel.traces.sampler.arg"),
            Map.entry("OTEL_RESOURCE_ATTRIBUTES", "quarkus.otel.resource.attributes"));

    /** The protocols OTLP defines; Quarkus takes the same strings. */
    static final Set<String> PROTOCOLS = Set.of("grpc", "http/protobuf");

    private final Map<String, String> properties;

    public OtelEnvConfigSource() {
        this(System.getenv());
    }

    OtelEnvConfigSource(Map<String, String> env) {
        Map<String, String> p = new LinkedHashMap<>();
        MAPPED.forEach((var, property) -> {
            String v = env.get(var);
            // Helm and shells pass an unset value as "": that is "not configured", not an empty endpoint.
            if (v != null && !v.isBlank()) p.put(property, value(var, v.trim()));
        });
        this.properties = Map.copyOf(p);
    }

    private static String value(String var, String v) {
        // The spec gives the timeout in milliseconds; a bare number is seconds to Quarkus's Duration converter.
        if (var.equals("OTEL_EXPORTER_OTLP_TIMEOUT") && v.chars().allMatch(Character::isDigit)) return v + "ms";
        if (var.endsWith("_PROTOCOL") && !PROTOCOLS.contains(v)) {
            throw new IllegalArgumentException(var + " must be grpc or http/protobuf, got '" + v + "'");
        }
        return v;
    }

    @Override
    public Set<String> getPropertyNames() {
        return properties.keySet();
    }

    @Override
    public String getValue(String propertyName) {
        return properties.get(propertyName);
    }

    @Override
    public String getName() {
        return "OTEL_* environment";
    }

    @Override
    public int getOrdinal() {
        return 275;
    }
}
