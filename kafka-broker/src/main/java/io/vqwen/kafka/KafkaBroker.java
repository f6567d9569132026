package io.vqwen.kafka;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A real single-node Apache Kafka broker (KRaft, broker + controller in one process) in a child JVM, bound to
 * 127.0.0.1. Nothing is downloaded at run time: the broker's classpath is the Kafka 4.4.0 jars this module's build
 * resolved from Maven Central (see {@link #brokerClasspath()}).
 *
 * <p>Tests start one per test class with {@link #start()} (a temp data dir, deleted by {@link #close()});
 * {@code ./vqwen up} calls {@link #startLocal(Path)} (a data dir that survives restarts). {@link #stop()},
 * {@link #kill()} and {@link #restart()} keep the ports and the data, so clients reconnect to the same address and
 * find their topics and committed offsets again.
 */
public final class KafkaBroker implements AutoCloseable {
    /** Name of the properties file in the data dir that remembers the ports across {@code startLocal} runs. */
    static final String STATE_FILE = "vqwen-broker.properties";
    private static final Duration START_TIMEOUT = Duration.ofSeconds(90);
    private static final Duration STOP_TIMEOUT = Duration.ofSeconds(30);

    private final Path dataDir;
    private final boolean deleteOnClose;
    private final int port;
    private final int controllerPort;
    private final Path serverProperties;
    private final List<String> jvmOptions;
    private volatile Process process;
    private boolean hooked;

    private KafkaBroker(Path dataDir, boolean deleteOnClose, int port, int controllerPort, Map<String, String> overrides,
                        List<String> jvmOptions) throws IOException {
        this.dataDir = dataDir;
        this.deleteOnClose = deleteOnClose;
        this.port = port;
        this.controllerPort = controllerPort;
        this.jvmOptions = List.copyOf(jvmOptions);
        this.serverProperties = dataDir.resolve("server.properties");
        writeServerProperties(overrides);
        writeLog4jConfig();
    }

    /** A broker on free loopback ports with its data in a fresh temp dir that {@link #close()} deletes. */
    public static KafkaBroker start() throws IOException {
        return start(Map.of());
    }

    /**
     * A broker on free loopback ports with its data in a fresh temp dir that {@link #close()} deletes.
     *
     * @param overrides broker settings written over the defaults (e.g. {@code num.partitions})
     */
    public static KafkaBroker start(Map<String, String> overrides) throws IOException {
        Path dir = Files.createTempDirectory("vqwen-kafka-");
        KafkaBroker b = new KafkaBroker(dir, true, freePort(), freePort(), overrides, defaultJvmOptions());
        b.format();
        b.launch();
        return b;
    }

    /**
     * The broker of {@code ./vqwen up}: data (topics, offsets, results) in {@code dataDir}, kept across runs. The
     * first run formats the storage and remembers its ports in {@value #STATE_FILE}; later runs take the same ports
     * again when they are free (so a client configured with the old address still reaches it), else new ones.
     * {@link #close()} stops the broker and leaves the data.
     */
    public static KafkaBroker startLocal(Path dataDir) throws IOException {
        Files.createDirectories(dataDir);
        Path state = dataDir.resolve(STATE_FILE);
        Properties remembered = new Properties();
        if (Files.exists(state)) {
            try (InputStream in = Files.newInputStream(state)) {
                remembered.load(in);
            }
        }
        int port = reusePort(remembered.getProperty("port"));
        int controllerPort = reusePort(remembered.getProperty("controller.port"));
        KafkaBroker b = new KafkaBroker(dataDir, false, port, controllerPort, Map.of(), defaultJvmOptions());
        // Formatting twice would refuse (meta.properties exists); a formatted dir keeps its cluster id.
        if (!Files.exists(b.logDir().resolve("meta.properties"))) b.format();
        Properties p = new Properties();
        p.setProperty("port", Integer.toString(port));
        p.setProperty("controller.port", Integer.toString(controllerPort));
        try (var out = Files.newOutputStream(state)) {
            p.store(out, "Ports of the local vqwen Kafka broker, reused by the next ./vqwen up when free");
        }
        b.launch();
        return b;
    }

    /**
     * Runs a broker in the foreground until this JVM is stopped: {@code java -cp <this jar> io.vqwen.kafka.KafkaBroker
     * [DATA_DIR]} (a temp dir when none is given). Prints its bootstrap address.
     */
    public static void main(String[] args) throws Exception {
        KafkaBroker b = args.length > 0 ? startLocal(Path.of(args[0])) : start();
        Runtime.getRuntime().addShutdownHook(Thread.ofPlatform().unstarted(b::close));
        System.out.println(b.bootstrapServers());
        System.out.flush();
        Thread.currentThread().join();
    }

    /** {@code 127.0.0.1:<port>}, for {@code bootstrap.servers}. */
    public String bootstrapServers() {
        return "127.0.0.1:" + port;
    }

    public int port() {
        return port;
    }

    public Path dataDir() {
        return dataDir;
    }

    /** The broker's own log (log4j), useful when a test fails. */
    public Path logFile() {
        return dataDir.resolve("broker.log");
    }

    public synchronized boolean isRunning() {
        return process != null && process.isAlive();
    }

    /** Stops the broker with SIGTERM (a controlled shutdown that flushes its logs), waiting for it to exit. */
    public synchronized void stop() {
        if (process == null) return;
        process.destroy();
        try {
            if (!process.waitFor(STOP_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
        }
        process = null;
    }

    /** Kills the broker with SIGKILL, as a crash would: no flush, no controlled shutdown. */
    public synchronized void kill() {
        if (process == null) return;
        process.destroyForcibly();
        try {
            process.waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        process = null;
    }

    /** Stops the broker if it runs, then starts it again on the same ports and data; returns once it serves. */
    public synchronized void restart() throws IOException {
        stop();
        launch();
    }

    /** Stops the broker; a temp data dir from {@link #start()} is deleted. */
    @Override
    public synchronized void close() {
        stop();
        if (deleteOnClose) deleteTree(dataDir);
    }

    // ------------------------------------------------------------------ process

    private Path logDir() {
        return dataDir.resolve("kafka-logs");
    }

    private void format() throws IOException {
        // StorageTool writes meta.properties and the bootstrap metadata; --standalone makes this node the only voter.
        List<String> cmd = javaCommand("kafka.tools.StorageTool");
        cmd.addAll(List.of("format", "--standalone", "-t", randomClusterId(), "-c", serverProperties.toString()));
        Path out = dataDir.resolve("format.out");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile()).start();
        try {
            if (!p.waitFor(START_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("Formatting the Kafka storage in " + logDir() + " did not finish within " + START_TIMEOUT);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            p.destroyForcibly();
            throw new IOException("Interrupted while formatting the Kafka storage", e);
        }
        if (p.exitValue() != 0) {
            throw new IOException("Formatting the Kafka storage in " + logDir() + " failed (exit " + p.exitValue() + "): "
                    + Files.readString(out).strip());
        }
    }

    private synchronized void launch() throws IOException {
        if (isRunning()) return;
        List<String> cmd = javaCommand(BrokerMain.class.getName());
        cmd.add(Long.toString(ProcessHandle.current().pid()));
        cmd.add(serverProperties.toString());
        process = new ProcessBuilder(cmd)
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(dataDir.resolve("broker.out").toFile()))
                .start();
        Process started = process;
        if (!hooked) {
            // A JVM that exits without close() must not leave a broker behind (BrokerMain also watches for a SIGKILL).
            Runtime.getRuntime().addShutdownHook(Thread.ofPlatform().unstarted(() -> {
                Process p = process;
                if (p != null) p.destroy();
            }));
            hooked = true;
        }
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        String lastProblem = "no answer yet";
        while (System.nanoTime() < deadline) {
            if (!started.isAlive()) {
                process = null;
                throw new IOException("The Kafka broker exited with code " + started.exitValue() + " while starting; see "
                        + dataDir.resolve("broker.out") + " and " + logFile() + ": " + tail(dataDir.resolve("broker.out")));
            }
            try {
                int brokers = KafkaProbe.liveBrokers(new InetSocketAddress(InetAddress.getLoopbackAddress(), port),
                        Duration.ofSeconds(2));
                if (brokers > 0) return;
                lastProblem = "the broker answers but is not registered yet (0 live brokers in its metadata)";
            } catch (IOException e) {
                lastProblem = e.getMessage();
            }
            sleep(100);
        }
        kill();
        throw new IOException("The Kafka broker on " + bootstrapServers() + " did not start serving within " + START_TIMEOUT
                + " (" + lastProblem + "); see " + logFile());
    }

    private List<String> javaCommand(String mainClass) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(jvmOptions);
        cmd.add("-Dlog4j2.configurationFile=" + dataDir.resolve("log4j2.properties"));
        cmd.add("-cp");
        cmd.add(brokerClasspath());
        cmd.add(mainClass);
        return cmd;
    }

    private static List<String> defaultJvmOptions() {
        // Small and quick: a test broker carries kilobytes per second. SerialGC leaves the CPU to the model.
        return List.of("-Xms64m", "-Xmx512m", "-XX:+UseSerialGC", "-Djava.awt.headless=true");
    }

    // ------------------------------------------------------------------ files

    private void writeServerProperties(Map<String, String> overrides) throws IOException {
        Map<String, String> p = new LinkedHashMap<>();
        p.put("process.roles", "broker,controller");
        p.put("node.id", "1");
        p.put("controller.quorum.bootstrap.servers", "127.0.0.1:" + controllerPort);
        p.put("listeners", "PLAINTEXT://127.0.0.1:" + port + ",CONTROLLER://127.0.0.1:" + controllerPort);
        p.put("advertised.listeners", "PLAINTEXT://127.0.0.1:" + port);
        p.put("controller.listener.names", "CONTROLLER");
        p.put("inter.broker.listener.name", "PLAINTEXT");
        p.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
        p.put("log.dirs", logDir().toString());
        // One node: every internal topic has one replica.
        p.put("offsets.topic.replication.factor", "1");
        p.put("offsets.topic.num.partitions", "1");
        p.put("transaction.state.log.replication.factor", "1");
        p.put("transaction.state.log.min.isr", "1");
        p.put("share.coordinator.state.topic.replication.factor", "1");
        p.put("share.coordinator.state.topic.min.isr", "1");
        p.put("min.insync.replicas", "1");
        p.put("group.initial.rebalance.delay.ms", "0");
        // Applications create their topics with the partitions they want; a typo must not make a new topic.
        p.put("auto.create.topics.enable", "false");
        p.putAll(overrides);
        StringBuilder sb = new StringBuilder("# Written by io.vqwen.kafka.KafkaBroker\n");
        p.forEach((k, v) -> sb.append(k).append('=').append(v.replace("\\", "\\\\")).append('\n'));
        Files.writeString(serverProperties, sb.toString());
    }

    private void writeLog4jConfig() throws IOException {
        String path = logFile().toString().replace("\\", "\\\\");
        Files.writeString(dataDir.resolve("log4j2.properties"), """
                # The broker logs to broker.log in its data dir; only warnings reach the parent's console file.
                rootLogger.level = INFO
                rootLogger.appenderRef.file.ref = file
                appender.file.type = File
                appender.file.name = file
                appender.file.fileName = %s
                appender.file.layout.type = PatternLayout
                appender.file.layout.pattern = [%%d] %%p %%m (%%c)%%n
                logger.kafka.name = kafka
                logger.kafka.level = INFO
                logger.org.name = org.apache.kafka
                logger.org.level = INFO
                logger.zk.name = state.change.logger
                logger.zk.level = WARN
                """.formatted(path));
    }

    /**
     * The broker's classpath, in this order of preference:
     * <ol>
     *   <li>the folder named by system property {@code vqwen.kafka.libs} or env {@code VQWEN_KAFKA_LIBS};</li>
     *   <li>{@code target/kafka-libs} beside this module's classes or jar (the build copies the jars there);</li>
     *   <li>the jars in the local Maven repository that this module's build resolved, listed in
     *       {@code kafka-classpath.txt} inside the jar (for a jar copied elsewhere, like the CLI's lib folder).</li>
     * </ol>
     * This module's own classes come first, for {@link BrokerMain}.
     */
    static String brokerClasspath() {
        Path self = selfLocation();
        String sep = java.io.File.pathSeparator;
        String configured = System.getProperty("vqwen.kafka.libs", System.getenv("VQWEN_KAFKA_LIBS"));
        if (configured != null && !configured.isBlank()) {
            Path dir = Path.of(configured);
            if (!Files.isDirectory(dir)) throw new IllegalStateException("vqwen.kafka.libs=" + dir + " is not a directory");
            return self + sep + dir.resolve("*");
        }
        // target/classes or target/vqwen-kafka-broker-*.jar: both have target/ as parent.
        Path beside = self.getParent() == null ? null : self.getParent().resolve("kafka-libs");
        if (beside != null && Files.isDirectory(beside)) return self + sep + beside.resolve("*");
        try (InputStream in = KafkaBroker.class.getResourceAsStream("kafka-classpath.txt")) {
            if (in == null) throw new IllegalStateException("kafka-classpath.txt is missing from " + self + "; rebuild kafka-broker");
            String listed = new String(in.readAllBytes(), StandardCharsets.UTF_8).strip();
            for (String jar : listed.split(java.util.regex.Pattern.quote(sep))) {
                if (!Files.exists(Path.of(jar))) {
                    throw new IllegalStateException("The Kafka broker jar " + jar + " is not in the local Maven repository; run "
                            + "./mvnw -pl kafka-broker install, or point vqwen.kafka.libs at a folder of the broker's jars");
                }
            }
            return self + sep + listed;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Path selfLocation() {
        try {
            return Path.of(KafkaBroker.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    // ------------------------------------------------------------------ helpers

    /** Kafka's cluster id format: 16 random bytes, URL-safe base64 without padding, not starting with '-'. */
    private static String randomClusterId() {
        SecureRandom r = new SecureRandom();
        byte[] b = new byte[16];
        String id;
        do {
            r.nextBytes(b);
            id = Base64.getUrlEncoder().withoutPadding().encodeToString(b);
        } while (id.startsWith("-"));
        return id;
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private static int reusePort(String remembered) throws IOException {
        if (remembered != null) {
            int p = Integer.parseInt(remembered.strip());
            try (ServerSocket s = new ServerSocket(p, 1, InetAddress.getLoopbackAddress())) {
                return p;
            } catch (IOException taken) {
                // Someone else holds it now: take another one.
            }
        }
        return freePort();
    }

    private static String tail(Path file) {
        try {
            List<String> lines = Files.readAllLines(file);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 15), lines.size()));
        } catch (IOException e) {
            return "(" + file + " unreadable: " + e.getMessage() + ")";
        }
    }

    private static void sleep(long ms) throws IOException {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("Interrupted while waiting for the Kafka broker", e);
        }
    }

    private static void deleteTree(Path dir) {
        if (!Files.exists(dir)) return;
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException ignored) {
                    // Best effort: a temp dir left behind is harmless.
                }
            });
        } catch (IOException ignored) {
            // Same.
        }
    }
}
