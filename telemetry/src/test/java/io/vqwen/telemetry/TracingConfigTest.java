package io.vqwen.telemetry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.smallrye.config.PropertiesConfigSource;
import io.smallrye.config.SmallRyeConfig;
import io.smallrye.config.SmallRyeConfigBuilder;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** How a service's tracing config resolves from the standard environment, properties and Quarkus's defaults. */
class TracingConfigTest {
    private static SmallRyeConfig config(Map<String, String> env, Map<String, String> applicationProperties,
                                         Map<String, String> systemProperties) {
        return new SmallRyeConfigBuilder()
                .withSources(new OtelEnvConfigSource(env))
                .withSources(new PropertiesConfigSource(applicationProperties, "application.properties", 250))
                .withSources(new PropertiesConfigSource(systemProperties, "system", 400))
                // What Quarkus's config mapping registers for the property: a default of false.
                .withDefaultValue(TracingSwitch.SDK_DISABLED, "false")
                .withInterceptors(new TracingSwitch())
                .build();
    }

    private static boolean disabled(SmallRyeConfig c) {
        return c.getValue(TracingSwitch.SDK_DISABLED, Boolean.class);
    }

    @Test
    void withNoEndpointAnywhereTheSdkIsDisabled() {
        assertTrue(disabled(config(Map.of("PATH", "/bin"), Map.of("quarkus.otel.service.name", "gateway"), Map.of())));
    }

    @Test
    void anEmptyEndpointVariableCountsAsUnset() {
        SmallRyeConfig c = config(Map.of("OTEL_EXPORTER_OTLP_ENDPOINT", " "), Map.of(), Map.of());
        assertTrue(disabled(c));
        assertTrue(c.getOptionalValue("quarkus.otel.exporter.otlp.endpoint", String.class).isEmpty());
    }

    @Test
    void theStandardVariablesBecomeQuarkusProperties() {
        SmallRyeConfig c = config(Map.of("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318",
                "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", "OTEL_TRACES_SAMPLER_ARG", "0.25",
                "OTEL_EXPORTER_OTLP_TIMEOUT", "2500", "OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod"), Map.of(), Map.of());
        assertFalse(disabled(c));
        assertEquals("http://collector:4318", c.getValue("quarkus.otel.exporter.otlp.endpoint", String.class));
        assertEquals("http/protobuf", c.getValue("quarkus.otel.exporter.otlp.protocol", String.class));
        assertEquals("0.25", c.getValue("quarkus.otel.traces.sampler.arg", String.class));
        assertEquals("2500ms", c.getValue("quarkus.otel.exporter.otlp.timeout", String.class));
        assertEquals("deployment.environment=prod", c.getValue("quarkus.otel.resource.attributes", String.class));
    }

    @Test
    void aTracesOnlyEndpointTurnsTracingOnToo() {
        assertFalse(disabled(config(Map.of("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4317"), Map.of(), Map.of())));
    }

    @Test
    void aQuarkusEndpointPropertyTurnsTracingOn() {
        assertFalse(disabled(config(Map.of(), Map.of(), Map.of("quarkus.otel.exporter.otlp.endpoint", "http://c:4317"))));
        assertFalse(disabled(config(Map.of(), Map.of("quarkus.otel.exporter.otlp.traces.endpoint", "http://c:4317"), Map.of())));
    }

    @Test
    void anExplicitSwitchWinsOverTheEndpoint() {
        assertTrue(disabled(config(Map.of("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317", "OTEL_SDK_DISABLED", "true"), Map.of(), Map.of())));
        assertFalse(disabled(config(Map.of(), Map.of(), Map.of(TracingSwitch.SDK_DISABLED, "false"))));
    }

    @Test
    void quarkusPropertiesBeatTheStandardVariablesAndTheVariablesBeatApplicationProperties() {
        SmallRyeConfig c = config(Map.of("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4317"),
                Map.of("quarkus.otel.exporter.otlp.endpoint", "http://app:4317"),
                Map.of("quarkus.otel.exporter.otlp.protocol", "http/protobuf"));
        assertEquals("http/protobuf", c.getValue("quarkus.otel.exporter.otlp.protocol", String.class));
        assertEquals("http://env:4317", c.getValue("quarkus.otel.exporter.otlp.endpoint", String.class));
    }

    @Test
    void anUnknownProtocolIsRefusedByName() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new OtelEnvConfigSource(Map.of("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")));
        assertEquals("OTEL_EXPORTER_OTLP_PROTOCOL must be grpc or http/protobuf, got 'http/json'", e.getMessage());
    }
}
