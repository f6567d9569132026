package io.vqwen.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vqwen.cli.mesh.MeshLayout;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * {@code ./vqwen up} as a user runs it, launcher script included, with the async captioning queue: it starts a local
 * Kafka broker and the caption worker next to the mesh, the gateway's {@code /v1/jobs} runs a job through them to the
 * golden text, and SIGTERM stops the worker before the broker and leaves nothing running but the broker's data.
 *
 * <p>Here rather than in mesh-tests: it needs the gateway and the worker packaged, and this module builds after both.
 */
class UpCommandJobsIT {
    private static final Path REPO = MeshLayout.findRepo();
    private static final Path MODEL = REPO.resolve("testdata/tiny-llava");
    /** The gateway's keys are on: the worker must get one for the gateway's gRPC chat, or its jobs never run. */
    private static final String KEY = "up-it-key";

    private final Path log = Path.of("target", "mesh-logs", "up-jobs-" + System.nanoTime() + ".log").toAbsolutePath();
    private final Path kafkaDir = Path.of("target", "up-kafka-" + System.nanoTime()).toAbsolutePath();
    private final List<String> out = new ArrayList<>();
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(2)).build();

    @Test
    void upRunsBrokerAndWorkerAndJobsCompleteThroughTheGateway() throws Exception {
        assertTrue(Files.isDirectory(REPO.resolve("cli/target/lib")), "cli is not packaged: ./vqwen would build the whole project first");
        int base = MeshLayout.freeBasePort(0, 1, 2, 3, 4, 1000, 1001, 1002, 1003);
        List<String> cmd = List.of(REPO.resolve("vqwen").toString(), "up", "--port", Integer.toString(base), "--kafka-dir", kafkaDir.toString(),
                "--drain-seconds", "5");
        Files.createDirectories(log.getParent());
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(REPO.toFile()).redirectErrorStream(true).redirectOutput(log.toFile());
        // A developer's own cluster or keys must not change what this test starts.
        for (String v : List.of("KAFKA_BOOTSTRAP_SERVERS", "VQWEN_REBUILD", "VQWEN_KAFKA_LIBS")) pb.environment().remove(v);
        pb.environment().put("VQWEN_API_KEYS", KEY);
        Process up = pb.start();
        try {
            awaitLine(l -> l.startsWith("[up] mesh ready"), Duration.ofSeconds(300), up);
            int workerPort = base + MeshLayout.CAPTION_WORKER_PORT_OFFSET;
            assertTrue(out.contains(String.format("  worker    http://127.0.0.1:%d  (caption worker: job API /v1/jobs, also on the gateway)", workerPort)),
                    plan());
            Matcher kafkaLine = Pattern.compile("  kafka     127\\.0\\.0\\.1:(\\d+)  \\(local KRaft broker, data kept in (.+)\\)").matcher("");
            int brokerPort = -1;
            for (String l : out) {
                if (kafkaLine.reset(l).matches()) {
                    brokerPort = Integer.parseInt(kafkaLine.group(1));
                    assertEquals(kafkaDir.toString(), kafkaLine.group(2));
                }
            }
            assertTrue(brokerPort > 0, "no kafka line in the plan:\n" + plan());
            assertEquals(Integer.toString(brokerPort), brokerState().getProperty("port"), "the printed address is the broker's");
            assertTrue(accepts(brokerPort), "nothing listens on the printed broker address");
            assertEquals(200, status("http://127.0.0.1:" + workerPort + "/q/health/ready"));

            // A job through the gateway's /v1/jobs: queued on the local broker, run by the worker, read back as the golden text.
            JsonNode golden = Json.MAPPER.readTree(MODEL.resolve("golden.json").toFile());
            String gateway = "http://127.0.0.1:" + base;
            HttpRequest.Builder post = HttpRequest.newBuilder(URI.create(gateway + "/v1/jobs")).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(job(golden.get("prompt").asText()).toString())).timeout(Duration.ofSeconds(30));
            assertEquals(401, http.send(post.build(), HttpResponse.BodyHandlers.discarding()).statusCode(), "the gateway's keys guard /v1/jobs");
            HttpResponse<String> submitted = http.send(post.header("Authorization", "Bearer " + KEY).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(202, submitted.statusCode(), submitted.body());
            String id = Json.MAPPER.readTree(submitted.body()).get("id").asText();
            JsonNode done = awaitJob(gateway + "/v1/jobs/" + id, Duration.ofSeconds(180), up);
            assertEquals("completed", done.get("status").asText(), done.toString());
            assertEquals(golden.get("generated_text").asText(), done.at("/result/text").asText());
            assertEquals(24, done.at("/result/usage/completion_tokens").asInt());
            assertEquals("vqwen.caption.requests", done.at("/result/job/source/topic").asText(), "the job went through Kafka");

            // SIGTERM to up: the worker first, the broker last, nothing left running; the broker's data stays.
            List<ProcessHandle> children = up.descendants().toList();
            ProcessHandle worker = only(children, "/caption-worker/target/quarkus-app/");
            ProcessHandle broker = only(children, "io.vqwen.kafka.BrokerMain");
            ProcessHandle gatewayProcess = only(children, "/gateway/target/quarkus-app/");
            String names = describe(children); // command lines are gone once the processes are
            assertEquals(6, children.size(), "vision, projector, decoder, gateway, worker and broker: " + names);
            Map<Long, Long> goneAt = watchExits(children);
            up.destroy();
            assertTrue(up.waitFor(120, TimeUnit.SECONDS), "up did not exit after SIGTERM:\n" + tail());
            assertEquals(143, up.exitValue(), "128 + SIGTERM, as a shell expects");
            for (ProcessHandle c : children) {
                c.onExit().get(10, TimeUnit.SECONDS);
                assertFalse(c.isAlive(), "still alive: " + c.info().commandLine().orElse("pid " + c.pid()));
            }
            Thread.sleep(200); // the watcher's last look
            for (ProcessHandle c : children) {
                // The broker goes last: the worker's drain still writes results to it, and nothing else needs it after.
                if (c != broker) assertTrue(goneAt.get(c.pid()) < goneAt.get(broker.pid()), "pid " + c.pid() + " stopped after the broker:\n" + names);
            }
            assertTrue(goneAt.get(worker.pid()) < goneAt.get(gatewayProcess.pid()), "the worker stops before the gateway");
            refresh();
            assertTrue(out.contains("[up] kafka broker stopped (data kept in " + kafkaDir + ")"), tail());
            assertTrue(out.contains("[up] stopped"), tail());
            assertFalse(accepts(brokerPort), "the broker still listens on " + brokerPort);
            assertTrue(Files.isRegularFile(kafkaDir.resolve("kafka-logs/meta.properties")), "the broker's storage is gone");
            try (var topics = Files.list(kafkaDir.resolve("kafka-logs"))) {
                assertTrue(topics.anyMatch(p -> p.getFileName().toString().startsWith("vqwen.caption.results-")), "the results topic's data is gone");
            }
        } finally {
            up.descendants().forEach(ProcessHandle::destroyForcibly);
            up.destroyForcibly();
        }
    }

    /** The golden request as a job: image.png inline, greedy, 24 tokens. */
    private static ObjectNode job(String prompt) throws IOException {
        String url = "data:image/png;base64," + Base64.getEncoder().encodeToString(Files.readAllBytes(MODEL.resolve("image.png")));
        ObjectNode body = Json.MAPPER.createObjectNode();
        ObjectNode user = body.putArray("messages").addObject().put("role", "user");
        var content = user.putArray("content");
        content.addObject().put("type", "image_url").putObject("image_url").put("url", url);
        content.addObject().put("type", "text").put("text", prompt);
        body.put("max_tokens", 24).put("temperature", 0);
        return body;
    }

    private JsonNode awaitJob(String url, Duration timeout, Process up) throws Exception {
        long end = System.nanoTime() + timeout.toNanos();
        JsonNode last = null;
        while (System.nanoTime() < end && up.isAlive()) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url)).header("Authorization", "Bearer " + KEY)
                    .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() == 200) {
                last = Json.MAPPER.readTree(r.body());
                String status = last.get("status").asText();
                if (status.equals("completed") || status.equals("failed")) return last;
            }
            Thread.sleep(250);
        }
        throw new AssertionError("job not finished within " + timeout + " (last answer " + last + "); up's output:\n" + tail());
    }

    /** Records when each process is first seen gone, polling every 20 ms (onExit of a non-child polls far more coarsely). */
    private static Map<Long, Long> watchExits(List<ProcessHandle> processes) {
        Map<Long, Long> gone = new ConcurrentHashMap<>();
        Thread.ofPlatform().daemon().start(() -> {
            while (gone.size() < processes.size()) {
                for (ProcessHandle p : processes) {
                    if (!p.isAlive()) gone.putIfAbsent(p.pid(), System.nanoTime());
                }
                try {
                    Thread.sleep(20);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        return gone;
    }

    private static ProcessHandle only(List<ProcessHandle> processes, String inCommandLine) {
        List<ProcessHandle> found = processes.stream().filter(p -> p.info().commandLine().orElse("").contains(inCommandLine)).toList();
        assertEquals(1, found.size(), "processes with " + inCommandLine + ": " + describe(processes));
        return found.getFirst();
    }

    private static String describe(List<ProcessHandle> processes) {
        return String.join("\n", processes.stream().map(p -> p.pid() + " " + p.info().commandLine().orElse("?")).toList());
    }

    private Properties brokerState() throws IOException {
        Properties p = new Properties();
        try (InputStream in = Files.newInputStream(kafkaDir.resolve("vqwen-broker.properties"))) {
            p.load(in);
        }
        return p;
    }

    private static boolean accepts(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 1000);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private int status(String url) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.discarding())
                .statusCode();
    }

    private void awaitLine(Predicate<String> p, Duration timeout, Process up) throws InterruptedException {
        long end = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < end) {
            refresh();
            if (out.stream().anyMatch(p)) return;
            if (!up.isAlive()) break;
            Thread.sleep(200);
        }
        refresh();
        throw new AssertionError("no such line within " + timeout + (up.isAlive() ? "" : " (up exited " + up.exitValue() + ")") + "; output:\n" + tail());
    }

    /** Re-reads up's output (a file: a pipe would race with the JDK's draining at exit). */
    private void refresh() {
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            out.clear();
            out.addAll(lines);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private String plan() {
        return String.join("\n", out.stream().filter(l -> l.startsWith("  ") || l.startsWith("vqwen up")).toList());
    }

    private String tail() {
        refresh();
        return String.join("\n", out.subList(Math.max(0, out.size() - 80), out.size()));
    }

}
