package io.vqwen.engine.hub;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A local stand-in for huggingface.co serving one directory as repo {@code org/name}, with the Hub's URLs and headers:
 * <ul>
 *   <li>{@code GET /api/models/org/name/revision/{rev}}: {@code {"id", "sha", "siblings": [{"rfilename"}]}};</li>
 *   <li>{@code HEAD|GET /org/name/resolve/{rev}/{file}}: {@code X-Repo-Commit}, {@code ETag} (git blob SHA-1); LFS files
 *       (safetensors, xz) answer 302 to the "CDN" with {@code X-Linked-Etag} (SHA-256) and {@code X-Linked-Size};</li>
 *   <li>{@code GET /cdn/{sha256}} on host {@code localhost} (the Hub is {@code 127.0.0.1}, so the CDN is another host,
 *       as on the real Hub), honouring {@code Range: bytes=N-}.</li>
 * </ul>
 * Faults on demand: a required token, a connection dropped after N bytes, a stall, a corrupted byte. Every request is
 * logged.
 */
final class FakeHub implements AutoCloseable {

    static final String REPO = "org/name";

    /** One logged request; {@code authorization} is null when the header was absent. */
    record Request(String method, String host, String path, String range, String authorization) {}

    record HubFile(String name, byte[] content, String sha256, String gitSha1, boolean lfs) {}

    private static final Pattern RANGE = Pattern.compile("bytes=(\\d+)-");

    private final HttpServer server;
    private final ExecutorService executor = Executors.newCachedThreadPool();
    private final Map<String, HubFile> files = new LinkedHashMap<>();
    private final Map<String, HubFile> bySha256 = new LinkedHashMap<>();
    private final String commit;
    private final List<Request> requests = new CopyOnWriteArrayList<>();
    private volatile String requiredToken;
    private volatile String dropFile;
    private volatile long dropAfter;
    private volatile String stallFile;
    private volatile long stallAfter;
    private volatile String corruptFile;
    private volatile long corruptOffset;

    FakeHub(Path dir) throws IOException {
        try (Stream<Path> list = Files.list(dir)) {
            for (Path p : list.filter(Files::isRegularFile).sorted().toList()) {
                byte[] content = Files.readAllBytes(p);
                String name = p.getFileName().toString();
                boolean lfs = name.endsWith(".safetensors") || name.endsWith(".xz");
                HubFile f = new HubFile(name, content, hex("SHA-256", content), gitSha1(content), lfs);
                files.put(name, f);
                bySha256.put(f.sha256, f);
            }
        }
        commit = hex("SHA-1", String.join(",", bySha256.keySet()).getBytes(StandardCharsets.UTF_8));
        server = HttpServer.create(new InetSocketAddress(0), 0); // all interfaces: 127.0.0.1 and localhost both reach it
        server.setExecutor(executor);
        server.createContext("/", this::handle);
        server.start();
    }

    URI endpoint() {
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort());
    }

    String commit() {
        return commit;
    }

    Map<String, HubFile> files() {
        return files;
    }

    List<Request> requests() {
        return List.copyOf(requests);
    }

    /** Requests for file bytes (the CDN's, and small files' GETs on resolve) from the {@code first}-th request on. */
    List<Request> downloadsSince(int first) {
        List<Request> all = requests();
        return all.subList(first, all.size()).stream().filter(r -> r.method.equals("GET") && !r.path.startsWith("/api/")
                && (r.path.startsWith("/cdn/") || !files.get(fileOf(r.path)).lfs)).toList();
    }

    String fileOf(String path) {
        if (path.startsWith("/cdn/")) {
            return bySha256.get(path.substring(5)).name;
        }
        return path.substring(path.indexOf("/resolve/") + "/resolve/".length()).replaceFirst("^[^/]+/", "");
    }

    void requireToken(String token) {
        requiredToken = token;
    }

    /** The next download of {@code file} is cut off after the file's first {@code bytes} bytes. */
    void dropConnectionOnce(String file, long bytes) {
        dropAfter = bytes;
        dropFile = file;
    }

    /** The next download of {@code file} sends up to byte {@code bytes}, then goes silent without closing. */
    void stallOnce(String file, long bytes) {
        stallAfter = bytes;
        stallFile = file;
    }

    /** Every download of {@code file} (null: none) has the byte at {@code offset} flipped. */
    void corrupt(String file, long offset) {
        corruptOffset = offset;
        corruptFile = file;
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
    }

    private void handle(HttpExchange ex) throws IOException {
        try (ex) {
            String rawPath = ex.getRequestURI().getRawPath();
            requests.add(new Request(ex.getRequestMethod(), ex.getRequestHeaders().getFirst("Host").replaceFirst(":\\d+$", ""),
                    rawPath, ex.getRequestHeaders().getFirst("Range"), ex.getRequestHeaders().getFirst("Authorization")));
            List<String> seg = Arrays.stream(rawPath.substring(1).split("/", -1))
                    .map(s -> URLDecoder.decode(s, StandardCharsets.UTF_8)).toList();
            if (seg.getFirst().equals("cdn") && seg.size() == 2 && bySha256.containsKey(seg.get(1))) {
                serveBytes(ex, bySha256.get(seg.get(1))); // pre-signed: no token needed
                return;
            }
            boolean api = seg.getFirst().equals("api");
            List<String> rest = api ? seg.subList(2, seg.size()) : seg; // drop "api/models"
            if (api ? !(seg.size() == 6 && seg.get(1).equals("models") && seg.get(4).equals("revision"))
                    : !(seg.size() >= 5 && seg.get(2).equals("resolve"))) {
                error(ex, 404, null, "Not found");
                return;
            }
            if (requiredToken != null && !("Bearer " + requiredToken).equals(ex.getRequestHeaders().getFirst("Authorization"))) {
                error(ex, 401, "RepoNotFound", "Invalid username or password.");
                return;
            }
            if (!(rest.get(0) + "/" + rest.get(1)).equals(REPO)) {
                error(ex, 404, "RepoNotFound", "Repository not found");
                return;
            }
            String revision = rest.get(3);
            if (!revision.equals("main") && !revision.equals(commit)) {
                error(ex, 404, "RevisionNotFound", "Invalid rev id: " + revision);
                return;
            }
            if (api) {
                List<Map<String, String>> siblings = new ArrayList<>();
                files.keySet().forEach(n -> siblings.add(Map.of("rfilename", n)));
                byte[] json = new ObjectMapper().writeValueAsBytes(Map.of("id", REPO, "sha", commit, "siblings", siblings));
                ex.getResponseHeaders().set("Content-Type", "application/json");
                ex.sendResponseHeaders(200, json.length);
                ex.getResponseBody().write(json);
                return;
            }
            HubFile f = files.get(String.join("/", rest.subList(4, rest.size())));
            if (f == null) {
                error(ex, 404, "EntryNotFound", "Entry not found");
                return;
            }
            ex.getResponseHeaders().set("X-Repo-Commit", commit);
            if (f.lfs) {
                // The ETag of an LFS file is the git hash of its pointer file; the content hash is X-Linked-Etag.
                String pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:" + f.sha256 + "\nsize "
                        + f.content.length + "\n";
                ex.getResponseHeaders().set("ETag", "\"" + gitSha1(pointer.getBytes(StandardCharsets.US_ASCII)) + "\"");
                ex.getResponseHeaders().set("X-Linked-Etag", "\"" + f.sha256 + "\"");
                ex.getResponseHeaders().set("X-Linked-Size", Long.toString(f.content.length));
                ex.getResponseHeaders().set("Location", "http://localhost:" + server.getAddress().getPort() + "/cdn/" + f.sha256);
                ex.sendResponseHeaders(302, -1);
                return;
            }
            ex.getResponseHeaders().set("ETag", "\"" + f.gitSha1 + "\"");
            serveBytes(ex, f);
        }
    }

    private void serveBytes(HttpExchange ex, HubFile f) throws IOException {
        byte[] content = f.content;
        if (f.name.equals(corruptFile)) {
            content = content.clone();
            content[(int) corruptOffset] ^= 0x01;
        }
        long start = 0;
        String range = ex.getRequestHeaders().getFirst("Range");
        if (range != null) {
            Matcher m = RANGE.matcher(range);
            if (!m.matches()) {
                error(ex, 400, null, "bad range " + range);
                return;
            }
            start = Long.parseLong(m.group(1));
            if (start >= content.length) {
                ex.getResponseHeaders().set("Content-Range", "bytes */" + content.length);
                ex.sendResponseHeaders(416, -1);
                return;
            }
            ex.getResponseHeaders().set("Content-Range", "bytes " + start + "-" + (content.length - 1) + "/" + content.length);
        }
        ex.getResponseHeaders().set("Accept-Ranges", "bytes");
        long length = content.length - start;
        if (ex.getRequestMethod().equals("HEAD")) {
            ex.getResponseHeaders().set("Content-Length", Long.toString(length));
            ex.sendResponseHeaders(range == null ? 200 : 206, -1);
            return;
        }
        ex.sendResponseHeaders(range == null ? 200 : 206, length);
        OutputStream out = ex.getResponseBody();
        if (f.name.equals(dropFile) && dropAfter > start) {
            dropFile = null;
            out.write(content, (int) start, (int) (dropAfter - start));
            out.flush();
            // Leaving the handler by an exception makes the server close the connection mid-body.
            throw new IOException("fake hub: connection dropped after " + dropAfter + " bytes of " + f.name);
        }
        if (f.name.equals(stallFile) && stallAfter > start) {
            stallFile = null;
            out.write(content, (int) start, (int) (stallAfter - start));
            out.flush();
            try {
                Thread.sleep(60_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            throw new IOException("fake hub: stalled " + f.name);
        }
        out.write(content, (int) start, (int) length);
    }

    private static void error(HttpExchange ex, int status, String code, String message) throws IOException {
        if (code != null) {
            ex.getResponseHeaders().set("X-Error-Code", code);
        }
        ex.getResponseHeaders().set("X-Error-Message", message);
        byte[] body = ("{\"error\":\"" + message + "\"}").getBytes(StandardCharsets.UTF_8);
        if (ex.getRequestMethod().equals("HEAD")) {
            ex.sendResponseHeaders(status, -1);
            return;
        }
        ex.sendResponseHeaders(status, body.length);
        ex.getResponseBody().write(body);
    }

    static String gitSha1(byte[] content) {
        byte[] header = ("blob " + content.length + "\0").getBytes(StandardCharsets.US_ASCII);
        byte[] all = Arrays.copyOf(header, header.length + content.length);
        System.arraycopy(content, 0, all, header.length, content.length);
        return hex("SHA-1", all);
    }

    static String hex(String algorithm, byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance(algorithm).digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The bundled fixture, found from the module directory surefire runs in. */
    static Path fixture() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path candidate = p.resolve("testdata/tiny-llava");
            if (Files.isDirectory(candidate)) {
                return candidate;
            }
        }
        throw new UncheckedIOException(new IOException("testdata/tiny-llava not found above " + Path.of("").toAbsolutePath()));
    }
}
