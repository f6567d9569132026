package io.vqwen.cli;

import io.vqwen.cli.mesh.MeshLayout;
import io.vqwen.cli.mesh.MeshLayout.Ports;
import io.vqwen.cli.mesh.MeshService;
import io.vqwen.kafka.KafkaBroker;
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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import sun.misc.Signal;

/**
 * {@code ./vqwen up}: the whole mesh on this machine, one process per service on loopback, as in a cluster, plus
 * the async captioning queue: the caption worker, and a local single-node Kafka broker for it unless a cluster is
 * configured. Supervises them: a service that dies is restarted with exponential backoff (1 s doubling to 30 s, reset
 * after a minute of uptime) and the restart is logged; so is the broker. SIGTERM (or SIGINT) stops the worker first
 * (its running jobs still reach the gateway and Kafka), then the gateway, then the model services, each with SIGTERM
 * so it drains and SIGKILL only after the drain deadline, and the broker last, keeping its data. (Ctrl-C in a
 * terminal also reaches every child at once, as one process group; each then stops on its own.)
 */
@Command(name = "up", mixinStandardHelpOptions = true,
        description = {"Start the local mesh: vision, projector, decoder, gateway and the caption worker as separate processes on loopback.",
                "Ports: gateway PORT (gRPC PORT+1000), vision PORT+1, projector PORT+2, decoder PORT+3 (gRPC +1000 each), worker PORT+4.",
                "Kafka for the worker: a local single-node broker (data kept in --kafka-dir) unless --kafka-bootstrap or KAFKA_BOOTSTRAP_SERVERS names a cluster; --no-kafka starts neither the broker nor the worker.",
                "A service that dies is restarted with backoff. Ctrl-C or SIGTERM stops everything."})
public final class UpCommand implements Callable<Integer> {
    /** Name of the caption worker in --services, logs and messages (it is no {@link MeshService}: it needs Kafka). */
    static final String WORKER = "worker";
    private static final List<String> ALL_SERVICES = List.of("vision", "projector", "decoder", "gateway", WORKER);

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
            description = "Services to start, comma-separated (default: vision,projector,decoder,gateway,worker; worker only with Kafka).")
    List<String> services;

    @Option(names = "--kafka-bootstrap", paramLabel = "HOST:PORT[,...]",
            description = "A running Kafka cluster for the caption worker (default: env KAFKA_BOOTSTRAP_SERVERS); then no local broker is started.")
    String kafkaBootstrap;

    @Option(names = "--kafka-dir", paramLabel = "DIR",
            description = "Data of the local Kafka broker, kept across runs (default: ~/.cache/vqwen/kafka).")
    Path kafkaDir;

    @Option(names = "--no-kafka", description = "Start neither the local Kafka broker nor the caption worker (the gateway's /v1/jobs then answers 503).")
    boolean noKafka;

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
    /** The signal that stopped us (15 SIGTERM, 2 SIGINT), for the exit status 128 + n that a shell expects; 0: none. */
    private volatile int signalled;

    @Override
    public Integer call() throws Exception {
        if (port < 1 || port + 1003 > 65535) throw new IllegalArgumentException("--port must be in [1, 64532], got " + port);
        if (!backend.equals("cpu") && !backend.equals("cuda")) throw new IllegalArgumentException("--backend must be cpu or cuda, got " + backend);
        if (noKafka && kafkaBootstrap != null) throw new IllegalArgumentException("--no-kafka and --kafka-bootstrap contradict each other; pick one");
        Path repo = MeshLayout.findRepo();
        String modelArg = resolveModel(repo);
        List<MeshService> selected = new ArrayList<>();
        boolean worker = false;
        for (String s : services == null ? ALL_SERVICES : services) {
            String name = s.trim();
            if (name.equals(WORKER) || name.equals(MeshLayout.CAPTION_WORKER_MODULE)) {
                worker = true;
                continue;
            }
            MeshService m;
            try {
                m = MeshService.byId(name);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("unknown service '" + name + "' in --services (expected " + String.join(", ", ALL_SERVICES) + ")");
            }
            if (!selected.contains(m)) selected.add(m);
        }
        if (noKafka && worker) {
            if (services != null) throw new IllegalArgumentException("--no-kafka leaves the caption worker without Kafka: drop worker from --services or drop --no-kafka");
            worker = false;
        }
        MeshLayout layout = new MeshLayout(repo, MeshLayout.conventionalPorts(port), host);
        int workerPort = port + MeshLayout.CAPTION_WORKER_PORT_OFFSET;
        for (MeshService s : selected) layout.requireBuilt(s);
        if (worker) layout.requireCaptionWorkerBuilt();
        checkPortsFree(layout, selected, worker ? workerPort : -1);
        echo = logDir == null;
        logs = logDir != null ? Files.createDirectories(logDir) : Files.createTempDirectory("vqwen-up-");
        for (MeshService s : selected) Files.deleteIfExists(logs.resolve(s.id() + ".log"));
        if (worker) Files.deleteIfExists(logs.resolve(WORKER + ".log"));

        // Kafka before anything that needs it; a broker that cannot start stops us here, before any service runs.
        Kafka kafka = worker ? startKafka(repo) : null;

        Map<String, String> props = new LinkedHashMap<>();
        props.put("vqwen.device", Integer.toString(device));
        props.put("vqwen.shutdown.drain-seconds", Integer.toString(drainSeconds));
        props.putAll(properties);

        String workerUrl = "http://" + host + ":" + workerPort;
        Map<String, Supervised> running = new LinkedHashMap<>();
        for (MeshService s : selected) {
            Map<String, String> own = props;
            if (s == MeshService.GATEWAY && worker) {
                // The gateway serves /v1/jobs (and the page's Jobs panel) by forwarding to the worker.
                own = new LinkedHashMap<>(props);
                own.putIfAbsent("vqwen.gateway.jobs-url", workerUrl);
            }
            running.put(s.id(), new Supervised(s.id(), layout.command(s, modelArg, backend, own), layout.ports(s).http(), Map.of()));
        }
        if (worker) {
            Map<String, String> own = new LinkedHashMap<>();
            own.put("vqwen.worker.drain-timeout", drainSeconds + "s");
            own.putAll(properties);
            Map<String, String> env = new LinkedHashMap<>();
            env.put("KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrap());
            // With keys on, the gateway's gRPC chat wants one from the worker too; in its environment, not on a command line.
            firstApiKey().ifPresent(k -> env.put("VQWEN_WORKER_API_KEY", k));
            running.put(WORKER, new Supervised(WORKER, layout.captionWorkerCommand(workerPort, own), workerPort, env));
        }
        Runtime.getRuntime().addShutdownHook(Thread.ofPlatform().name("vqwen-up-stop").unstarted(() -> stopAll(running, kafka)));
        // KafkaBroker's own shutdown hook would SIGTERM the broker at the same moment as the worker, whose draining jobs
        // still write their results to it. Taking the signals ourselves, we stop everything in order before the JVM
        // exits; its hooks then find nothing left to stop.
        for (String sig : new String[] {"TERM", "INT"}) {
            try {
                Signal.handle(new Signal(sig), s -> {
                    signalled = s.getNumber();
                    stopAll(running, kafka);
                });
            } catch (IllegalArgumentException notOurs) {
                // Ignored when the JVM started (SIGINT of a background job) or reserved (-Xrs): the shutdown hook remains.
            }
        }

        printPlan(layout, selected, modelArg, worker ? workerUrl : null, kafka);
        for (Supervised s : running.values()) s.start();
        Thread.ofPlatform().daemon().name("vqwen-up-health").start(() -> watchReadiness(running));
        if (kafka != null && kafka.broker() != null) Thread.ofPlatform().daemon().name("vqwen-up-kafka").start(() -> superviseBroker(kafka.broker()));
        stopped.await();
        return signalled == 0 ? 0 : 128 + signalled;
    }

    /** The worker's Kafka: a cluster named by --kafka-bootstrap, -Dkafka.bootstrap.servers or KAFKA_BOOTSTRAP_SERVERS, else a local broker. */
    private record Kafka(String bootstrap, String source, KafkaBroker broker) {
    }

    private Kafka startKafka(Path repo) {
        for (String[] c : new String[][] {{kafkaBootstrap, "--kafka-bootstrap"}, {properties.get("kafka.bootstrap.servers"), "-Dkafka.bootstrap.servers"},
                {System.getenv("KAFKA_BOOTSTRAP_SERVERS"), "KAFKA_BOOTSTRAP_SERVERS"}}) {
            if (c[0] != null && !c[0].isBlank()) return new Kafka(c[0].strip(), c[1], null);
        }
        // The launcher's classpath has KafkaBroker's own jar (cli/target/lib) but not the broker's jars, which the
        // build leaves in kafka-broker/target/kafka-libs. Without them KafkaBroker looks in the local Maven repository.
        Path libs = repo.resolve("kafka-broker/target/kafka-libs");
        if (System.getProperty("vqwen.kafka.libs") == null && System.getenv("VQWEN_KAFKA_LIBS") == null && Files.isDirectory(libs)) {
            System.setProperty("vqwen.kafka.libs", libs.toString());
        }
        Path dir = (kafkaDir != null ? kafkaDir : defaultKafkaDir()).toAbsolutePath().normalize();
        say("[up] starting the local Kafka broker (data in " + dir + ") ...");
        long t0 = System.nanoTime();
        KafkaBroker broker;
        try {
            broker = KafkaBroker.startLocal(dir);
        } catch (IOException | RuntimeException e) {
            throw new IllegalStateException("the local Kafka broker did not start (is another ./vqwen up using " + dir + "? then give this one its own "
                    + "--kafka-dir): " + e.getMessage() + "; or use a running cluster with --kafka-bootstrap HOST:PORT, or start without the caption "
                    + "worker with --no-kafka", e);
        }
        say(String.format("[up] kafka serving on %s (%.1f s)", broker.bootstrapServers(), (System.nanoTime() - t0) / 1e9));
        return new Kafka(broker.bootstrapServers(), "local", broker);
    }

    private static Path defaultKafkaDir() {
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path cache = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return cache.resolve("vqwen").resolve("kafka");
    }

    /** The gateway's first API key (-Dvqwen.api-keys or VQWEN_API_KEYS, comma-separated), if it has any. */
    private Optional<String> firstApiKey() {
        String keys = properties.getOrDefault("vqwen.api-keys", System.getenv("VQWEN_API_KEYS"));
        if (keys == null) return Optional.empty();
        for (String k : keys.split(",")) {
            if (!k.isBlank()) return Optional.of(k.strip());
        }
        return Optional.empty();
    }

    /** Restarts the broker (same port and data) when it dies, with the services' backoff; never once we are stopping. */
    private void superviseBroker(KafkaBroker broker) {
        long backoffMs = 1000;
        while (!stopping) {
            sleep(1000);
            // stopAll's monitor: a restart cannot slip in after stopAll has closed the broker.
            synchronized (this) {
                if (stopping || broker.isRunning()) continue;
                say("[up] kafka broker exited; restarting it on " + broker.bootstrapServers());
                try {
                    broker.restart();
                    say("[up] kafka serving again on " + broker.bootstrapServers());
                    backoffMs = 1000;
                    continue;
                } catch (IOException e) {
                    say("[up] kafka broker did not restart: " + String.valueOf(e.getMessage()).replace('\n', ' ') + "; retrying in " + backoffMs / 1000 + " s");
                }
            }
            sleep(backoffMs);
            backoffMs = Math.min(backoffMs * 2, 30_000);
        }
    }

    private String resolveModel(Path repo) {
        if (model == null) return repo.resolve("testdata/tiny-llava").toString();
        Path p = Path.of(model);
        // Children run from another directory: hand them an absolute path when the argument is a local directory.
        return Files.isDirectory(p) ? p.toAbsolutePath().normalize().toString() : model;
    }

    /** Fails naming every port that is taken; {@code workerPort} -1 when no worker starts. */
    private void checkPortsFree(MeshLayout layout, List<MeshService> selected, int workerPort) throws IOException {
        Map<Integer, String> wanted = new LinkedHashMap<>();
        for (MeshService s : selected) {
            Ports p = layout.ports(s);
            wanted.put(p.http(), s.id() + " HTTP");
            wanted.put(p.grpc(), s.id() + " gRPC");
        }
        if (workerPort > 0) wanted.put(workerPort, WORKER + " HTTP");
        InetAddress addr = InetAddress.getByName(host);
        List<String> busy = new ArrayList<>();
        wanted.forEach((n, what) -> {
            try (ServerSocket socket = new ServerSocket(n, 1, addr)) {
                socket.setReuseAddress(true);
            } catch (IOException e) {
                busy.add(n + " (" + what + ")");
            }
        });
        if (!busy.isEmpty()) {
            throw new IllegalStateException("port(s) already in use on " + host + ": " + String.join(", ", busy) + "; pick another base with --port");
        }
    }

    private void printPlan(MeshLayout layout, List<MeshService> selected, String modelArg, String workerUrl, Kafka kafka) {
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
        if (workerUrl != null) {
            say(String.format("  %-9s %s  (caption worker: job API /v1/jobs, also on the gateway)", WORKER, workerUrl));
            say(String.format("  %-9s %s  (%s)", "kafka", kafka.bootstrap(), kafka.broker() != null
                    ? "local KRaft broker, data kept in " + kafka.broker().dataDir() : "a running cluster, from " + kafka.source()));
        } else if (noKafka) {
            say(String.format("  %-9s off (--no-kafka): no caption worker, /v1/jobs answers 503", "kafka"));
        }
        say("  health: /q/health/{started,ready,live}, metrics: /q/metrics on each HTTP port");
        say("  " + io.vqwen.cli.mesh.TracingPlan.describe(System.getenv(), properties));
        say("  logs: " + logs.toAbsolutePath() + "/NAME.log" + (echo ? ", and below, prefixed with the service name" : ""));
        say("Ctrl-C stops everything.");
    }

    /** Prints each service's readiness when it changes, so a restart shows up as DOWN then ready again. */
    private void watchReadiness(Map<String, Supervised> running) {
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(1)).build();
        Map<String, Boolean> last = new LinkedHashMap<>();
        long t0 = System.nanoTime();
        boolean announced = false;
        while (!stopping) {
            boolean all = true;
            for (Supervised s : running.values()) {
                boolean ready = isReady(http, s.httpPort);
                all &= ready;
                Boolean before = last.put(s.id, ready);
                if (before == null && !ready) continue;
                if (before == null || before != ready) {
                    say(String.format("[up] %s %s (%.1f s)", s.id, ready ? "ready" : "NOT ready", (System.nanoTime() - t0) / 1e9));
                }
            }
            if (all && !announced) {
                announced = true;
                Supervised gw = running.get(MeshService.GATEWAY.id());
                say("[up] mesh ready" + (gw != null ? ": try curl http://" + host + ":" + gw.httpPort + "/v1/models" : ""));
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

    /**
     * The worker first (it takes no new jobs; running ones finish through the gateway and Kafka), then the gateway (no
     * new requests), then the services behind it, each with SIGTERM and its drain time; the local broker last, its
     * data kept.
     */
    private synchronized void stopAll(Map<String, Supervised> running, Kafka kafka) {
        if (stopping) return;
        stopping = true;
        boolean broker = kafka != null && kafka.broker() != null;
        List<String> order = List.of(WORKER, "gateway", "decoder", "projector", "vision").stream().filter(running::containsKey).toList();
        say("[up] stopping: " + String.join(", ", order) + (broker ? ", then the Kafka broker" : ""));
        for (String id : order) running.get(id).stop(Duration.ofSeconds(drainSeconds + 10L));
        if (broker) {
            kafka.broker().close();
            say("[up] kafka broker stopped (data kept in " + kafka.broker().dataDir() + ")");
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
        final String id;
        final List<String> command;
        final int httpPort;
        /** On top of {@link MeshLayout#environment()}. */
        final Map<String, String> env;
        private volatile Process process;
        private final Path log;
        private Thread tailer;
        private volatile boolean tailing = true;
        private long startedAt;
        private long backoffMs = 1000;
        private int restarts;

        Supervised(String id, List<String> command, int httpPort, Map<String, String> env) {
            this.id = id;
            this.command = command;
            this.httpPort = httpPort;
            this.env = env;
            this.log = logs.resolve(id + ".log");
        }

        synchronized void start() {
            if (stopping) return;
            ProcessBuilder pb = new ProcessBuilder(command);
            pb.environment().putAll(MeshLayout.environment());
            pb.environment().putAll(env);
            pb.redirectErrorStream(true);
            // A file, not a pipe: the JDK's pipe from a child can drop the last lines when the child exits (its drain log).
            pb.redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
            Process p;
            try {
                p = pb.start();
            } catch (IOException e) {
                say("[up] " + id + ": cannot start: " + e.getMessage() + "; retrying in " + backoffMs / 1000 + " s");
                scheduleRestart();
                return;
            }
            process = p;
            startedAt = System.nanoTime();
            if (echo && tailer == null) tailer = Thread.ofPlatform().daemon().name("vqwen-up-" + id + "-log").start(this::tail);
            p.onExit().thenAccept(this::exited);
        }

        /** Echoes the log file's new lines with the service's prefix, across restarts, until stopped. */
        private void tail() {
            String prefix = String.format("%-9s| ", id);
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
                say("[up] " + id + ": cannot read its log " + log + ": " + e.getMessage());
            }
        }

        private synchronized void exited(Process p) {
            if (stopping || p != process) return;
            double uptime = (System.nanoTime() - startedAt) / 1e9;
            if (uptime > 60) backoffMs = 1000;
            restarts++;
            say(String.format("[up] %s exited with code %d after %.1f s; restarting in %d s (restart %d)", id, p.exitValue(), uptime,
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
                    say("[up] " + id + " did not stop within " + deadline.toSeconds() + " s; killing it");
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
