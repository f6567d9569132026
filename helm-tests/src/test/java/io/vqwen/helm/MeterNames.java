package io.vqwen.helm;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.FunctionTimer;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.LongTaskTimer;
import io.micrometer.core.instrument.TimeGauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheus.PrometheusConfig;
import io.micrometer.prometheus.PrometheusMeterRegistry;
import io.vqwen.helm.JavaSources.SourceFile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The Prometheus metric names a service publishes at /q/metrics, found from its Micrometer meters: each
 * {@code Counter/Timer/Gauge/...builder("name")}, {@code registry.gauge/counter/timer/summary("name", ...)}, and
 * calls with a literal name to the project's own helpers that pass a parameter to one of those builders (e.g.
 * {@code Histograms.timer(registry, "vqwen_..._seconds", ...)}). The meters are registered in the Prometheus
 * registry the services run and scraped, so names come out converted exactly as in a pod (dots to underscores,
 * {@code _total} on counters, {@code _seconds} on timers, {@code _count/_sum/_bucket/_max} series).
 */
final class MeterNames {

    /** A meter as the source declares it. */
    record Meter(String type, String name, String baseUnit, Path source) {
    }

    private static final String TYPES = "Counter|Timer|Gauge|DistributionSummary|FunctionCounter|FunctionTimer|LongTaskTimer|TimeGauge";
    private static final Pattern BUILDER = Pattern.compile("\\b(" + TYPES + ")\\.builder\\s*\\(");
    private static final Pattern SHORTCUT = Pattern.compile("\\.(counter|timer|gauge|summary)\\s*\\(");
    private static final Pattern BASE_UNIT = Pattern.compile("\\.baseUnit\\s*\\(\\s*\"([^\"]+)\"\\s*\\)");
    private static final Pattern HELPER = Pattern.compile("\\b(" + TYPES + ")\\s+(\\w+)\\s*\\(");

    private MeterNames() {
    }

    /** The meters declared in the sources of a module and the project modules it depends on. */
    static List<Meter> meters(Path repo, String module) {
        return scan(JavaSources.mainSources(JavaSources.moduleClosure(repo, module)));
    }

    /** Every series name and every histogram/summary family name the module's meters produce. */
    static Set<String> published(Path repo, String module) {
        return published(meters(repo, module));
    }

    static List<Meter> scan(List<SourceFile> files) {
        List<Meter> out = new ArrayList<>();
        record Helper(String className, Path file, String method, int index, String type) {
        }
        List<Helper> helpers = new ArrayList<>();
        for (SourceFile f : files) {
            Matcher m = BUILDER.matcher(f.masked());
            while (m.find()) {
                String name = firstLiteral(f, m.end() - 1);
                if (name != null) {
                    out.add(new Meter(m.group(1), name, baseUnit(f, m.end()), f.path()));
                }
            }
            m = SHORTCUT.matcher(f.masked());
            while (m.find()) {
                String name = firstLiteral(f, m.end() - 1);
                if (name != null) {
                    String type = switch (m.group(1)) {
                        case "counter" -> "Counter";
                        case "timer" -> "Timer";
                        case "gauge" -> "Gauge";
                        default -> "DistributionSummary";
                    };
                    out.add(new Meter(type, name, null, f.path()));
                }
            }
            // A method returning a meter whose builder takes one of its parameters is a naming helper.
            m = HELPER.matcher(f.masked());
            while (m.find()) {
                int open = m.end() - 1;
                int close = JavaSources.closing(f.masked(), open);
                int brace = close;
                while (brace < f.masked().length() && Character.isWhitespace(f.masked().charAt(brace))) {
                    brace++;
                }
                if (brace >= f.masked().length() || f.masked().charAt(brace) != '{') {
                    continue;
                }
                String body = f.code().substring(brace, JavaSources.closing(f.masked(), brace));
                List<String> params = JavaSources.arguments(f, open, true);
                for (int i = 0; i < params.size(); i++) {
                    String[] words = params.get(i).trim().split("\\s+");
                    String param = words[words.length - 1];
                    if (Pattern.compile("\\b(" + TYPES + ")\\.builder\\s*\\(\\s*" + Pattern.quote(param) + "\\s*[,)]")
                            .matcher(body).find()) {
                        helpers.add(new Helper(f.className(), f.path(), m.group(2), i, m.group(1)));
                    }
                }
            }
        }
        for (Helper h : helpers) {
            Pattern call = Pattern.compile("(?<![\\w$])(?:(\\w+)\\s*\\.\\s*)?" + Pattern.quote(h.method()) + "\\s*\\(");
            for (SourceFile f : files) {
                Matcher m = call.matcher(f.masked());
                while (m.find()) {
                    String qualifier = m.group(1);
                    boolean sameFile = f.path().equals(h.file());
                    boolean reaches = qualifier == null || qualifier.equals("this") ? sameFile : qualifier.equals(h.className());
                    if (!reaches) {
                        continue;
                    }
                    List<String> args = JavaSources.arguments(f, m.end() - 1, false);
                    String name = h.index() < args.size() ? JavaSources.literal(args.get(h.index())) : null;
                    if (name != null) {
                        out.add(new Meter(h.type(), name, null, f.path()));
                    }
                }
            }
        }
        return out;
    }

    /** Registers the meters in a PrometheusMeterRegistry and reads back what a scrape names. */
    static Set<String> published(List<Meter> meters) {
        PrometheusMeterRegistry r = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        Object state = new Object();
        for (Meter m : meters) {
            switch (m.type()) {
                case "Counter" -> Counter.builder(m.name()).baseUnit(m.baseUnit()).register(r);
                case "FunctionCounter" -> FunctionCounter.builder(m.name(), state, s -> 0).baseUnit(m.baseUnit()).register(r);
                case "Timer" -> Timer.builder(m.name()).register(r);
                case "FunctionTimer" -> FunctionTimer.builder(m.name(), state, s -> 0, s -> 0, TimeUnit.SECONDS).register(r);
                case "LongTaskTimer" -> LongTaskTimer.builder(m.name()).register(r);
                case "Gauge" -> Gauge.builder(m.name(), state, s -> 0).baseUnit(m.baseUnit()).register(r);
                case "TimeGauge" -> TimeGauge.builder(m.name(), state, TimeUnit.SECONDS, s -> 0).register(r);
                case "DistributionSummary" -> DistributionSummary.builder(m.name()).baseUnit(m.baseUnit()).register(r);
                default -> throw new IllegalStateException("meter type " + m.type());
            }
        }
        Set<String> series = new TreeSet<>();
        for (String line : r.scrape().split("\n")) {
            if (!line.isBlank() && !line.startsWith("#")) {
                series.add(line.split("[{ ]", 2)[0]);
            }
        }
        Set<String> out = new TreeSet<>(series);
        for (String s : series) {
            // A histogram or summary is queried by its family name (rate of _sum over rate of _count).
            if (s.endsWith("_count") && series.contains(s.substring(0, s.length() - 6) + "_sum")) {
                out.add(s.substring(0, s.length() - 6));
            }
        }
        return out;
    }

    private static String firstLiteral(SourceFile f, int open) {
        List<String> args = JavaSources.arguments(f, open, false);
        return args.isEmpty() ? null : JavaSources.literal(args.getFirst());
    }

    /** A .baseUnit("...") in the builder chain, up to the register call. */
    private static String baseUnit(SourceFile f, int from) {
        int end = f.masked().indexOf("register(", from);
        Matcher m = BASE_UNIT.matcher(f.code().substring(from, end < 0 ? f.code().length() : end));
        return m.find() ? m.group(1) : null;
    }
}
