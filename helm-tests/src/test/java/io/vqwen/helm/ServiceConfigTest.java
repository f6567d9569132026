package io.vqwen.helm;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The chart test is only as good as its reading of the services' application.properties. */
class ServiceConfigTest {

    @TempDir
    Path repo;

    private ServiceConfig write(String module, String properties) throws IOException {
        Path dir = repo.resolve(module).resolve("src/main/resources");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("application.properties"), properties);
        return ServiceConfig.load(repo, module, 1, 2);
    }

    @Test
    void aMissingModuleFallsBackToTheConventions() {
        ServiceConfig c = ServiceConfig.load(repo, "decoder-service", 8083, 9083);
        assertEquals(8083, c.httpPort());
        assertEquals(9083, c.grpcPort());
        assertEquals("/q/health/ready", c.readyPath());
    }

    @Test
    void prodProfileAndExpressionDefaultsWin() throws IOException {
        ServiceConfig c = write("vision-service", """
                quarkus.http.port=8181
                %prod.quarkus.http.port=${HTTP_PORT:8081}
                %dev.quarkus.http.port=7000
                quarkus.grpc.server.port=9081
                quarkus.grpc.server.use-separate-server=true
                """);
        assertEquals(8081, c.httpPort());
        assertEquals(9081, c.grpcPort());
        assertEquals(8081, c.healthPort());
    }

    @Test
    void absentKeysTakeQuarkusDefaultsNotTheConventions() throws IOException {
        // A service that forgot its port listens on Quarkus's 8080/9000, and the chart must be told so.
        ServiceConfig c = write("projector-service", "vqwen.backend=cpu\n");
        assertEquals(8080, c.httpPort());
        assertEquals(9000, c.grpcPort());
        assertEquals("/q/health/started", c.startedPath());
        assertEquals("/q/metrics", c.metricsPath());
    }

    @Test
    void healthPathsFollowQuarkusRelativeAndAbsoluteRules() throws IOException {
        ServiceConfig relative = write("a", """
                quarkus.http.root-path=/api
                quarkus.http.non-application-root-path=internal
                quarkus.smallrye-health.root-path=hc
                quarkus.smallrye-health.readiness-path=/ready-now
                """);
        assertEquals("/api/internal/hc/started", relative.startedPath());
        assertEquals("/ready-now", relative.readyPath());
        assertEquals("/api/internal/hc/live", relative.livePath());

        ServiceConfig absolute = write("b", "quarkus.smallrye-health.root-path=/health\n");
        assertEquals("/health/live", absolute.livePath());
    }

    @Test
    void sharedGrpcServerAndManagementInterfaceMovePorts() throws IOException {
        ServiceConfig shared = write("c", "quarkus.http.port=8082\nquarkus.grpc.server.use-separate-server=false\n");
        assertEquals(8082, shared.grpcPort());

        ServiceConfig managed = write("d", "quarkus.http.port=8083\nquarkus.management.enabled=true\n");
        assertEquals(9000, managed.healthPort());
        assertEquals("/q/health/ready", managed.readyPath());
    }

    @Test
    void grpcClientNamesAreCollected() throws IOException {
        ServiceConfig c = write("gateway", """
                quarkus.grpc.clients.vision.host=localhost
                quarkus.grpc.clients.decoder.port=9083
                %prod.quarkus.grpc.clients.projector.deadline=30s
                """);
        assertEquals(Set.of("vision", "decoder", "projector"), c.grpcClients());
    }
}
