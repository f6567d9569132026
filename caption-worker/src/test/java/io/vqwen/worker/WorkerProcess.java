package io.vqwen.worker;

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
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The packaged worker ({@code target/quarkus-app/quarkus-run.jar}) as a process the test can kill: same port and
 * settings on every restart, logging to {@code target/mesh-logs/caption-worker-PORT.log}.
 */
final class WorkerProcess implements AutoCloseable {
    final int httpPort;
    private final Map<String, String> props;
    private final Map<String, String> env = new LinkedHashMap<>();
    private final Path log;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    private Process process;

    WorkerProcess(Map<String, String> props) {
        this.httpPort = freePort();
        this.props = new LinkedHashMap<>(props);
        this.log = Path.of("target", "mesh-logs", "caption-worker-" + httpPort + ".log").toAbsolutePath();
    }

    /** A system property, before {@link #start()}. */
    WorkerProcess property(String key, String value) {
        props.put(key, value);
        return this;
    }

    /** An environment variable, before {@link #start()}; the test's own OTEL_* variables are never inherited. */
    WorkerProcess environment(String key, String value) {
        env.put(key, value);
        return this;
    }

    URI uri(String path) {
        return URI.create("http://127.0.0.1:" + httpPort + path);
    }

    /** Starts it; returns once Kafka, the gateway and the results index are ready. */
    WorkerProcess start() {
        Path jar = Path.of(System.getProperty("vqwen.worker.app", "target/quarkus-app/quarkus-run.jar"));
        if (!Files.isRegularFile(jar)) throw new IllegalStateException(jar + " is missing: package caption-worker first");
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-Xmx256m");
        cmd.add("-XX:+UseSerialGC");
        cmd.add("-Djava.util.logging.manager=org.jboss.logmanager.LogManager");
        cmd.add("-Dquarkus.http.host=127.0.0.1");
        cmd.add("-Dquarkus.http.port=" + httpPort);
        props.forEach((k, v) -> cmd.add("-D" + k + "=" + v));
        cmd.add("-jar");
        cmd.add(jar.toAbsolutePath().toString());
        try {
            Files.createDirectories(log.getParent());
            Files.writeString(log, "$ " + String.join(" ", cmd) + "\n", StandardCharsets.UTF_8,
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND);
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
            pb.environment().keySet().removeIf(k -> k.startsWith("OTEL_"));
            pb.environment().putAll(env);
            process = pb.start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        try {
            awaitReady(Duration.ofSeconds(90));
        } catch (RuntimeException | Error e) {
            kill(); // not left behind when the test gives up on it
            throw e;
        }
        return this;
    }

    void awaitReady(Duration timeout) {
        long end = System.nanoTime() + timeout.toNanos();
        String last = "no answer";
        while (System.nanoTime() < end) {
            if (!process.isAlive()) throw new AssertionError("caption-worker exited (" + process.exitValue() + "); log:\n" + tail());
            try {
                HttpResponse<String> r = get("/q/health/ready");
                if (r.statusCode() == 200) return;
                last = r.body();
            } catch (UncheckedIOException e) {
                last = e.getMessage();
            }
            sleep(200);
        }
        throw new AssertionError("caption-worker not ready within " + timeout + ": " + last + "\nlog:\n" + tail());
    }

    HttpResponse<String> get(String path) {
        return send(HttpRequest.newBuilder(uri(path)).timeout(Duration.ofSeconds(10)).GET().build());
    }

    HttpResponse<String> post(String path, String json) {
        return send(HttpRequest.newBuilder(uri(path)).timeout(Duration.ofSeconds(30)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json)).build());
    }

    private HttpResponse<String> send(HttpRequest req) {
        try {
            return http.send(req, HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new UncheckedIOException(req.method() + " " + req.uri() + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** One sample of /q/metrics, e.g. {@code vqwen_worker_jobs_retried_total}; NaN when absent. */
    double metric(String sample) {
        for (String line : get("/q/metrics").body().split("\n")) {
            if (line.startsWith(sample + " ")) return Double.parseDouble(line.substring(sample.length() + 1).trim().split(" ")[0]);
        }
        return Double.NaN;
    }

    /** SIGKILL, as a crash: no drain, no commit. */
    void kill() {
        process.destroyForcibly();
        waitExit(Duration.ofSeconds(30));
    }

    /** SIGTERM: running jobs drain; returns the exit code. */
    int terminate() {
        process.destroy();
        if (!waitExit(Duration.ofSeconds(60))) throw new AssertionError("caption-worker ignored SIGTERM for 60 s; log:\n" + tail());
        return process.exitValue();
    }

    String tail() {
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 60), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    Path log() {
        return log;
    }

    @Override
    public void close() {
        if (process != null && process.isAlive()) {
            process.destroy();
            if (!waitExit(Duration.ofSeconds(40))) {
                process.destroyForcibly();
                waitExit(Duration.ofSeconds(10));
            }
        }
    }

    private boolean waitExit(Duration d) {
        try {
            return process.waitFor(d.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
