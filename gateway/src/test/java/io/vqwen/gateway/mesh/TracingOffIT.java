package io.vqwen.gateway.mesh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.vqwen.cli.mesh.MeshService;
import io.vqwen.mesh.MeshHarness;
import io.vqwen.mesh.OtlpReceiver;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import org.junit.jupiter.api.Test;

/**
 * Without an OTLP endpoint tracing is off: the services start and answer as before, and export nothing, not even
 * to OTLP's default http/protobuf address (127.0.0.1:4318, where this test listens), which is where Quarkus would
 * send spans if the SDK were left on.
 */
class TracingOffIT {
    @Test
    void withNoEndpointTheMeshServesAndExportsNothing() throws Exception {
        try (OtlpReceiver defaultPort = OtlpReceiver.start(4318);
             MeshHarness mesh = MeshHarness.builder()
                     // A protocol but no endpoint: the exporter would use its default, localhost:4318.
                     .environment("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
                     .property("quarkus.otel.bsp.schedule.delay", "100ms")
                     .start()) {
            GatewayApi api = new GatewayApi(mesh.httpUri(MeshService.GATEWAY), mesh.grpcPort(MeshService.GATEWAY), null);
            byte[] png = Goldens.freshPng(1301);
            assertEquals(200, api.stream(GatewayApi.streamed(GatewayApi.imageRequestUrl(Goldens.dataUrl(png, "image/png"), 4), true)).status());
            assertEquals(200, api.grpcWithHeaders(GatewayApi.textRequest(4), java.util.Map.of()).status());
            Thread.sleep(2000); // twenty export periods
            assertEquals(0, defaultPort.exports(), "spans exported with tracing off: " + defaultPort.spans());
            for (MeshService s : MeshService.values()) {
                // The OpenTelemetry exporters' message when a collector is not there: nothing may even try.
                assertFalse(log(mesh, s).contains("Failed to export"), s.id() + " tried to export spans:\n" + mesh.tail(s));
            }
        }
    }

    private static String log(MeshHarness mesh, MeshService s) {
        try {
            return Files.readString(mesh.log(s));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
