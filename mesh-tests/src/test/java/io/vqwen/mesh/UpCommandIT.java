package io.vqwen.mesh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vqwen.cli.mesh.MeshLayout;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;

/**
 * {@code vqwen up} as a user runs it (the model services only, since the gateway is another module's): it prints
 * where each service listens, restarts a service that dies and says so, and stops every process on SIGTERM.
 */
class UpCommandIT {
    private final Path log = Path.of("target", "mesh-logs", "up-" + System.nanoTime() + ".log").toAbsolutePath();
    private final List<String> out = new CopyOnWriteArrayList<>();
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    @Test
    void upStartsSupervisesAndStopsTheMesh() throws Exception {
        int base = MeshLayout.freeBasePort(1, 2, 3, 1001, 1002, 1003);
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(List.of(MeshLayout.DEFAULT_JVM_FLAGS.split(" ")));
        cmd.addAll(List.of("-Dvqwen.home=" + Golden.REPO, "-cp", System.getProperty("java.class.path"), "io.vqwen.cli.Main",
                "up", "--port", Integer.toString(base), "--services", "vision,projector,decoder", "--drain-seconds", "5",
                "-Dquarkus.otel.bsp.schedule.delay=100ms"));
        // To a file, not a pipe: a pipe read races with the JDK's own draining at process exit and loses the last lines.
        Files.createDirectories(log.getParent());
        // The standard OpenTelemetry variables, set once for up: every process it starts traces to our receiver.
        OtlpReceiver receiver = OtlpReceiver.start();
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().keySet().removeIf(k -> k.startsWith("OTEL_"));
        pb.environment().put("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint());
        pb.environment().put("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf");
        Process up = pb.start();
        try (receiver) {
            awaitLine(l -> l.startsWith("[up] mesh ready"), Duration.ofSeconds(180), up);
            assertTrue(out.contains("  tracing: OTLP http/protobuf to " + receiver.endpoint() + ", sampling 1.0 of new traces (docs/tracing.md)"),
                    String.join("\n", out));
            // The startup peer checks (projector -> vision Info, decoder -> projector Info) are traced calls.
            receiver.await(spans -> spans.stream().map(OtlpReceiver.Received::service).collect(java.util.stream.Collectors.toSet())
                    .containsAll(java.util.Set.of("vision-service", "projector-service", "decoder-service")), Duration.ofSeconds(30),
                    "spans from every service up started");
            assertTrue(out.contains("vqwen up: model " + Golden.MODEL + ", backend cpu"), String.join("\n", out));
            assertTrue(out.contains(String.format("  decoder   http://127.0.0.1:%d  grpc 127.0.0.1:%d  (gRPC DecoderService)", base + 3, base + 1003)),
                    String.join("\n", out.subList(0, Math.min(10, out.size()))));
            assertTrue(out.stream().anyMatch(l -> l.startsWith("vision   | ") && l.contains("vision: warm-up passed")));
            assertEquals(200, ready(base + 3));

            // A crash: the decoder is killed; up logs it and starts a new one, which becomes ready again.
            ProcessHandle decoder = child(up, "decoder-service").orElseThrow();
            decoder.destroyForcibly();
            awaitLine(l -> l.startsWith("[up] decoder exited with code 137 after") && l.endsWith("restarting in 1 s (restart 1)"),
                    Duration.ofSeconds(30), up);
            int exitLine = indexOf(l -> l.startsWith("[up] decoder exited"));
            awaitLine(l -> l.startsWith("[up] decoder ready") && out.indexOf(l) > exitLine, Duration.ofSeconds(120), up);
            ProcessHandle restarted = child(up, "decoder-service").orElseThrow();
            assertNotEquals(decoder.pid(), restarted.pid());
            assertEquals(200, ready(base + 3));

            // SIGTERM to up: every service stops, gateway-first order, and up exits.
            List<ProcessHandle> children = up.descendants().toList();
            assertEquals(3, children.size(), children.toString());
            up.destroy();
            assertTrue(up.waitFor(90, TimeUnit.SECONDS), "up did not exit after SIGTERM:\n" + String.join("\n", out));
            refresh();
            for (ProcessHandle c : children) {
                c.onExit().get(10, TimeUnit.SECONDS);
                assertTrue(!c.isAlive(), "still alive: " + c.info().commandLine().orElse("pid " + c.pid()));
            }
            assertTrue(out.contains("[up] stopped"), String.join("\n", out));
            assertTrue(out.stream().anyMatch(l -> l.startsWith("decoder  | ") && l.contains("decoder: drained 0 call(s)")));
        } finally {
            up.descendants().forEach(ProcessHandle::destroyForcibly);
            up.destroyForcibly();
        }
    }

    private void awaitLine(Predicate<String> p, Duration timeout, Process up) throws InterruptedException {
        long end = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < end) {
            refresh();
            if (out.stream().anyMatch(p)) return;
            if (!up.isAlive()) break;
            Thread.sleep(100);
        }
        refresh();
        throw new AssertionError("no such line within " + timeout + (up.isAlive() ? "" : " (up exited " + up.exitValue() + ")") + "; output:\n"
                + String.join("\n", out.subList(Math.max(0, out.size() - 80), out.size())));
    }

    /** Re-reads up's output. */
    private void refresh() {
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            out.clear();
            out.addAll(lines);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private int indexOf(Predicate<String> p) {
        for (int i = 0; i < out.size(); i++) if (p.test(out.get(i))) return i;
        return -1;
    }

    private static Optional<ProcessHandle> child(Process up, String module) {
        return up.children().filter(c -> c.info().commandLine().orElse("").contains("/" + module + "/")).findFirst();
    }

    private int ready(int port) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/q/health/ready")).build(),
                HttpResponse.BodyHandlers.discarding()).statusCode();
    }

}
