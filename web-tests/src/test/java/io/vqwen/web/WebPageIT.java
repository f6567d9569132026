package io.vqwen.web;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vqwen.cli.mesh.MeshService;
import io.vqwen.kafka.KafkaBroker;
import io.vqwen.mesh.MeshHarness;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.openqa.selenium.By;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The page in Debian's headless Chromium against the whole mesh (vision, projector, decoder, gateway as real
 * processes on loopback) on the bundled tiny-llava. One mesh and one browser tab for the class; the tests run in
 * order because they share the tab's API key and the gateway's one-entry embedding cache.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class WebPageIT {
    private static final Path MODEL = WebPage.repoRoot().resolve("testdata/tiny-llava");
    private static final String API_KEY = "web-test-key";
    /** image.png (6 KB) and image2.png (38 KB) pass; image3.jpg (144 KB) is over the limit. */
    private static final long MAX_IMAGE_BYTES = 64 * 1024;
    private static final String ENCODED = "vqwen_encoder_images_total{outcome=\"ok\"}";
    private static final String RUNNING = "vqwen_num_requests_running";
    private static final String CANCELLED = "vqwen_request_success_total{finished_reason=\"cancelled\"}";

    private static KafkaBroker kafka;
    private static CaptionWorker worker;
    private static MeshHarness mesh;
    private static Browser browser;
    private static JsonNode golden;
    /** GET /v1/models's entry, which the page shows. */
    private static JsonNode served;

    @BeforeAll
    static void start() throws IOException {
        golden = new ObjectMapper().readTree(MODEL.resolve("golden.json").toFile());
        kafka = KafkaBroker.start();
        worker = CaptionWorker.onFreePort();
        mesh = MeshHarness.builder().model(MODEL.toString())
                .property(MeshService.GATEWAY, "vqwen.api-keys", API_KEY)
                .property(MeshService.GATEWAY, "vqwen.gateway.max-image-bytes", Long.toString(MAX_IMAGE_BYTES))
                // One entry on the projector (where embeddings live): uploading another image evicts the page's, which is
                // how the re-upload test forgets it.
                .property(MeshService.PROJECTOR, "vqwen.projector.embedding-cache-entries", "1")
                .property(MeshService.GATEWAY, "vqwen.gateway.jobs-url", worker.uri().toString())
                .start();
        worker.start(WebPage.repoRoot(), mesh.grpcPort(MeshService.GATEWAY), kafka.bootstrapServers(), API_KEY,
                MeshHarness.DEFAULT_READY_TIMEOUT);
        served = new ObjectMapper().readTree(api("v1/models", null, null).body()).get("data").get(0);
        browser = new Browser();
    }

    @AfterAll
    static void stop() throws Exception {
        try (AutoCloseable b = browser; AutoCloseable w = worker; AutoCloseable m = mesh; AutoCloseable k = kafka) {
            // Closed in reverse order: broker last, so the worker can release its jobs cleanly.
        }
    }

    @Test
    @Order(1)
    void asksForTheApiKeyOnA401AndSendsItAsABearerToken() {
        browser.driver.get(gateway().toString());
        // The page's first request (GET v1/models) gets 401: the key dialog opens.
        WebElement dialog = browser.driver.findElement(By.id("key-dialog"));
        waitFor("the API key dialog", () -> dialog.isDisplayed());
        enterKey("not-the-key");
        // A wrong key is refused: the dialog comes back with the gateway's reason.
        waitFor("the dialog again after a wrong key", () -> dialog.isDisplayed() && text("key-reason").contains("Incorrect API key"));
        enterKey(API_KEY);
        waitFor("the model name from GET v1/models", () -> text("model").startsWith("model "));
        assertEquals("model " + served.get("id").asText() + " · context " + maxModelLen() + " tokens", text("model"));
        assertFalse(dialog.isDisplayed());
    }

    @Test
    @Order(2)
    void imageIsEncodedAtUploadAndTheStreamedAnswerIsTheGoldenText() throws IOException {
        double encodedBefore = mesh.metric(MeshService.VISION, ENCODED);
        chooseFile(MODEL.resolve("image.png"));
        waitFor("the image to be encoded on the server", () -> "ready".equals(attr("image-status", "data-state")));
        assertEquals(encodedBefore + 1, mesh.metric(MeshService.VISION, ENCODED), "the encoder ran once, at upload");
        assertTrue(browser.driver.findElement(By.id("preview")).isDisplayed(), "preview shown");

        fill(golden.get("prompt").asText(), 24, "0");
        assertEquals("done", sendAndWait(), "answer state; error box: " + text("error"));

        assertEquals(golden.get("generated_text").asText(), answerText());
        assertEquals("24", text("stat-tokens"));
        assertTrue(text("stat-ttft").matches("\\d+ ms \\(server \\d+ ms\\)"), text("stat-ttft"));
        assertTrue(Double.parseDouble(text("stat-tps")) > 0, text("stat-tps"));

        // Upload-time encoding: the chat request found the embeddings cached and the encoder did not run again.
        JsonNode timings = new ObjectMapper().readTree(textContent("timings"));
        assertEquals("hit", timings.get("embedding_cache").asText(), timings.toString());
        assertEquals(encodedBefore + 1, mesh.metric(MeshService.VISION, ENCODED), "no encoder run for the chat request");
        assertTrue(text("stat-cache").startsWith("cached at upload"), text("stat-cache"));

        screenshot("answer.png");
    }

    @Test
    @Order(3)
    void stopCancelsTheStreamAndTheDecoderFreesTheSequence() {
        click("clear-image");
        double cancelledBefore = mesh.metric(MeshService.DECODER, CANCELLED);
        // Text only, greedy, and far more tokens than the time the test needs to press Stop.
        int maxTokens = maxModelLen() - 64;
        fill(golden.get("text_prompt").asText(), maxTokens, "0");
        send();
        // Streaming: the text is on the page and keeps growing while the decoder is still generating.
        waitFor("a few streamed tokens", () -> answerText().length() > 8);
        int shown = answerText().length();
        waitFor("more streamed tokens", () -> answerText().length() > shown);
        assertEquals("streaming", attr("answer", "data-state"));
        assertEquals(1.0, mesh.metric(MeshService.DECODER, RUNNING), "the decoder is running the sequence");
        click("stop");
        waitFor("the page to show the stop", () -> "stopped".equals(attr("answer", "data-state")));
        String atStop = answerText();
        waitFor(() -> "the decoder to free the sequence; its gauges: " + decoderGauges(), Duration.ofSeconds(15),
                () -> mesh.metric(MeshService.DECODER, RUNNING) == 0.0);
        assertEquals(cancelledBefore + 1, mesh.metric(MeshService.DECODER, CANCELLED), "the decoder ended it as cancelled");
        assertEquals(atStop, answerText(), "no text arrives after Stop");
        int tokens = Integer.parseInt(text("stat-tokens"));
        assertTrue(tokens > 0 && tokens < maxTokens, "stopped after " + tokens + " of " + maxTokens + " tokens");
        assertTrue(browser.driver.findElement(By.id("send")).isEnabled(), "Send is enabled again");
        assertFalse(browser.driver.findElement(By.id("stop")).isEnabled(), "Stop is disabled again");
        assertFalse(browser.driver.findElement(By.id("error")).isDisplayed(), "a stop is not an error: " + text("error"));
    }

    @Test
    @Order(4)
    void anOversizedImageShowsTheGatewaysMessage() throws Exception {
        Path big = MODEL.resolve("image3.jpg");
        HttpResponse<String> refused = api("v1/images", "image/jpeg", big);
        assertEquals(400, refused.statusCode(), refused.body());
        String expected = new ObjectMapper().readTree(refused.body()).get("error").get("message").asText();
        assertTrue(expected.contains(Long.toString(MAX_IMAGE_BYTES)), "the gateway names its limit: " + expected);

        chooseFile(big);
        waitFor("the upload error", () -> browser.driver.findElement(By.id("error")).isDisplayed());
        assertEquals(expected, text("error"));
        assertEquals("failed", attr("image-status", "data-state"));
        // Send repeats the refusal instead of sending a request without the image.
        assertEquals("error", sendAndWait());
        assertEquals(expected, text("error"));
    }

    @Test
    @Order(5)
    void reuploadsAnImageTheGatewayForgotAndRetries() throws Exception {
        // This time by drag and drop onto the drop zone.
        dropFile(MODEL.resolve("image2.png"), "image/png");
        waitFor("image2 to be encoded", () -> "ready".equals(attr("image-status", "data-state")));
        double encoded = mesh.metric(MeshService.VISION, ENCODED);
        // Another client uploads an image: the one-entry cache drops image2.
        HttpResponse<String> other = api("v1/images", "image/png", MODEL.resolve("image.png"));
        assertEquals(200, other.statusCode(), other.body());
        waitFor("the other image to be encoded", () -> mesh.metric(MeshService.VISION, ENCODED) == encoded + 1);

        fill(golden.get("prompt").asText(), 24, "0");
        assertEquals("done", sendAndWait(), "answer state; error box: " + text("error"));
        // image2's own golden answer: the re-uploaded image, not the cached one, reached the decoder.
        assertEquals(golden.get("image2_generated_text").asText(), answerText());
        assertEquals(encoded + 2, mesh.metric(MeshService.VISION, ENCODED), "image2 was encoded again after the re-upload");
    }

    @Test
    @Order(6)
    void aJobSubmittedInTheJobsPanelCompletesThroughKafka() throws IOException {
        // The page still holds image2 from the previous test; the job carries it inline, through Kafka to the worker.
        fill(golden.get("prompt").asText(), 24, "0");
        click("job-submit");
        waitFor(() -> "the job to appear; error box: " + text("job-error"), Duration.ofSeconds(30),
                () -> !browser.driver.findElements(By.cssSelector("#jobs li[data-job-id]")).isEmpty());
        WebElement job = browser.driver.findElement(By.cssSelector("#jobs li[data-job-id]"));
        waitFor(() -> "the job to end; page says " + job.getText() + "\nworker log:\n" + worker.tail(), Duration.ofSeconds(120),
                () -> List.of("completed", "failed").contains(job.getDomAttribute("data-status")));
        assertEquals("completed", job.getDomAttribute("data-status"), job.getText());
        String result = (String) browser.driver.executeScript("return arguments[0].querySelector('.job-result').textContent", job);
        assertEquals(golden.get("image2_generated_text").asText(), result);
        browser.driver.executeScript("document.getElementById('jobs-panel').scrollIntoView()");
        screenshot("jobs.png");
    }

    // ------------------------------------------------------------------ helpers

    private static URI gateway() {
        return URI.create(mesh.httpUri(MeshService.GATEWAY) + "/");
    }

    private static int maxModelLen() {
        return served.get("max_model_len").asInt();
    }

    /** GET (file null) or POST a file to the gateway with the API key. */
    private static HttpResponse<String> api(String path, String contentType, Path file) throws IOException {
        HttpRequest.Builder b = HttpRequest.newBuilder(gateway().resolve(path)).header("Authorization", "Bearer " + API_KEY)
                .timeout(Duration.ofSeconds(30));
        if (file != null) b.header("Content-Type", contentType).POST(HttpRequest.BodyPublishers.ofFile(file));
        try (HttpClient c = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build()) {
            return c.send(b.build(), HttpResponse.BodyHandlers.ofString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
    }

    /** Clicks Send and waits for that answer (the page numbers them) to end; returns its state. */
    private static String sendAndWait() {
        send();
        waitFor("the answer to end", Duration.ofSeconds(120), () -> List.of("done", "error", "stopped").contains(attr("answer", "data-state")));
        return attr("answer", "data-state");
    }

    /** Clicks Send and waits until the page has started that new answer. */
    private static void send() {
        String before = attr("answer", "data-answer");
        String next = Integer.toString(before == null ? 1 : Integer.parseInt(before) + 1);
        click("send");
        waitFor("answer " + next + " to start", () -> next.equals(attr("answer", "data-answer")));
    }

    private static void enterKey(String key) {
        WebElement input = browser.driver.findElement(By.id("key-input"));
        input.clear();
        input.sendKeys(key);
        click("key-ok");
    }

    private static void chooseFile(Path file) {
        // The visually hidden <input type=file> behind the drop zone; chromedriver hands it the path as a user pick would.
        browser.driver.findElement(By.id("image")).sendKeys(file.toAbsolutePath().toString());
    }

    /** Drops a file on the drop zone: the events a browser fires when a file is dragged from the desktop. */
    private static void dropFile(Path file, String type) throws IOException {
        String base64 = java.util.Base64.getEncoder().encodeToString(Files.readAllBytes(file));
        browser.driver.executeScript("""
                const bytes = Uint8Array.from(atob(arguments[0]), c => c.charCodeAt(0));
                const dt = new DataTransfer();
                dt.items.add(new File([bytes], arguments[1], {type: arguments[2]}));
                const zone = document.getElementById('drop');
                for (const type of ['dragenter', 'dragover', 'drop']) {
                  zone.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: dt}));
                }""", base64, file.getFileName().toString(), type);
    }

    private static void fill(String prompt, int maxTokens, String temperature) {
        setValue("prompt", prompt);
        setValue("max-tokens", Integer.toString(maxTokens));
        setValue("temperature", temperature);
    }

    private static void setValue(String id, String value) {
        WebElement e = browser.driver.findElement(By.id(id));
        e.clear();
        e.sendKeys(value);
    }

    private static void click(String id) {
        browser.driver.findElement(By.id(id)).click();
    }

    private static String text(String id) {
        return browser.driver.findElement(By.id(id)).getText();
    }

    /** The exact text, leading space included (WebDriver's getText trims). */
    private static String textContent(String id) {
        return (String) browser.driver.executeScript("return document.getElementById(arguments[0]).textContent", id);
    }

    private static String answerText() {
        return textContent("answer");
    }

    private static String attr(String id, String name) {
        return browser.driver.findElement(By.id(id)).getDomAttribute(name);
    }

    private static String decoderGauges() {
        StringBuilder b = new StringBuilder();
        for (String line : mesh.metrics(MeshService.DECODER).split("\n")) {
            if (line.startsWith("vqwen_num_requests") || line.startsWith("vqwen_kv_cache_blocks_used") || line.startsWith("vqwen_request_success")) {
                b.append(line).append("; ");
            }
        }
        return b.toString();
    }

    private static void screenshot(String name) throws IOException {
        Path dir = Path.of("target", "screenshots");
        Files.createDirectories(dir);
        Path shot = browser.driver.getScreenshotAs(OutputType.FILE).toPath();
        Files.copy(shot, dir.resolve(name), StandardCopyOption.REPLACE_EXISTING);
    }

    private interface Check {
        boolean ok() throws Exception;
    }

    private static void waitFor(String what, Check check) {
        waitFor(what, Duration.ofSeconds(30), check);
    }

    private static void waitFor(String what, Duration timeout, Check check) {
        waitFor(() -> what, timeout, check);
    }

    private static void waitFor(java.util.function.Supplier<String> what, Duration timeout, Check check) {
        new WebDriverWait(browser.driver, timeout, Duration.ofMillis(50)).withMessage(what).until(d -> {
            try {
                return check.ok();
            } catch (RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
    }
}
