package io.vqwen.cli;

import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code vqwen pull}'s flags and environment reach the resolver, its stdout is just the snapshot path, and failures
 * exit non-zero with the resolver's message. (Downloads themselves are tested in the engine's hub package.)
 */
class PullCommandTest {

    static final String COMMIT = PullFixtures.COMMIT;

    @TempDir
    Path tmp;

    record Result(int exit, String out, String err) {}

    Result run(Map<String, String> env, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        ByteArrayOutputStream progress = new ByteArrayOutputStream();
        CommandLine cli = new CommandLine(new PullCommand(env, new PrintStream(progress, true, StandardCharsets.UTF_8)));
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(err));
        int exit = cli.execute(args);
        return new Result(exit, out.toString(), err.toString());
    }

    Path handMadeCache() throws IOException {
        return PullFixtures.handMadeCache(tmp.resolve("hf-cache"));
    }

    @Test
    void offlineItPrintsTheSnapshotOfAModelHuggingfaceCliDownloaded() throws IOException {
        Path cache = handMadeCache();
        Result r = run(Map.of("HF_HUB_CACHE", cache.toString(), "HF_HUB_OFFLINE", "1"), "org/name");
        assertEquals(0, r.exit(), r.err());
        assertEquals(cache.resolve("models--org--name/snapshots/" + COMMIT).toAbsolutePath() + System.lineSeparator(), r.out());
    }

    @Test
    void cacheDirFlagBeatsTheEnvironment() throws IOException {
        Path cache = handMadeCache();
        Result r = run(Map.of("HF_HUB_CACHE", tmp.resolve("elsewhere").toString(), "HF_HUB_OFFLINE", "1"),
                "org/name", "--cache-dir", cache.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains(COMMIT));
    }

    @Test
    void offlineWithoutTheModelExitsWithAClearMessage() {
        Result r = run(Map.of("HF_HUB_CACHE", tmp.toString(), "HF_HUB_OFFLINE", "1"), "org/name@v2");
        assertEquals(PullCommand.EXIT_FAILED, r.exit());
        assertEquals("", r.out());
        assertTrue(r.err().startsWith("vqwen pull: org/name@v2 is not in the Hugging Face cache at " + tmp.toAbsolutePath())
                && r.err().contains("HF_HUB_OFFLINE=1 forbids downloading"), r.err());
    }

    @Test
    void tokenFromTheFlagOrTheEnvironmentReachesTheEndpoint() throws IOException {
        // A Hub that wants "Bearer hf_ok" and then has no such model: 401 without the token, 404 with it.
        List<String> seen = new CopyOnWriteArrayList<>();
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", ex -> {
            String auth = ex.getRequestHeaders().getFirst("Authorization");
            seen.add(ex.getRequestURI().getPath() + " " + auth);
            ex.getResponseHeaders().set("X-Error-Code", "RepoNotFound");
            ex.sendResponseHeaders("Bearer hf_ok".equals(auth) ? 404 : 401, -1);
            ex.close();
        });
        server.start();
        try {
            String url = "http://127.0.0.1:" + server.getAddress().getPort();
            Map<String, String> env = new HashMap<>(Map.of("HF_HUB_CACHE", tmp.toString(), "HF_HOME", tmp.toString()));

            Result anonymous = run(env, "org/name", "--endpoint", url);
            assertEquals(PullCommand.EXIT_FAILED, anonymous.exit());
            assertTrue(anonymous.err().contains("org/name is gated or private: set HF_TOKEN or pass --token"), anonymous.err());

            Result flag = run(env, "org/name", "--endpoint", url, "--token", "hf_ok");
            assertTrue(flag.err().startsWith("vqwen pull: no such model on the Hub: org/name"), flag.err());

            env.put("HF_ENDPOINT", url);
            env.put("HF_TOKEN", "hf_ok");
            Result fromEnv = run(env, "org/name");
            assertTrue(fromEnv.err().startsWith("vqwen pull: no such model on the Hub: org/name"), fromEnv.err());

            assertEquals(List.of("/api/models/org/name/revision/main null", "/api/models/org/name/revision/main Bearer hf_ok",
                    "/api/models/org/name/revision/main Bearer hf_ok"), seen);
        } finally {
            server.stop(0);
        }
    }

    @Test
    void somethingThatIsNotAHubIdIsAUsageError() {
        Result r = run(Map.of("HF_HUB_CACHE", tmp.toString()), "just-a-name");
        assertEquals(PullCommand.EXIT_USAGE, r.exit());
        assertEquals("vqwen pull: not a Hub model id (expected org/name[@revision]): just-a-name" + System.lineSeparator(), r.err());
    }
}
