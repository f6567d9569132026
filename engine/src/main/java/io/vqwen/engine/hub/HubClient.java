package io.vqwen.engine.hub;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vqwen.engine.hub.HubException.Reason;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The Hub's HTTP protocol, as huggingface_hub speaks it:
 * <ul>
 *   <li>{@code GET /api/models/{org}/{name}/revision/{rev}}: the commit ({@code sha}) and files ({@code siblings[].rfilename});</li>
 *   <li>{@code HEAD /{org}/{name}/resolve/{commit}/{file}} without following redirects: {@code X-Repo-Commit},
 *       {@code X-Linked-Etag} (SHA-256 of an LFS file) or {@code ETag} (git blob hash of a small file),
 *       {@code X-Linked-Size} or {@code Content-Length}, and for LFS files a 302 to the CDN;</li>
 *   <li>{@code GET} of that location with {@code Range: bytes=N-} to resume.</li>
 * </ul>
 */
final class HubClient implements AutoCloseable {

    /** The commit a revision points at, and the files of the repo at that commit. */
    record RepoInfo(String commit, List<String> files) {}

    /**
     * What the resolve endpoint says about one file.
     *
     * @param etag     normalized ETag: SHA-256 for LFS files, git blob SHA-1 for small ones
     * @param size     bytes, or -1 when the server did not say
     * @param location where the bytes are: the CDN for LFS files, the resolve URL otherwise
     * @param lfs      the file is stored in LFS ({@code X-Linked-Etag} was present)
     */
    record FileMeta(String file, String etag, long size, URI location, boolean lfs) {}

    /** An open download: {@code start} is the offset of the first byte of {@code in} (0 when the server ignored Range). */
    record Body(InputStream in, long start) implements AutoCloseable {
        @Override
        public void close() throws IOException {
            in.close();
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int MAX_REDIRECTS = 5;
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);
    /** Until the response headers arrive; a stalled body is the download watchdog's job. */
    private static final Duration RESPONSE_TIMEOUT = Duration.ofSeconds(30);
    private static final Pattern CONTENT_RANGE = Pattern.compile("bytes (\\d+)-(\\d+)/(\\d+|\\*)");
    private static final String USER_AGENT = "vqwen/0.1; java/" + Runtime.version().feature();

    private final HubOptions options;
    private final RepoId repo;
    private final HttpClient http;

    HubClient(HubOptions options, RepoId repo) {
        this.options = options;
        this.repo = repo;
        // HTTP/1.1: parallel downloads then get a connection each, rather than sharing one HTTP/2 stream window.
        this.http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .followRedirects(HttpClient.Redirect.NEVER)
                .connectTimeout(CONNECT_TIMEOUT)
                .build();
    }

    RepoInfo repoInfo() throws HubException {
        URI uri = URI.create(options.endpoint() + "/api/models/" + repo.id() + "/revision/" + segment(repo.revision()));
        HttpResponse<byte[]> response = sendFollowingRelative(request(uri, "GET", true).build(), HttpResponse.BodyHandlers.ofByteArray(),
                "the file list of " + repo);
        if (response.statusCode() != 200) {
            throw failure(response, repo.revision(), null);
        }
        JsonNode root;
        try {
            root = JSON.readTree(response.body());
        } catch (IOException e) {
            throw new HubException(Reason.PROTOCOL, "the Hub's answer for " + repo + " is not JSON: " + e.getMessage(), e);
        }
        String commit = root.path("sha").asText("");
        if (!commit.matches("[0-9a-f]{40}") || !root.path("siblings").isArray()) {
            throw new HubException(Reason.PROTOCOL, "the Hub's answer for " + repo + " (" + uri
                    + ") lacks a commit 'sha' or a 'siblings' file list");
        }
        List<String> files = new ArrayList<>();
        for (JsonNode sibling : root.path("siblings")) {
            String name = sibling.path("rfilename").asText("");
            if (!name.isEmpty()) {
                files.add(name);
            }
        }
        return new RepoInfo(commit, files);
    }

    FileMeta fileMetadata(String commit, String file) throws HubException {
        URI uri = resolveUrl(commit, file);
        // identity: Content-Length must be the file size, not a compressed one (huggingface_hub does the same).
        HttpRequest head = request(uri, "HEAD", true).header("Accept-Encoding", "identity").build();
        HttpResponse<Void> response = sendFollowingRelative(head, HttpResponse.BodyHandlers.discarding(), file);
        int status = response.statusCode();
        if (status >= 400) {
            throw failure(response, commit, file);
        }
        Optional<String> linkedEtag = response.headers().firstValue("X-Linked-Etag");
        String etag = normalizeEtag(linkedEtag.or(() -> response.headers().firstValue("ETag")).orElse(""));
        if (etag.isEmpty()) {
            throw new HubException(Reason.PROTOCOL, "the Hub sent no ETag for " + file + " (" + uri
                    + "); without it the download cannot be verified or cached");
        }
        long size = response.headers().firstValue("X-Linked-Size")
                .or(() -> response.headers().firstValue("Content-Length"))
                .map(HubClient::parseLong).orElse(-1L);
        URI location = response.uri();
        if (status >= 300 && status < 400) {
            String to = response.headers().firstValue("Location").orElseThrow(() -> new HubException(Reason.PROTOCOL,
                    "the Hub redirected " + file + " without a Location"));
            location = response.uri().resolve(to);
        }
        return new FileMeta(file, etag, size, location, linkedEtag.isPresent());
    }

    /**
     * Starts fetching {@code meta}'s bytes from {@code offset}. Follows redirects, and drops the token when one leads
     * to another host: CDN links are pre-signed and must not see it (huggingface_hub does the same).
     */
    Body open(FileMeta meta, long offset) throws HubException {
        URI uri = meta.location();
        for (int hop = 0; hop <= MAX_REDIRECTS; hop++) {
            boolean sameHost = sameHost(uri, options.endpoint());
            HttpRequest.Builder builder = request(uri, "GET", sameHost);
            if (offset > 0) {
                builder.header("Range", "bytes=" + offset + "-");
            }
            HttpResponse<InputStream> response = send(builder.build(), HttpResponse.BodyHandlers.ofInputStream(), meta.file());
            int status = response.statusCode();
            if (status == 200) {
                return new Body(response.body(), 0);
            }
            if (status == 206) {
                Matcher m = CONTENT_RANGE.matcher(response.headers().firstValue("Content-Range").orElse(""));
                if (!m.matches() || Long.parseLong(m.group(1)) != offset) {
                    closeQuietly(response.body());
                    throw new HubException(Reason.PROTOCOL, "asked " + uri.getHost() + " for " + meta.file() + " from byte "
                            + offset + " but it answered Content-Range '"
                            + response.headers().firstValue("Content-Range").orElse("") + "'");
                }
                return new Body(response.body(), offset);
            }
            closeQuietly(response.body());
            if (status == 416 && offset > 0) {
                // The partial file does not fit what the server has: start over rather than fail.
                return open(meta, 0);
            }
            if (status >= 300 && status < 400 && response.headers().firstValue("Location").isPresent()) {
                uri = uri.resolve(response.headers().firstValue("Location").get());
                continue;
            }
            throw failure(response, null, meta.file());
        }
        throw new HubException(Reason.PROTOCOL, "more than " + MAX_REDIRECTS + " redirects fetching " + meta.file());
    }

    URI resolveUrl(String revision, String file) {
        StringBuilder path = new StringBuilder();
        for (String part : file.split("/", -1)) {
            path.append('/').append(segment(part));
        }
        return URI.create(options.endpoint() + "/" + repo.id() + "/resolve/" + segment(revision) + path);
    }

    private HttpRequest.Builder request(URI uri, String method, boolean withToken) {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri)
                .method(method, HttpRequest.BodyPublishers.noBody())
                .timeout(RESPONSE_TIMEOUT)
                .header("User-Agent", USER_AGENT);
        if (withToken && options.token() != null) {
            b.header("Authorization", "Bearer " + options.token());
        }
        return b;
    }

    /** Follows only relative redirects, which the Hub uses for renamed repos; an absolute one is the CDN's location. */
    private <T> HttpResponse<T> sendFollowingRelative(HttpRequest request, HttpResponse.BodyHandler<T> handler, String what)
            throws HubException {
        HttpRequest current = request;
        for (int hop = 0; ; hop++) {
            HttpResponse<T> response = send(current, handler, what);
            Optional<String> location = response.headers().firstValue("Location");
            int status = response.statusCode();
            if (status < 300 || status >= 400 || location.isEmpty() || URI.create(location.get()).getHost() != null
                    || hop == MAX_REDIRECTS) {
                return response;
            }
            URI next = current.uri().resolve(location.get());
            HttpRequest.Builder b = HttpRequest.newBuilder(next).method(current.method(), HttpRequest.BodyPublishers.noBody())
                    .timeout(RESPONSE_TIMEOUT);
            current.headers().map().forEach((k, vs) -> vs.forEach(v -> b.header(k, v)));
            current = b.build();
        }
    }

    private <T> HttpResponse<T> send(HttpRequest request, HttpResponse.BodyHandler<T> handler, String what) throws HubException {
        try {
            return http.send(request, handler);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HubException(Reason.NETWORK, "interrupted while fetching " + what, new InterruptedIOException());
        } catch (IOException e) {
            throw new HubException(Reason.NETWORK, "cannot reach " + request.uri().getScheme() + "://" + request.uri().getAuthority()
                    + " for " + what + ": " + describe(e) + " (set HF_HUB_OFFLINE=1 to use only the cache)", e);
        }
    }

    /** Turns an error status into the message a user can act on, after huggingface_hub's hf_raise_for_status. */
    private HubException failure(HttpResponse<?> response, String revision, String file) {
        int status = response.statusCode();
        String code = response.headers().firstValue("X-Error-Code").orElse("");
        String serverSays = response.headers().firstValue("X-Error-Message").map(m -> " (the Hub says: " + m + ")").orElse("");
        String page = options.endpoint() + "/" + repo.id();
        if ("GatedRepo".equals(code)) {
            return new HubException(Reason.UNAUTHORIZED, repo.id() + " is gated (HTTP " + status + "): accept its terms at "
                    + page + ", then set HF_TOKEN or pass --token with that account's token" + serverSays);
        }
        if (status == 401 || status == 403) {
            String problem = options.token() == null
                    ? " is gated or private: set HF_TOKEN or pass --token"
                    : " is gated or private and the token that was sent has no access: set HF_TOKEN or pass --token with one that does";
            return new HubException(Reason.UNAUTHORIZED, repo.id() + problem + " (HTTP " + status + " from " + options.endpoint()
                    + "; the Hub also answers 401 for a model that does not exist, so check the id)" + serverSays);
        }
        if (status == 404) {
            if ("RevisionNotFound".equals(code)) {
                return new HubException(Reason.NOT_FOUND, "no revision '" + revision + "' in " + repo.id()
                        + " (HTTP 404 from " + options.endpoint() + ")" + serverSays);
            }
            if ("EntryNotFound".equals(code) || (file != null && !"RepoNotFound".equals(code))) {
                return new HubException(Reason.NOT_FOUND, "no file " + file + " in " + repo.id()
                        + (revision == null ? "" : "@" + revision) + " (HTTP 404 from " + response.uri() + ")" + serverSays);
            }
            return new HubException(Reason.NOT_FOUND, "no such model on the Hub: " + repo.id() + (RepoId.DEFAULT_REVISION
                    .equals(repo.revision()) ? "" : " (revision " + repo.revision() + ")") + " (HTTP 404 from "
                    + options.endpoint() + ")" + serverSays);
        }
        if (status == 429 || status >= 500) {
            return new HubException(Reason.NETWORK, "the Hub answered HTTP " + status + " for " + response.uri()
                    + ": try again later" + serverSays);
        }
        return new HubException(Reason.PROTOCOL, "unexpected HTTP " + status + " for " + response.uri() + serverSays);
    }

    /** huggingface_hub _normalize_etag: drop the weak-validator prefix and the quotes. */
    static String normalizeEtag(String etag) {
        String e = etag.strip();
        if (e.startsWith("W/")) {
            e = e.substring(2);
        }
        return e.replace("\"", "");
    }

    static String describe(Throwable e) {
        String message = e.getMessage();
        return e.getClass().getSimpleName() + (message == null || message.isBlank() ? "" : ": " + message);
    }

    private static boolean sameHost(URI a, URI b) {
        return a.getHost() != null && a.getHost().equalsIgnoreCase(b.getHost());
    }

    private static String segment(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }

    private static long parseLong(String s) {
        try {
            return Long.parseLong(s.strip());
        } catch (NumberFormatException e) {
            return -1L;
        }
    }

    private static void closeQuietly(InputStream in) {
        try {
            in.close();
        } catch (IOException ignored) {
            // nothing left to release
        }
    }

    /** Drops the connection pool and its selector thread; a pull makes one client and is done with it. */
    @Override
    public void close() {
        http.shutdownNow();
    }
}
