package io.vqwen.helm;

import io.vqwen.helm.JavaSources.SourceFile;
import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The configuration properties a service knows: the keys of its application.properties, every
 * {@code @ConfigProperty(name = ...)} and {@code Config.getValue/getOptionalValue("...")} in its sources and those
 * of the project modules it depends on, and every property of its {@code @ConfigMapping} interfaces (SmallRye's
 * kebab-case names, nested groups, {@code @WithName}). An environment variable sets a property when it equals the
 * property's name with every character other than a letter or digit replaced by '_', in upper case (MicroProfile
 * Config's rule, which Quarkus and SmallRye follow). Classes the module lists in {@code quarkus.arc.exclude-types}
 * are not beans of that service, so what they declare is not its configuration.
 */
record DeclaredConfig(String module, Set<String> properties, Set<String> grpcClients) {

    private static final Pattern CONFIG_PROPERTY = Pattern.compile("@ConfigProperty\\s*\\(");
    private static final Pattern CONFIG_READ = Pattern.compile("\\.get(?:Optional)?Value\\s*\\(");
    private static final Pattern CONFIG_MAPPING = Pattern.compile("@ConfigMapping\\s*\\(");
    private static final Pattern NAMED = Pattern.compile("\\b(?:name|prefix)\\s*=\\s*\"([^\"]*)\"");
    private static final Pattern INTERFACE = Pattern.compile("\\binterface\\s+(\\w+)[^{;]*\\{");
    private static final Pattern GETTER = Pattern.compile("([\\w.<>?,\\[\\]\\s]+?)\\s+(\\w+)\\s*\\(\\s*\\)\\s*$");
    private static final Pattern WITH_NAME = Pattern.compile("@WithName\\s*\\(\\s*\"([^\"]+)\"\\s*\\)");
    private static final Pattern GRPC_CLIENT_ANNOTATION = Pattern.compile("@GrpcClient\\s*\\(\\s*\"([^\"]+)\"");
    private static final Pattern GRPC_CLIENT_KEY = Pattern.compile("^quarkus\\.grpc\\.clients\\.([^.]+)\\..+$");
    private static final Pattern PACKAGE = Pattern.compile("^\\s*package\\s+([\\w.]+)\\s*;", Pattern.MULTILINE);

    static DeclaredConfig load(Path repo, String module) {
        Set<String> props = new TreeSet<>();
        Set<String> clients = new TreeSet<>();
        Set<String> excluded = new TreeSet<>();
        Path file = repo.resolve(module).resolve("src/main/resources/application.properties");
        if (Files.isRegularFile(file)) {
            Properties p = new Properties();
            try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
                p.load(r);
            } catch (IOException e) {
                throw new AssertionError("cannot read " + file, e);
            }
            for (String key : p.stringPropertyNames()) {
                // %prod.key, %dev.key: the profile is not part of the property's name.
                String name = key.startsWith("%") && key.indexOf('.') > 0 ? key.substring(key.indexOf('.') + 1) : key;
                props.add(name);
                Matcher m = GRPC_CLIENT_KEY.matcher(name);
                if (m.matches()) {
                    clients.add(m.group(1));
                }
            }
            for (String type : p.getProperty("quarkus.arc.exclude-types", "").split(",")) {
                if (!type.isBlank()) {
                    excluded.add(type.strip());
                }
            }
        }
        List<SourceFile> sources = JavaSources.mainSources(JavaSources.moduleClosure(repo, module));
        for (SourceFile f : sources) {
            if (excluded.contains(className(f))) {
                continue;
            }
            props.addAll(fromSource(f));
            Matcher m = GRPC_CLIENT_ANNOTATION.matcher(f.code());
            while (m.find()) {
                clients.add(m.group(1));
            }
        }
        return new DeclaredConfig(module, Set.copyOf(props), Set.copyOf(clients));
    }

    /** The fully qualified name of the top-level class a source file holds. */
    static String className(SourceFile f) {
        String simple = f.path().getFileName().toString().replaceFirst("\\.java$", "");
        Matcher pkg = PACKAGE.matcher(f.code());
        return pkg.find() ? pkg.group(1) + "." + simple : simple;
    }

    /** Properties one source file declares or reads by name. */
    static Set<String> fromSource(SourceFile f) {
        Set<String> out = new TreeSet<>();
        Matcher m = CONFIG_PROPERTY.matcher(f.masked());
        while (m.find()) {
            int open = m.end() - 1;
            Matcher name = NAMED.matcher(f.code().substring(open, JavaSources.closing(f.masked(), open)));
            if (name.find()) {
                out.add(name.group(1));
            }
        }
        m = CONFIG_READ.matcher(f.masked());
        while (m.find()) {
            List<String> args = JavaSources.arguments(f, m.end() - 1, false);
            String name = args.isEmpty() ? null : JavaSources.literal(args.getFirst());
            if (name != null) {
                out.add(name);
            }
        }
        m = CONFIG_MAPPING.matcher(f.masked());
        while (m.find()) {
            int open = m.end() - 1;
            int close = JavaSources.closing(f.masked(), open);
            Matcher prefix = NAMED.matcher(f.code().substring(open, close));
            Matcher iface = INTERFACE.matcher(f.masked());
            if (!prefix.find() || !iface.find(close)) {
                throw new AssertionError(f.path() + ": @ConfigMapping without a prefix or an interface after it");
            }
            mapping(f, interfaces(f), iface.group(1), prefix.group(1), out);
        }
        return out;
    }

    /** The environment variable that sets a property. */
    static String envName(String property) {
        return property.replaceAll("[^A-Za-z0-9]", "_").toUpperCase(Locale.ROOT);
    }

    /** The property this service declares that the environment variable sets, or null. */
    String propertyOf(String envVar) {
        for (String p : properties) {
            if (envName(p).equals(envVar)) {
                return p;
            }
        }
        return null;
    }

    /** Body offsets (just inside the braces) of every interface declared in the file, by simple name. */
    private static Map<String, int[]> interfaces(SourceFile f) {
        Map<String, int[]> out = new HashMap<>();
        Matcher m = INTERFACE.matcher(f.masked());
        while (m.find()) {
            int open = m.end() - 1;
            out.put(m.group(1), new int[] {open + 1, JavaSources.closing(f.masked(), open) - 1});
        }
        return out;
    }

    /**
     * The properties of one mapping interface: each abstract getter at the body's top level is prefix.kebab-name,
     * and a getter whose type is another interface of the file is a group whose properties hang under it.
     */
    private static void mapping(SourceFile f, Map<String, int[]> interfaces, String name, String prefix, Set<String> out) {
        int[] body = interfaces.get(name);
        for (String member : members(f, body[0], body[1])) {
            Matcher getter = GETTER.matcher(member.replaceAll("@\\w+(\\s*\\([^)]*\\))?", " ").trim());
            if (member.contains("{") || member.contains("=") || member.matches("(?s).*\\bdefault\\b.*")
                    || member.matches("(?s).*\\bstatic\\b.*") || !getter.find()) {
                continue; // nested types, constants, default and static methods are not properties
            }
            Matcher renamed = WITH_NAME.matcher(member);
            String property = prefix + "." + (renamed.find() ? renamed.group(1) : kebab(getter.group(2)));
            String type = getter.group(1).replaceAll("\\s", "").replaceAll("^(?:Optional|java\\.util\\.Optional)<(.*)>$", "$1");
            if (interfaces.containsKey(type) && !type.equals(name)) {
                mapping(f, interfaces, type, property, out);
            } else if (type.startsWith("Map<")) {
                out.add(property + ".*");
            } else {
                out.add(property);
            }
        }
    }

    /** Top-level members of a type body: text up to each ';' or each closing '}' at depth 0. */
    private static List<String> members(SourceFile f, int from, int to) {
        List<String> out = new ArrayList<>();
        int depth = 0;
        int start = from;
        for (int i = from; i < to; i++) {
            char c = f.masked().charAt(i);
            if (c == '{') {
                depth++;
            } else if (c == '}') {
                if (--depth == 0) {
                    out.add(f.code().substring(start, i + 1));
                    start = i + 1;
                }
            } else if (c == ';' && depth == 0) {
                out.add(f.code().substring(start, i));
                start = i + 1;
            }
        }
        return out;
    }

    /** SmallRye's default naming of mapping methods: maxInFlight -> max-in-flight. */
    static String kebab(String method) {
        return method.replaceAll("([a-z0-9])([A-Z])", "$1-$2").toLowerCase(Locale.ROOT);
    }
}
