package io.vqwen.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.vqwen.cli.mesh.TracingPlan;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TracingPlanTest {
    @Test
    void withoutAnEndpointTracingIsOffAndTheLineSaysHowToTurnItOn() {
        assertEquals("tracing: off (set OTEL_EXPORTER_OTLP_ENDPOINT, and OTEL_EXPORTER_OTLP_PROTOCOL grpc or http/protobuf; docs/tracing.md)",
                TracingPlan.describe(Map.of("OTEL_EXPORTER_OTLP_ENDPOINT", " "), Map.of()));
    }

    @Test
    void theStandardVariablesNameTheCollector() {
        assertEquals("tracing: OTLP http/protobuf to http://127.0.0.1:4318, sampling 1.0 of new traces (docs/tracing.md)",
                TracingPlan.describe(Map.of("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
                        Map.of()));
    }

    @Test
    void quarkusPropertiesWinAndAnExplicitSwitchTurnsItOff() {
        assertEquals("tracing: OTLP grpc to http://c:4317, sampling 0.1 of new traces (docs/tracing.md)",
                TracingPlan.describe(Map.of("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318"),
                        Map.of("quarkus.otel.exporter.otlp.endpoint", "http://c:4317", "quarkus.otel.traces.sampler.arg", "0.1")));
        assertEquals(true, TracingPlan.describe(Map.of("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317", "OTEL_SDK_DISABLED", "true"), Map.of())
                .startsWith("tracing: off"));
    }
}
