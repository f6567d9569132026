package io.vqwen.web;

import io.vqwen.cli.mesh.MeshLayout;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
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
import java.util.concurrent.TimeUnit;

/**
 * The Kafka caption worker as a real process from its built {@code target/quarkus-app}, on a loopback port chosen
 * before the gateway starts (the gateway forwards {@code /v1/jobs} there). Logs to {@code target/mesh-logs}.
 */
final class CaptionWorker implements AutoCloseable {
    final int httpPort;
    private final Path log;
    private Process process;

    private CaptionWorker(int httpPort) {
        this.httpPort = httpPort;
        this.log = Path.of("target", "mesh-logs", "caption-worker-" + httpPort + ".log").toAbsolutePath();
    }

    /** A free port for the worker, to name in the gateway's {@code vqwen.gateway.jobs-url} before either starts. */
    static CaptionWorker onFreePort() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return new CaptionWorker(s.getLocalPort());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    URI uri() {
        return URI.create("http://127.0.0.1:" + httpPort);
    }

    /** Starts it against the gateway's public gRPC chat and the broker; returns once /q/health/ready is UP. */
    void start(Path repo, int gatewayGrpcPort, String bootstrapServers, String apiKey, Duration timeout) throws IOException {
        Path jar = repo.resolve("caption-worker/target/quarkus-app/quarkus-run.jar");
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException(jar + " is missing; build it with: ./mvnw -pl caption-worker -am package -DskipTests");
        }
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-Xmx256m");
        cmd.add("-Dquarkus.http.host=127.0.0.1");
        cmd.add("-Dquarkus.http.port=" + httpPort);
        cmd.add("-Dquarkus.grpc.clients.chat.host=127.0.0.1");
        cmd.add("-Dquarkus.grpc.clients.chat.port=" + gatewayGrpcPort);
        cmd.add("-Dkafka.bootstrap.servers=" + bootstrapServers);
        if (apiKey != null) cmd.add("-Dvqwen.worker.api-key=" + apiKey);
        cmd.add("-Djava.util.logging.manager=org.jboss.logmanager.LogManager");
        cmd.add("-jar");
        cmd.add(jar.toString());
        Files.createDirectories(log.getParent());
        Files.writeString(log, "$ " + String.join(" ", cmd) + "\n", StandardCharsets.UTF_8);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        pb.environment().putAll(MeshLayout.environment());
        process = pb.start();
        awaitReady(timeout);
    }

    private void awaitReady(Duration timeout) {
        long end = System.nanoTime() + timeout.toNanos();
        String last = "no answer";
        try (HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(2)).build()) {
            while (System.nanoTime() < end) {
                if (!process.isAlive()) throw new AssertionError("caption-worker exited (code " + process.exitValue() + "); log:\n" + tail());
                try {
                    HttpResponse<String> r = http.send(HttpRequest.newBuilder(uri().resolve("/q/health/ready")).timeout(Duration.ofSeconds(5))
                            .build(), HttpResponse.BodyHandlers.ofString());
                    if (r.statusCode() == 200) return;
                    last = r.statusCode() + " " + r.body();
                } catch (IOException e) {
                    last = e.toString();
                }
                Thread.sleep(250);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
        throw new AssertionError("caption-worker: /q/health/ready not UP within " + timeout + "; last answer: " + last + "\nlog:\n" + tail());
    }

    String tail() {
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
        } catch (IOException e) {
            return "(log unreadable: " + e + ")";
        }
    }

    @Override
    public void close() {
        if (process == null || !process.isAlive()) return;
        process.destroy();
        try {
            if (!process.waitFor(20, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
