package io.vqwen.engine.hub;

import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Where models come from and where they are kept.
 *
 * @param endpoint          the Hub, {@code HF_ENDPOINT} or https://huggingface.co (a mirror works too)
 * @param token             bearer token for gated or private models ({@code HF_TOKEN}, the huggingface-cli login
 *                          file, or {@code --token}); null for none
 * @param cacheDir          the Hugging Face hub cache, holding {@code models--org--name/{refs,blobs,snapshots}}
 * @param offline           {@code HF_HUB_OFFLINE=1}: only the cache is used, the network never
 * @param parallelDownloads how many files are fetched at once
 * @param progress          where progress and log lines go; null for silence
 */
public record HubOptions(URI endpoint, String token, Path cacheDir, boolean offline, int parallelDownloads,
                         PrintStream progress) {

    public static final URI DEFAULT_ENDPOINT = URI.create("https://huggingface.co");
    /** huggingface_hub snapshot_download's max_workers. */
    public static final int DEFAULT_PARALLEL_DOWNLOADS = 8;

    // huggingface_hub constants.ENV_VARS_TRUE_VALUES
    private static final Set<String> TRUE_VALUES = Set.of("1", "ON", "YES", "TRUE");

    public HubOptions {
        if (endpoint == null || endpoint.getScheme() == null || endpoint.getHost() == null) {
            throw new IllegalArgumentException("Hub endpoint must be an absolute http(s) URL, got: " + endpoint);
        }
        String url = endpoint.toString();
        if (url.endsWith("/")) {
            endpoint = URI.create(url.replaceAll("/+$", ""));
        }
        if (token != null && token.isBlank()) {
            token = null;
        }
        if (cacheDir == null) {
            throw new IllegalArgumentException("Hub cache directory must be set");
        }
        if (parallelDownloads < 1) {
            throw new IllegalArgumentException("parallelDownloads must be at least 1, got " + parallelDownloads);
        }
    }

    /** Options from the process environment, the way huggingface_hub reads it. */
    public static HubOptions fromEnvironment() {
        return fromEnvironment(System.getenv());
    }

    /**
     * Options from the given environment: {@code HF_ENDPOINT}, {@code HF_TOKEN} (else the file {@code HF_TOKEN_PATH}
     * or {@code $HF_HOME/token} that huggingface-cli login writes), {@code HF_HUB_CACHE} (else {@code $HF_HOME/hub},
     * else {@code $XDG_CACHE_HOME/huggingface/hub}, else {@code ~/.cache/huggingface/hub}) and {@code HF_HUB_OFFLINE}.
     */
    public static HubOptions fromEnvironment(Map<String, String> env) {
        URI endpoint = nonEmpty(env.get("HF_ENDPOINT")) ? URI.create(env.get("HF_ENDPOINT").strip()) : DEFAULT_ENDPOINT;
        Path hfHome = nonEmpty(env.get("HF_HOME")) ? Path.of(env.get("HF_HOME"))
                : nonEmpty(env.get("XDG_CACHE_HOME")) ? Path.of(env.get("XDG_CACHE_HOME"), "huggingface")
                : Path.of(System.getProperty("user.home"), ".cache", "huggingface");
        Path cache = nonEmpty(env.get("HF_HUB_CACHE")) ? Path.of(env.get("HF_HUB_CACHE"))
                : nonEmpty(env.get("HUGGINGFACE_HUB_CACHE")) ? Path.of(env.get("HUGGINGFACE_HUB_CACHE"))
                : hfHome.resolve("hub");
        String token = env.get("HF_TOKEN");
        if (!nonEmpty(token)) {
            Path tokenFile = nonEmpty(env.get("HF_TOKEN_PATH")) ? Path.of(env.get("HF_TOKEN_PATH")) : hfHome.resolve("token");
            token = readToken(tokenFile);
        }
        boolean offline = nonEmpty(env.get("HF_HUB_OFFLINE"))
                && TRUE_VALUES.contains(env.get("HF_HUB_OFFLINE").strip().toUpperCase(Locale.ROOT));
        return new HubOptions(endpoint, token == null ? null : token.strip(), cache, offline,
                DEFAULT_PARALLEL_DOWNLOADS, System.err);
    }

    public HubOptions withEndpoint(URI newEndpoint) {
        return new HubOptions(newEndpoint, token, cacheDir, offline, parallelDownloads, progress);
    }

    public HubOptions withToken(String newToken) {
        return new HubOptions(endpoint, newToken, cacheDir, offline, parallelDownloads, progress);
    }

    public HubOptions withCacheDir(Path newCacheDir) {
        return new HubOptions(endpoint, token, newCacheDir, offline, parallelDownloads, progress);
    }

    public HubOptions withOffline(boolean newOffline) {
        return new HubOptions(endpoint, token, cacheDir, newOffline, parallelDownloads, progress);
    }

    public HubOptions withProgress(PrintStream newProgress) {
        return new HubOptions(endpoint, token, cacheDir, offline, parallelDownloads, newProgress);
    }

    /** Keeps the token out of logs. */
    @Override
    public String toString() {
        return "HubOptions[endpoint=" + endpoint + ", token=" + (token == null ? "none" : "set") + ", cacheDir="
                + cacheDir + ", offline=" + offline + ", parallelDownloads=" + parallelDownloads + "]";
    }

    private static boolean nonEmpty(String s) {
        return s != null && !s.isBlank();
    }

    private static String readToken(Path file) {
        try {
            return Files.isRegularFile(file) ? Files.readString(file, StandardCharsets.UTF_8).strip() : null;
        } catch (IOException e) {
            return null; // an unreadable token file means "no token", as in huggingface_hub get_token()
        }
    }
}
