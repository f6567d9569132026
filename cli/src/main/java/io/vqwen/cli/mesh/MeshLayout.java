package io.vqwen.cli.mesh;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * How to start the services of a local mesh as processes: where their built apps are, which ports they take, and
 * the command line that wires them together on loopback. Used by {@code ./vqwen up} and by the mesh test harness,
 * so that both start the services the same way.
 */
public final class MeshLayout {
    /** What every JVM that runs the engine needs (the root pom's vqwen.jvm.flags; VQWEN_JVM_FLAGS in the launcher). */
    public static final String DEFAULT_JVM_FLAGS = "--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC";
    /** The caption worker runs no engine: a small heap, and SerialGC leaves the cores to the model services. */
    public static final List<String> CAPTION_WORKER_JVM_FLAGS = List.of("-Xmx512m", "-XX:+UseSerialGC");
    /** The caption worker's HTTP port (job API, health, metrics) from the gateway's: 8084 beside 8080. It serves no gRPC. */
    public static final int CAPTION_WORKER_PORT_OFFSET = 4;
    /** Module of the caption worker, which consumes Kafka jobs and runs them through the gateway's gRPC chat. */
    public static final String CAPTION_WORKER_MODULE = "caption-worker";

    /** HTTP and gRPC port of one service. */
    public record Ports(int http, int grpc) {
    }

    private final Path repo;
    private final Map<MeshService, Ports> ports;
    private final String host;

    public MeshLayout(Path repo, Map<MeshService, Ports> ports, String host) {
        this.repo = repo;
        this.ports = new EnumMap<>(ports);
        this.host = host;
    }

    /** The conventional ports, shifted so that the gateway's HTTP port is {@code gatewayHttp}. */
    public static Map<MeshService, Ports> conventionalPorts(int gatewayHttp) {
        Map<MeshService, Ports> m = new EnumMap<>(MeshService.class);
        for (MeshService s : MeshService.values()) {
            int http = gatewayHttp + s.portOffset();
            m.put(s, new Ports(http, http + 1000));
        }
        return m;
    }

    /**
     * The repository root: {@code -Dvqwen.home} (set by the ./vqwen launcher), {@code -Dvqwen.repo.root} (set by the
     * tests), else the first parent of the working directory that holds the service modules.
     */
    /**
     * A random base port in [20000, 40000) such that base + each offset is free on loopback right now (tests start
     * meshes on derived ports, as {@link #conventionalPorts} lays them out).
     */
    public static int freeBasePort(int... offsets) {
        for (int attempt = 0; attempt < 100; attempt++) {
            int base = java.util.concurrent.ThreadLocalRandom.current().nextInt(20000, 40000);
            boolean free = true;
            for (int off : offsets) {
                try (java.net.ServerSocket s = new java.net.ServerSocket(base + off, 1, java.net.InetAddress.getLoopbackAddress())) {
                    s.setReuseAddress(true);
                } catch (java.io.IOException e) {
                    free = false;
                    break;
                }
            }
            if (free) return base;
        }
        throw new IllegalStateException("no free port range on loopback");
    }

    public static Path findRepo() {
        for (String prop : new String[] {"vqwen.home", "vqwen.repo.root"}) {
            String v = System.getProperty(prop);
            if (v != null && !v.isBlank()) return Path.of(v).toAbsolutePath().normalize();
        }
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            if (Files.isDirectory(dir.resolve("decoder-service")) && Files.isRegularFile(dir.resolve("pom.xml"))) return dir;
        }
        throw new IllegalStateException("cannot find the vqwen repository from " + Path.of("").toAbsolutePath()
                + "; run from inside it or set -Dvqwen.home");
    }

    public Path repo() {
        return repo;
    }

    public Ports ports(MeshService s) {
        return ports.get(s);
    }

    public String host() {
        return host;
    }

    /** The Quarkus fast-jar launcher of a service. */
    public Path runJar(MeshService s) {
        return runJar(s.module());
    }

    /** Fails with the build command when a service has not been built. */
    public void requireBuilt(MeshService s) {
        requireBuilt(s.module());
    }

    /** Fails with the build command when the caption worker has not been built. */
    public void requireCaptionWorkerBuilt() {
        requireBuilt(CAPTION_WORKER_MODULE);
    }

    private Path runJar(String module) {
        return repo.resolve(module).resolve("target/quarkus-app/quarkus-run.jar");
    }

    private void requireBuilt(String module) {
        if (!Files.isRegularFile(runJar(module))) {
            throw new IllegalStateException(module + " is not built (" + repo.relativize(runJar(module)) + " is missing); build it with: ./mvnw -pl "
                    + module + " -am package -DskipTests");
        }
    }

    /**
     * The command line of one service: the engine's JVM flags, its own ports on {@code host}, every peer's gRPC
     * address (each service takes the clients it needs), the model and backend, then {@code properties} (which
     * override everything above).
     */
    public List<String> command(MeshService s, String model, String backend, Map<String, String> properties) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        String flags = System.getenv("VQWEN_JVM_FLAGS");
        cmd.addAll(Arrays.asList((flags == null || flags.isBlank() ? DEFAULT_JVM_FLAGS : flags).trim().split("\\s+")));
        Map<String, String> p = new LinkedHashMap<>();
        Ports own = ports.get(s);
        p.put("quarkus.http.host", host);
        p.put("quarkus.http.port", Integer.toString(own.http()));
        p.put("quarkus.grpc.server.host", host);
        p.put("quarkus.grpc.server.port", Integer.toString(own.grpc()));
        for (Map.Entry<MeshService, Ports> e : ports.entrySet()) {
            if (e.getKey() == MeshService.GATEWAY || e.getKey() == s) continue;
            p.put("quarkus.grpc.clients." + e.getKey().id() + ".host", host);
            p.put("quarkus.grpc.clients." + e.getKey().id() + ".port", Integer.toString(e.getValue().grpc()));
        }
        if (model != null) p.put("vqwen.model", model);
        if (backend != null) p.put("vqwen.backend", backend);
        p.putAll(properties);
        p.forEach((k, v) -> cmd.add("-D" + k + "=" + v));
        cmd.add("-Djava.util.logging.manager=org.jboss.logmanager.LogManager");
        cmd.add("-jar");
        cmd.add(runJar(s).toString());
        return cmd;
    }

    /**
     * The command line of the caption worker: its job API on {@code host:httpPort}, its chat client pointed at the
     * gateway's public gRPC port, then {@code properties} (which override both). Kafka's address is not here: the
     * worker reads it from {@code KAFKA_BOOTSTRAP_SERVERS} or {@code kafka.bootstrap.servers}.
     */
    public List<String> captionWorkerCommand(int httpPort, Map<String, String> properties) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(CAPTION_WORKER_JVM_FLAGS);
        Map<String, String> p = new LinkedHashMap<>();
        p.put("quarkus.http.host", host);
        p.put("quarkus.http.port", Integer.toString(httpPort));
        p.put("quarkus.grpc.clients.chat.host", host);
        p.put("quarkus.grpc.clients.chat.port", Integer.toString(ports.get(MeshService.GATEWAY).grpc()));
        p.putAll(properties);
        p.forEach((k, v) -> cmd.add("-D" + k + "=" + v));
        cmd.add("-Djava.util.logging.manager=org.jboss.logmanager.LogManager");
        cmd.add("-jar");
        cmd.add(runJar(CAPTION_WORKER_MODULE).toString());
        return cmd;
    }

    /** The environment a service needs on top of ours: DJL must not download or phone home. */
    public static Map<String, String> environment() {
        return Map.of("DJL_OFFLINE", "true", "OPT_OUT_TRACKING", "true", "RUST_FLAVOR", "cpu");
    }
}
