package io.vqwen.cli;

import io.vqwen.cli.mesh.MeshLayout;
import io.vqwen.cli.mesh.MeshLayout.Ports;
import io.vqwen.cli.mesh.MeshService;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./vqwen up}: the whole mesh on this machine, one process per service on loopback, as in a cluster.
 * Supervises them: a service that dies is restarted with exponential backoff (1 s doubling to 30 s, reset after a
 * minute of uptime) and the restart is logged. Ctrl-C or SIGTERM stops the gateway first, then the model services,
 * each with SIGTERM so it drains, and SIGKILL only after the drain deadline.
 */
@Command(name = "up", mixinStandardHelpOptions = true,
        description = {"Start the local mesh: vision, projector, decoder and gateway as separate processes on loopback.",
                "Ports: gateway PORT (gRPC PORT+1000), vision PORT+1, projector PORT+2, decoder PORT+3 (gRPC +1000 each).",
                "A service that dies is restarted with backoff. Ctrl-C or SIGTERM stops everything."})
public final class UpCommand implements Callable<Integer> {
    @Option(names = "--model", paramLabel = "DIR|ORG/NAME", description = "Model directory or Hub id (default: the bundled testdata/tiny-llava).")
    String model;

    @Option(names = "--port", defaultValue = "8080", description = "Gateway HTTP port (default: ${DEFAULT-VALUE}).")
    int port;

    @Option(names = "--backend", defaultValue = "cpu", description = "cpu or cuda (default: ${DEFAULT-VALUE}).")
    String backend;

    @Option(names = "--device", defaultValue = "0", description = "CUDA device of every model service (default: ${DEFAULT-VALUE}).")
    int device;

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "Address every service binds (default: ${DEFAULT-VALUE}).")
    String host;

    @Option(names = "--services", split = ",", paramLabel = "NAME",
            description = "Services to start, comma-separated (default: vision,projector,decoder,gateway).")
    List<String> services;

    @Option(names = "-D", paramLabel = "KEY=VALUE", description = "A configuration property for every service, e.g. -Dvqwen.decoder.max-running=16.")
    Map<String, String> properties = new LinkedHashMap<>();

    @Option(names = "--log-dir", paramLabel = "DIR", description = "Write each service's log to DIR/NAME.log instead of this terminal.")
    Path logDir;

    /** Where the logs go: --log-dir, or a temporary directory whose files are echoed here with a prefix. */
    private Path logs;
    private boolean echo;

    @Option(names = "--drain-seconds", defaultValue = "30", description = "How long each service may drain on stop (default: ${DEFAULT-VALUE}).")
    int drainSeconds;

    private final PrintStream out = System.out;
    private final Object printLock = new Object();
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> Thread.ofPlatform().daemon().name("vqwen-up-timer").unstarted(r));
    private final CountDownLatch stopped = new CountDownLatch(1);
    private volatile boolean stopping;

    @Override
    public Integer call() throws Exception {
        if (port < 1 || port + 1003 > 65535) throw new IllegalArgumentException("--port must be in [1, 64532], got " + port);
        if (!backend.equals("cpu") && !backend.equals("cuda")) throw new IllegalArgumentException("--backend must be cpu or cuda, got " + backend);
        Path repo = MeshLayout.findRepo();
        String modelArg = resolveModel(repo);
        List<MeshService> selected = new ArrayList<>();
        for (String s : services == null ? List.of("vision", "projector", "decoder", "gateway") : services) {
            MeshService m = MeshService.byId(s.trim());
            if (!selected.contains(m)) selected.add(m);
        }
        MeshLayout layout = new MeshLayout(repo, MeshLayout.conventionalPorts(port), host);
        for (MeshService s : selected) layout.requireBuilt(s);
        checkPortsFree(layout, selected);
        echo = logDir == null;
        logs = logDir != null ? Files.createDirectories(logDir) : Files.createTempDirectory("vqwen-up-");
        for (MeshService s : selected) Files.deleteIfExists(logs.resolve(s.id() + ".log"));

        Map<String, String> props = new LinkedHashMap<>();
        props.put("vqwen.device", Integer.toString(device));
        props.put("vqwen.shutdown.drain-seconds", Integer.toString(drainSeconds));
        props.putAll(properties);

        Map<MeshService, Supervised> running = new EnumMap<>(MeshService.class);
        for (MeshService s : selected) running.put(s, new Supervised(s, layout.command(s, modelArg, backend, props), layout.ports(s)));
        Runtime.getRuntime().addShutdownHook(Thread.ofPlatform().name("vqwen-up-stop").unstarted(() -> stopAll(running)));

        printPlan(layout, selected, modelArg);
        for (Supervised s : running.values()) s.start();
        Thread.ofPlatform().daemon().name("vqwen-up-health").start(() -> watchReadiness(running));
        stopped.await();
        return 0;
    }

    private String resolveModel(Path repo) {
        if (model == null) return repo.resolve("testdata/tiny-llava").toString();
        Path p = Path.of(model);
        // Children run from another directory: hand them an absolute path when the argument is a local directory.
        return Files.isDirectory(p) ? p.toAbsolutePath().normalize().toString() : model;
    }

    private void checkPortsFree(MeshLayout layout, List<MeshService> selected) throws IOException {
        InetAddress addr = InetAddress.getByName(host);
        List<String> busy = new ArrayList<>();
        for (MeshService s : selected) {
            Ports p = layout.ports(s);
            for (int n : new int[] {p.http(), p.grpc()}) {
                try (ServerSocket socket = new ServerSocket(n, 1, addr)) {
                    socket.setReuseAddress(true);
                } catch (IOException e) {
                    busy.add(n + " (" + s.id() + (n == p.http() ? " HTTP" : " gRPC") + ")");
                }
            }
        }
        if (!busy.isEmpty()) {
            throw new IllegalStateException("port(s) already in use on " + host + ": " + String.join(", ", busy) + "; pick another base with --port");
        }
    }

    private void printPlan(MeshLayout layout, List<MeshService> selected, String modelArg) {
        say("vqwen up: model " + modelArg + ", backend " + backend + (backend.equals("cuda") ? " (device " + device + ")" : ""));
        for (MeshService s : selected) {
            Ports p = layout.ports(s);
            String what = switch (s) {
                case GATEWAY -> "OpenAI API http://" + host + ":" + p.http() + "/v1/chat/completions, public gRPC ChatService";
                case VISION -> "gRPC VisionService";
                case PROJECTOR -> "gRPC ProjectorService";
                case DECODER -> "gRPC DecoderService";
            };
            say(String.format("  %-9s http://%s:%d  grpc %s:%d  (%s)", s.id(), host, p.http(), host, p.grpc(), what));
        }
        say("  health: /q/health/{started,ready,live}, metrics: /q/metrics on each HTTP port");
        say("  logs: " + logs.toAbsolutePath() + "/NAME.log" + (echo ? ", and below, prefixed with the service name" : ""));
        say("Ctrl-C stops everything.");
    }

    /** Prints each service's readiness when it changes, so a restart shows up as DOWN then ready again. */
    private void watchReadiness(Map<MeshService, Supervised> running) {
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(1)).build();
        Map<MeshService, Boolean> last = new EnumMap<>(MeshService.class);
        long t0 = System.nanoTime();
        boolean announced = false;
        while (!stopping) {
            boolean all = true;
            for (Supervised s : running.values()) {
                boolean ready = isReady(http, s.ports.http());
                all &= ready;
                Boolean before = last.put(s.service, ready);
                if (before == null && !ready) continue;
                if (before == null || before != ready) {
                    say(String.format("[up] %s %s (%.1f s)", s.service.id(), ready ? "ready" : "NOT ready", (System.nanoTime() - t0) / 1e9));
                }
            }
            if (all && !announced) {
                announced = true;
                Supervised gw = running.get(MeshService.GATEWAY);
                say("[up] mesh ready" + (gw != null ? ": try curl http://" + host + ":" + gw.ports.http() + "/v1/models" : ""));
            }
            sleep(1000);
        }
    }

    private static boolean isReady(HttpClient http, int port) {
        try {
            HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/q/health/ready")).timeout(Duration.ofSeconds(2)).build();
            return http.send(req, HttpResponse.BodyHandlers.discarding()).statusCode() == 200;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** The gateway first (no new requests), then the services behind it; each gets SIGTERM and its drain time. */
    private void stopAll(Map<MeshService, Supervised> running) {
        if (stopping) return;
        stopping = true;
        say("[up] stopping: gateway first, then decoder, projector, vision");
        for (MeshService s : new MeshService[] {MeshService.GATEWAY, MeshService.DECODER, MeshService.PROJECTOR, MeshService.VISION}) {
            Supervised sv = running.get(s);
            if (sv != null) sv.stop(Duration.ofSeconds(drainSeconds + 10L));
        }
        say("[up] stopped");
        stopped.countDown();
    }

    private void say(String line) {
        synchronized (printLock) {
            out.println(line);
            out.flush();
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** One service process and its restarts. */
    private final class Supervised {
        final MeshService service;
        final List<String> command;
        final Ports ports;
        private volatile Process process;
        private final Path log;
        private Thread tailer;
        private volatile boolean tailing = true;
        private long startedAt;
        private long backoffMs = 1000;
        private int restarts;

        Supervised(MeshService service, List<String> command, Ports ports) {
            this.service = service;
            this.command = command;
            this.ports = ports;
            this.log = logs.resolve(service.id() + ".log");
        }

        synchronized void start() {
            if (stopping) return;
            ProcessBuilder pb = new ProcessBuilder(command);
            pb.environment().putAll(MeshLayout.environment());
            pb.redirectErrorStream(true);
            // A file, not a pipe: the JDK's pipe from a child can drop the last lines when the child exits (its drain log).
            pb.redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
            Process p;
            try {
                p = pb.start();
            } catch (IOException e) {
                say("[up] " + service.id() + ": cannot start: " + e.getMessage() + "; retrying in " + backoffMs / 1000 + " s");
                scheduleRestart();
                return;
            }
            process = p;
            startedAt = System.nanoTime();
            if (echo && tailer == null) tailer = Thread.ofPlatform().daemon().name("vqwen-up-" + service.id() + "-log").start(this::tail);
            p.onExit().thenAccept(this::exited);
        }

        /** Echoes the log file's new lines with the service's prefix, across restarts, until stopped. */
        private void tail() {
            String prefix = String.format("%-9s| ", service.id());
            ByteArrayOutputStream line = new ByteArrayOutputStream();
            byte[] buf = new byte[8192];
            try (InputStream in = Files.newInputStream(log)) {
                while (true) {
                    int n = in.read(buf);
                    if (n < 0) {
                        if (!tailing) break;
                        sleep(100);
                        continue;
                    }
                    for (int i = 0; i < n; i++) {
                        if (buf[i] == '\n') {
                            say(prefix + line.toString(StandardCharsets.UTF_8));
                            line.reset();
                        } else {
                            line.write(buf[i]);
                        }
                    }
                }
                if (line.size() > 0) say(prefix + line.toString(StandardCharsets.UTF_8));
            } catch (IOException e) {
                say("[up] " + service.id() + ": cannot read its log " + log + ": " + e.getMessage());
            }
        }

        private synchronized void exited(Process p) {
            if (stopping || p != process) return;
            double uptime = (System.nanoTime() - startedAt) / 1e9;
            if (uptime > 60) backoffMs = 1000;
            restarts++;
            say(String.format("[up] %s exited with code %d after %.1f s; restarting in %d s (restart %d)", service.id(), p.exitValue(), uptime,
                    backoffMs / 1000, restarts));
            scheduleRestart();
        }

        private void scheduleRestart() {
            long delay = backoffMs;
            backoffMs = Math.min(backoffMs * 2, 30_000);
            timer.schedule(this::start, delay, TimeUnit.MILLISECONDS);
        }

        void stop(Duration deadline) {
            Process p;
            synchronized (this) {
                p = process;
            }
            if (p == null || !p.isAlive()) return;
            p.destroy(); // SIGTERM: the service drains
            try {
                if (!p.waitFor(deadline.toMillis(), TimeUnit.MILLISECONDS)) {
                    say("[up] " + service.id() + " did not stop within " + deadline.toSeconds() + " s; killing it");
                    p.destroyForcibly();
                    p.waitFor(5, TimeUnit.SECONDS);
                }
                // Echo its last lines (the drain) before this JVM exits.
                tailing = false;
                if (tailer != null) tailer.join(5000);
            } catch (InterruptedException e) {
                p.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
    }
}
