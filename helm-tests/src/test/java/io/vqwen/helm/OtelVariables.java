package io.vqwen.helm;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The standard OpenTelemetry variables a service honours: those vqwen-telemetry's {@code OtelEnvConfigSource} maps
 * onto {@code quarkus.otel.*}, for a module that has vqwen-telemetry among its dependencies.
 */
final class OtelVariables {
    private static final Path SOURCE = Path.of("telemetry/src/main/java/io/vqwen/telemetry/OtelEnvConfigSource.java");
    private static final Pattern ENTRY = Pattern.compile("Map\\.entry\\(\\s*\"(OTEL_[A-Z0-9_]+)\"");

    private OtelVariables() {
    }

    static Set<String> mapped(Path repo) {
        try {
            Set<String> out = new TreeSet<>();
            Matcher m = ENTRY.matcher(Files.readString(repo.resolve(SOURCE)));
            while (m.find()) out.add(m.group(1));
            if (out.isEmpty()) throw new AssertionError("no OTEL_* entries found in " + SOURCE);
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Whether {@code module} reads {@code var}: it depends on vqwen-telemetry, which maps the variable. */
    static boolean honoured(Path repo, String module, String var) {
        return mapped(repo).contains(var) && JavaSources.moduleClosure(repo, module).contains(repo.resolve("telemetry"));
    }
}
