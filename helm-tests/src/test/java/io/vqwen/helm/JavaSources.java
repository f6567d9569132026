package io.vqwen.helm;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import javax.xml.parsers.DocumentBuilderFactory;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.w3c.dom.NodeList;

/**
 * The Java sources a service runs: its module and the project modules it depends on (compile and runtime scope, read
 * from the poms), each file with comments and string contents blanked out so that braces and calls can be found by
 * position without a parser.
 */
final class JavaSources {

    /** One source file: its text, the text without comments, and the text without comments and string contents. */
    record SourceFile(Path path, String text, String code, String masked) {
        /** The simple name of the file's top-level class. */
        String className() {
            String f = path.getFileName().toString();
            return f.substring(0, f.length() - ".java".length());
        }
    }

    private JavaSources() {
    }

    /** The module and every io.vqwen module it depends on outside the test scope, transitively. */
    static List<Path> moduleClosure(Path repo, String module) {
        Map<String, Path> byArtifact = new LinkedHashMap<>();
        for (Path dir : reactorModules(repo)) {
            byArtifact.put(text(pom(dir).getDocumentElement(), "artifactId"), dir);
        }
        Set<Path> seen = new LinkedHashSet<>();
        List<Path> todo = new ArrayList<>(List.of(repo.resolve(module)));
        while (!todo.isEmpty()) {
            Path dir = todo.removeLast();
            if (!seen.add(dir)) {
                continue;
            }
            for (Element dep : dependencies(pom(dir))) {
                String scope = text(dep, "scope");
                if (!"io.vqwen".equals(text(dep, "groupId")) || "test".equals(scope) || "provided".equals(scope)) {
                    continue;
                }
                Path target = byArtifact.get(text(dep, "artifactId"));
                if (target == null) {
                    throw new AssertionError(dir + "/pom.xml depends on io.vqwen:" + text(dep, "artifactId")
                            + ", which no module of " + repo.resolve("pom.xml") + " builds");
                }
                todo.add(target);
            }
        }
        return List.copyOf(seen);
    }

    /** Every .java file under src/main/java of the given module directories. */
    static List<SourceFile> mainSources(List<Path> moduleDirs) {
        List<SourceFile> out = new ArrayList<>();
        for (Path dir : moduleDirs) {
            Path src = dir.resolve("src/main/java");
            if (!Files.isDirectory(src)) {
                continue;
            }
            try (Stream<Path> files = Files.walk(src)) {
                for (Path f : files.filter(p -> p.toString().endsWith(".java")).sorted().toList()) {
                    out.add(parse(f, Files.readString(f, StandardCharsets.UTF_8)));
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return out;
    }

    static SourceFile parse(Path path, String text) {
        return new SourceFile(path, text, blank(text, false), blank(text, true));
    }

    /**
     * Replaces comments (and, with strings=true, the contents of string, text-block and char literals, keeping their
     * quotes) by spaces. Offsets and newlines stay where they were.
     */
    static String blank(String s, boolean strings) {
        StringBuilder b = new StringBuilder(s);
        int i = 0;
        int n = s.length();
        while (i < n) {
            char c = s.charAt(i);
            if (c == '/' && i + 1 < n && s.charAt(i + 1) == '/') {
                while (i < n && s.charAt(i) != '\n') {
                    b.setCharAt(i++, ' ');
                }
            } else if (c == '/' && i + 1 < n && s.charAt(i + 1) == '*') {
                int end = s.indexOf("*/", i + 2);
                end = end < 0 ? n : end + 2;
                for (; i < end; i++) {
                    if (s.charAt(i) != '\n') {
                        b.setCharAt(i, ' ');
                    }
                }
            } else if (s.startsWith("\"\"\"", i)) {
                int end = s.indexOf("\"\"\"", i + 3);
                end = end < 0 ? n : end;
                for (int j = i + 3; j < end; j++) {
                    if (strings && s.charAt(j) != '\n') {
                        b.setCharAt(j, ' ');
                    }
                }
                i = Math.min(n, end + 3);
            } else if (c == '"' || c == '\'') {
                int j = i + 1;
                while (j < n && s.charAt(j) != c && s.charAt(j) != '\n') {
                    j += s.charAt(j) == '\\' ? 2 : 1;
                }
                if (strings) {
                    for (int k = i + 1; k < Math.min(j, n); k++) {
                        b.setCharAt(k, ' ');
                    }
                }
                i = j + 1;
            } else {
                i++;
            }
        }
        return b.toString();
    }

    /** The offset just past the bracket that closes the one at {@code open}, in masked text. */
    static int closing(String masked, int open) {
        char o = masked.charAt(open);
        char c = o == '{' ? '}' : o == '(' ? ')' : ']';
        int depth = 0;
        for (int i = open; i < masked.length(); i++) {
            char ch = masked.charAt(i);
            if (ch == o) {
                depth++;
            } else if (ch == c && --depth == 0) {
                return i + 1;
            }
        }
        throw new IllegalArgumentException("unbalanced '" + o + "' at offset " + open);
    }

    /**
     * Arguments between the parenthesis at {@code open} and its match, split at top-level commas. With
     * {@code parameters}, a declaration's parameter list: the commas of generic types ({@code Map<K, V>}) do not split.
     */
    static List<String> arguments(SourceFile f, int open, boolean parameters) {
        int end = closing(f.masked(), open) - 1;
        List<String> out = new ArrayList<>();
        int depth = 0;
        int start = open + 1;
        for (int i = open + 1; i < end; i++) {
            char ch = f.masked().charAt(i);
            boolean angle = parameters && (ch == '<' || ch == '>');
            if (ch == '(' || ch == '{' || ch == '[' || angle && ch == '<') {
                depth++;
            } else if (ch == ')' || ch == '}' || ch == ']' || angle && ch == '>') {
                depth--;
            } else if (ch == ',' && depth == 0) {
                out.add(f.code().substring(start, i).trim());
                start = i + 1;
            }
        }
        String last = f.code().substring(start, end).trim();
        if (!last.isEmpty() || !out.isEmpty()) {
            out.add(last);
        }
        return out;
    }

    /** The value of a Java string literal written as a whole argument, or null when the argument is something else. */
    static String literal(String argument) {
        String a = argument.trim();
        if (a.length() >= 2 && a.startsWith("\"") && a.endsWith("\"") && a.indexOf('"', 1) == a.length() - 1) {
            return a.substring(1, a.length() - 1);
        }
        return null;
    }

    private static List<Path> reactorModules(Path repo) {
        List<Path> out = new ArrayList<>();
        NodeList modules = pom(repo).getElementsByTagName("module");
        for (int i = 0; i < modules.getLength(); i++) {
            out.add(repo.resolve(modules.item(i).getTextContent().trim()));
        }
        return out;
    }

    private static List<Element> dependencies(Document pom) {
        List<Element> out = new ArrayList<>();
        for (Node n = pom.getDocumentElement().getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element e && e.getTagName().equals("dependencies")) {
                NodeList deps = e.getElementsByTagName("dependency");
                for (int i = 0; i < deps.getLength(); i++) {
                    out.add((Element) deps.item(i));
                }
            }
        }
        return out;
    }

    private static Document pom(Path dir) {
        Path file = dir.resolve("pom.xml");
        try {
            return DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(file.toFile());
        } catch (Exception e) {
            throw new AssertionError("cannot read " + file, e);
        }
    }

    /** Text of the direct child element with that tag, or null. */
    private static String text(Element parent, String tag) {
        for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element e && e.getTagName().equals(tag)) {
                return e.getTextContent().trim();
            }
        }
        return null;
    }
}
