package io.vqwen.helm;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Ports and health paths a service really listens on, read from its src/main/resources/application.properties the
 * way Quarkus resolves them in the prod profile. A module that does not exist yet falls back to the project's
 * conventions (gateway 8080/9080, vision 8081/9081, projector 8082/9082, decoder 8083/9083, /q/health/*).
 */
record ServiceConfig(
        String module,
        Path source, // null when the module has no application.properties yet
        int httpPort,
        boolean separateGrpcServer, // false: gRPC (if the service has any) shares the HTTP port
        int grpcPort,
        int healthPort,
        String startedPath,
        String readyPath,
        String livePath,
        String metricsPath,
        Set<String> grpcClients) {

    static ServiceConfig load(Path repo, String module, int conventionalHttpPort, int conventionalGrpcPort) {
        Path file = repo.resolve(module).resolve("src/main/resources/application.properties");
        if (!Files.isRegularFile(file)) {
            return new ServiceConfig(module, null, conventionalHttpPort, true, conventionalGrpcPort, conventionalHttpPort,
                    "/q/health/started", "/q/health/ready", "/q/health/live", "/q/metrics", Set.of());
        }
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            p.load(r);
        } catch (IOException e) {
            throw new AssertionError("cannot read " + file, e);
        }
        Prod c = new Prod(p);
        // Defaults below are Quarkus's own, because that is what the service does when a key is absent.
        int http = Integer.parseInt(c.get("quarkus.http.port", "8080"));
        boolean separateGrpc = Boolean.parseBoolean(c.get("quarkus.grpc.server.use-separate-server", "true"));
        int grpc = separateGrpc ? Integer.parseInt(c.get("quarkus.grpc.server.port", "9000")) : http;

        String appRoot = c.get("quarkus.http.root-path", "/");
        String nonAppRoot = resolve(appRoot, c.get("quarkus.http.non-application-root-path", "q"));
        int healthPort = http;
        if (Boolean.parseBoolean(c.get("quarkus.management.enabled", "false"))) {
            // The management interface moves health and metrics to their own port and root.
            healthPort = Integer.parseInt(c.get("quarkus.management.port", "9000"));
            nonAppRoot = resolve("/", c.get("quarkus.management.root-path", "q"));
        }
        String health = resolve(nonAppRoot, c.get("quarkus.smallrye-health.root-path", "health"));
        String metrics = resolve(nonAppRoot, c.get("quarkus.micrometer.export.prometheus.path", "metrics"));

        Set<String> clients = new TreeSet<>();
        Pattern client = Pattern.compile("^(?:%prod\\.)?quarkus\\.grpc\\.clients\\.([^.]+)\\..+$");
        for (String key : p.stringPropertyNames()) {
            Matcher m = client.matcher(key);
            if (m.matches()) {
                clients.add(m.group(1));
            }
        }
        return new ServiceConfig(module, file, http, separateGrpc, grpc, healthPort,
                resolve(health, c.get("quarkus.smallrye-health.startup-path", "started")),
                resolve(health, c.get("quarkus.smallrye-health.readiness-path", "ready")),
                resolve(health, c.get("quarkus.smallrye-health.liveness-path", "live")),
                metrics, clients);
    }

    String origin() {
        return source != null ? source.toString() : module + " (no application.properties yet: conventions)";
    }

    /** Quarkus path rules: an absolute path stands alone, a relative one hangs under its parent. */
    static String resolve(String parent, String path) {
        if (path.startsWith("/")) {
            return normalize(path);
        }
        return normalize(parent + "/" + path);
    }

    private static String normalize(String path) {
        String p = path.replaceAll("/+", "/");
        return p.length() > 1 && p.endsWith("/") ? p.substring(0, p.length() - 1) : p;
    }

    /** Prod-profile view: %prod.key wins over key; ${name:default} expressions take their default. */
    private record Prod(Properties p) {
        private static final Pattern EXPR = Pattern.compile("\\$\\{[^}:]+:([^}]*)}");

        String get(String key, String fallback) {
            String v = p.getProperty("%prod." + key, p.getProperty(key));
            if (v == null) {
                return fallback;
            }
            Matcher m = EXPR.matcher(v.trim());
            return m.matches() ? m.group(1) : v.trim();
        }
    }
}
