package io.vqwen.mesh;

import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.vqwen.cli.mesh.MeshLayout;
import io.vqwen.cli.mesh.MeshLayout.Ports;
import io.vqwen.cli.mesh.MeshService;
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
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * Starts mesh services as real processes from their built {@code target/quarkus-app/quarkus-run.jar}, on free
 * loopback ports, wired to each other as {@code ./vqwen up} wires them (the same {@link MeshLayout}); waits for
 * readiness; kills, restarts and stops them. Each process logs to {@code target/mesh-logs/NAME-PORT.log} of the
 * calling module, and a failure to start quotes the end of that log.
 *
 * <pre>{@code
 * try (MeshHarness mesh = MeshHarness.start(Path.of("testdata/tiny-llava"), Map.of())) {  // all four services
 *     int port = mesh.httpPort(MeshService.GATEWAY);
 *     mesh.kill(MeshService.DECODER);      // SIGKILL
 *     mesh.restart(MeshService.DECODER);   // same ports, waits until ready
 * }
 * }</pre>
 */
public final class MeshHarness implements AutoCloseable {
    /** How long {@link #start} and {@link #restart} wait for readiness (a cold JVM on a busy 2-core machine). */
    public static final Duration DEFAULT_READY_TIMEOUT = Duration.ofSeconds(120);

    /** What {@link Builder#start()} waits for before it returns. */
    public enum Await { READY, STARTED, NOTHING }

    private final MeshLayout layout;
    private final String model;
    private final Map<MeshService, Map<String, String>> properties;
    private final Map<MeshService, Process> processes = new EnumMap<>(MeshService.class);
    private final Map<MeshService, Path> logs = new EnumMap<>(MeshService.class);
    private final Map<MeshService, ManagedChannel> channels = new EnumMap<>(MeshService.class);
    private final Duration readyTimeout;
    private final Map<String, String> environment;
    // HTTP/1.1: a draining Quarkus answers an h2c-upgraded request with GOAWAY, which the JDK client reports as an error.
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(2)).build();

    private MeshHarness(MeshLayout layout, String model, Map<MeshService, Map<String, String>> properties, Duration readyTimeout,
                        Map<String, String> environment) {
        this.environment = Map.copyOf(environment);
        this.layout = layout;
        this.model = model;
        this.properties = properties;
        this.readyTimeout = readyTimeout;
    }

    /** The whole mesh (vision, projector, decoder, gateway) on {@code modelDir}, each with {@code extraProps}; waits until all are ready. */
    public static MeshHarness start(Path modelDir, Map<String, String> extraProps) {
        Builder b = builder().model(modelDir.toAbsolutePath().normalize().toString());
        extraProps.forEach(b::property);
        return b.start();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Which services, with which model and properties. */
    public static final class Builder {
        private String model;
        private final Set<MeshService> services = EnumSet.noneOf(MeshService.class);
        private final Map<String, String> common = new LinkedHashMap<>();
        private final Map<MeshService, Map<String, String>> own = new EnumMap<>(MeshService.class);
        private Duration readyTimeout = DEFAULT_READY_TIMEOUT;
        private Await await = Await.READY;
        private final Map<String, String> environment = new LinkedHashMap<>();

        /** A model directory, Hub id or synthetic:NAME for every service (default: the bundled testdata/tiny-llava). */
        public Builder model(String model) {
            this.model = model;
            return this;
        }

        /** Services to start; none named means all four. */
        public Builder services(MeshService... s) {
            services.addAll(List.of(s));
            return this;
        }

        /** A system property for every service. */
        public Builder property(String key, String value) {
            common.put(key, value);
            return this;
        }

        /** A system property for one service; it wins over {@link #property(String, String)}. */
        public Builder property(MeshService s, String key, String value) {
            own.computeIfAbsent(s, k -> new LinkedHashMap<>()).put(key, value);
            return this;
        }

        /**
         * An environment variable for every service. The test's own {@code OTEL_*} variables are never inherited, so
         * a test traces only when it says so (for example {@code OTEL_EXPORTER_OTLP_ENDPOINT}).
         */
        public Builder environment(String key, String value) {
            environment.put(key, value);
            return this;
        }

        public Builder readyTimeout(Duration d) {
            readyTimeout = d;
            return this;
        }

        /** Return once every service is ready (default), started, or at once. */
        public Builder await(Await a) {
            await = a;
            return this;
        }

        public MeshHarness start() {
            Path repo = MeshLayout.findRepo();
            Set<MeshService> chosen = services.isEmpty() ? EnumSet.allOf(MeshService.class) : EnumSet.copyOf(services);
            Map<MeshService, Ports> ports = new EnumMap<>(MeshService.class);
            Set<Integer> taken = new HashSet<>();
            for (MeshService s : MeshService.values()) {
                // Peers that are not started still get ports, so their clients point at nothing rather than at a default.
                ports.put(s, new Ports(freePort(taken), freePort(taken)));
            }
            MeshLayout layout = new MeshLayout(repo, ports, "127.0.0.1");
            for (MeshService s : chosen) layout.requireBuilt(s);
            Map<MeshService, Map<String, String>> props = new EnumMap<>(MeshService.class);
            for (MeshService s : chosen) {
                Map<String, String> p = new LinkedHashMap<>(common);
                p.putAll(own.getOrDefault(s, Map.of()));
                props.put(s, p);
            }
            String m = model != null ? model : repo.resolve("testdata/tiny-llava").toString();
            MeshHarness mesh = new MeshHarness(layout, m, props, readyTimeout, environment);
            try {
                for (MeshService s : chosen) mesh.launch(s);
                for (MeshService s : chosen) {
                    switch (await) {
                        case READY -> mesh.awaitHealth(s, "ready", readyTimeout);
                        case STARTED -> mesh.awaitHealth(s, "started", readyTimeout);
                        case NOTHING -> { }
                    }
                }
            } catch (RuntimeException | Error e) {
                mesh.close();
                throw e;
            }
            return mesh;
        }
    }

    // ---- what the tests use ---------------------------------------------------------------------------------

    public int httpPort(MeshService s) {
        return layout.ports(s).http();
    }

    public int grpcPort(MeshService s) {
        return layout.ports(s).grpc();
    }

    /** http://127.0.0.1:PORT of a service. */
    public URI httpUri(MeshService s) {
        return URI.create("http://127.0.0.1:" + httpPort(s));
    }

    /** A plaintext channel to the service's gRPC port, with a 64 MiB inbound limit; closed by {@link #close()}. */
    public synchronized ManagedChannel channel(MeshService s) {
        return channels.computeIfAbsent(s, k -> NettyChannelBuilder.forAddress("127.0.0.1", grpcPort(k)).usePlaintext()
                .maxInboundMessageSize(64 << 20).build());
    }

    /** The live process of a service, or null. */
    public synchronized Process process(MeshService s) {
        return processes.get(s);
    }

    public Path log(MeshService s) {
        return logs.get(s);
    }

    /** GET /q/health/{@code which} (started, ready, live): the HTTP status and the JSON body. */
    public HttpResponse<String> health(MeshService s, String which) {
        return get(s, "/q/health/" + which);
    }

    /** The Prometheus text of /q/metrics. */
    public String metrics(MeshService s) {
        return get(s, "/q/metrics").body();
    }

    /**
     * The value of one Prometheus sample, e.g. {@code metric(DECODER, "vqwen_num_requests_running")} or with labels
     * {@code "vqwen_request_success_total{finished_reason=\"cancelled\"}"}; NaN when absent.
     */
    public double metric(MeshService s, String sample) {
        for (String line : metrics(s).split("\n")) {
            if (line.startsWith(sample + " ")) return Double.parseDouble(line.substring(sample.length() + 1).trim().split(" ")[0]);
        }
        return Double.NaN;
    }

    public HttpResponse<String> get(MeshService s, String path) {
        try {
            HttpRequest req = HttpRequest.newBuilder(httpUri(s).resolve(path)).timeout(Duration.ofSeconds(10)).build();
            return http.send(req, HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new UncheckedIOException("GET " + path + " on " + s.id() + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** SIGKILL: the process dies without draining, as in a crash. Returns once it is gone. */
    public void kill(MeshService s) {
        Process p = process(s);
        if (p == null) return;
        p.destroyForcibly();
        waitExit(p, Duration.ofSeconds(30));
    }

    /** SIGTERM, then waits up to {@code deadline} for a graceful exit; returns the exit code. */
    public int terminate(MeshService s, Duration deadline) {
        Process p = process(s);
        if (p == null) throw new IllegalStateException(s.id() + " is not running");
        p.destroy();
        if (!waitExit(p, deadline)) throw new AssertionError(s.id() + " did not exit within " + deadline + " of SIGTERM; log: " + tail(s));
        return p.exitValue();
    }

    /** Starts a service again (after kill or terminate) on the same ports; waits until it is ready. */
    public void restart(MeshService s) {
        Process p = process(s);
        if (p != null && p.isAlive()) kill(s);
        launch(s);
        awaitHealth(s, "ready", readyTimeout);
    }

    /** Waits until /q/health/{@code which} answers 200; fails early, quoting the log, if the process exits. */
    public void awaitHealth(MeshService s, String which, Duration timeout) {
        long end = System.nanoTime() + timeout.toNanos();
        String last = "no answer";
        while (System.nanoTime() < end) {
            Process p = process(s);
            if (p == null || !p.isAlive()) {
                throw new AssertionError(s.id() + " exited (code " + (p == null ? "?" : p.exitValue()) + ") before /q/health/" + which
                        + " was UP; log:\n" + tail(s));
            }
            try {
                HttpRequest req = HttpRequest.newBuilder(httpUri(s).resolve("/q/health/" + which)).timeout(Duration.ofSeconds(5)).build();
                HttpResponse<String> r = http.send(req, HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 200) return;
                last = r.statusCode() + " " + r.body();
            } catch (IOException e) {
                last = e.toString();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
            sleep(200);
        }
        throw new AssertionError(s.id() + ": /q/health/" + which + " not UP within " + timeout + "; last answer: " + last + "\nlog:\n" + tail(s));
    }

    /** The last 60 lines of a service's log. */
    public String tail(MeshService s) {
        Path log = logs.get(s);
        if (log == null || !Files.isRegularFile(log)) return "(no log)";
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 60), lines.size()));
        } catch (IOException e) {
            return "(log unreadable: " + e + ")";
        }
    }

    /** SIGTERM to every service (they drain), SIGKILL to any still alive after 20 s. */
    @Override
    public void close() {
        synchronized (this) {
            channels.values().forEach(ManagedChannel::shutdownNow);
            channels.clear();
        }
        List<Process> alive = new ArrayList<>();
        synchronized (this) {
            for (Process p : processes.values()) {
                if (p.isAlive()) {
                    p.destroy();
                    alive.add(p);
                }
            }
        }
        for (Process p : alive) {
            if (!waitExit(p, Duration.ofSeconds(20))) {
                p.destroyForcibly();
                waitExit(p, Duration.ofSeconds(10));
            }
        }
    }

    // ---- processes ------------------------------------------------------------------------------------------

    private synchronized void launch(MeshService s) {
        List<String> cmd = layout.command(s, model, null, properties.getOrDefault(s, Map.of()));
        Path dir = Path.of("target", "mesh-logs").toAbsolutePath();
        Path log = dir.resolve(s.id() + "-" + httpPort(s) + ".log");
        try {
            Files.createDirectories(dir);
            Files.writeString(log, "$ " + String.join(" ", cmd) + "\n", StandardCharsets.UTF_8,
                    java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
            pb.environment().putAll(MeshLayout.environment());
            pb.environment().keySet().removeIf(k -> k.startsWith("OTEL_"));
            pb.environment().putAll(environment);
            processes.put(s, pb.start());
            logs.put(s, log);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + s.id() + ": " + e.getMessage(), e);
        }
    }

    private static boolean waitExit(Process p, Duration d) {
        try {
            return p.waitFor(d.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private static int freePort(Set<Integer> taken) {
        for (int attempt = 0; attempt < 50; attempt++) {
            try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
                int p = s.getLocalPort();
                if (taken.add(p)) return p;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        throw new IllegalStateException("no free port found");
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
