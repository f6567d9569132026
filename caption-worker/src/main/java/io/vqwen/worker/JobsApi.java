package io.vqwen.worker;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.http.HttpHeaders;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.io.IOException;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * The job API on the worker's HTTP port (the gateway forwards its own {@code /v1/jobs} here):
 * <ul>
 *   <li>{@code POST /v1/jobs}: a chat completion body (optionally with {@code id} and {@code metadata}) or an
 *       OpenAI batch line; enqueued on the requests topic keyed by its id, answered 202 {@code {"id","status"}} once
 *       Kafka acknowledged it. An id that already has a result is not enqueued again: 200 with its status.</li>
 *   <li>{@code GET /v1/jobs/{id}}: {@code queued}, {@code running} (on this replica), {@code completed} with the
 *       result, or {@code failed} with the error; answered from the results topic, so any replica knows any job.</li>
 * </ul>
 * Errors are OpenAI error objects.
 */
@ApplicationScoped
public class JobsApi {
    static final String JOBS = "/v1/jobs";

    private final Worker worker;

    public JobsApi(Worker worker) {
        this.worker = worker;
    }

    void routes(@Observes Router router) {
        router.post(JOBS).handler(BodyHandler.create(false).setBodyLimit(worker.topics().maxMessageBytes())).blockingHandler(this::submit);
        router.get(JOBS + "/:id").handler(this::status);
    }

    private void submit(RoutingContext ctx) {
        byte[] body = ctx.body().buffer() == null ? new byte[0] : ctx.body().buffer().getBytes();
        JsonNode root;
        try {
            root = Json.MAPPER.readTree(body);
        } catch (JacksonException e) {
            error(ctx, 400, "invalid_request_error", "invalid_json", "We could not parse the JSON body of your request: "
                    + e.getOriginalMessage());
            return;
        } catch (IOException e) {
            error(ctx, 400, "invalid_request_error", "invalid_json", "We could not read the body of your request: " + e.getMessage());
            return;
        }
        if (root == null || !root.isObject()) {
            error(ctx, 400, "invalid_request_error", "invalid_request",
                    "The request body must be a JSON object: a chat completion request or an OpenAI batch line.");
            return;
        }
        ObjectNode job = (ObjectNode) root;
        // A job without an id gets one here, so the caller can ask for it (a record without an id gets one from its
        // offset instead, which the producer cannot know).
        if (!job.has("custom_id") && (job.get("id") == null || job.get("id").isNull())) {
            job.put("id", "job-" + UUID.randomUUID());
        }
        byte[] value = Json.bytes(job);
        JobRequest parsed;
        try {
            parsed = JobRequest.parse(value, null);
        } catch (JobRequest.InvalidRecord e) {
            error(ctx, 400, "invalid_request_error", e.error().code(), e.getMessage());
            return;
        }
        String id = parsed.id();
        if (!worker.index().isCaughtUp()) {
            unavailable(ctx, "The caption worker is still reading its results topic (" + worker.stage() + "); retry shortly.");
            return;
        }
        ObjectNode done = worker.index().get(id);
        if (done != null) {
            json(ctx, 200, status(id, done));
            return;
        }
        try {
            // A blocking route (worker pool): send() may wait up to max.block.ms for Kafka's metadata.
            ProducerRecord<String, byte[]> record = new ProducerRecord<>(worker.topics().topic().requests(), id, value);
            // The job continues this request's trace (and the gateway's, when it came through /v1/jobs there).
            worker.jobTrace().inject(record.headers());
            worker.producer().send(record)
                    .get(worker.submitTimeout().toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            unavailable(ctx, notEnqueued(e.getCause()));
            return;
        } catch (TimeoutException | RuntimeException e) {
            unavailable(ctx, notEnqueued(e));
            return;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            unavailable(ctx, notEnqueued(e));
            return;
        }
        worker.metrics().submitted.increment();
        ObjectNode out = Json.MAPPER.createObjectNode();
        out.put("id", id);
        out.put("status", "queued");
        ctx.response().putHeader(HttpHeaders.LOCATION, JOBS + "/" + URLEncoder.encode(id, StandardCharsets.UTF_8));
        json(ctx, 202, out);
    }

    private String notEnqueued(Throwable e) {
        return "Kafka at " + worker.bootstrapServers() + " did not take the job within " + worker.submitTimeout().toMillis()
                + " ms (" + e + "). The job was not enqueued; submit it again.";
    }

    private void status(RoutingContext ctx) {
        String id = ctx.pathParam("id");
        if (!worker.index().isCaughtUp()) {
            unavailable(ctx, "The caption worker is still reading its results topic (" + worker.stage() + "); retry shortly.");
            return;
        }
        ObjectNode result = worker.index().get(id);
        if (result != null) {
            json(ctx, 200, status(id, result));
            return;
        }
        ObjectNode out = Json.MAPPER.createObjectNode();
        out.put("id", id);
        // No result on the topic yet: waiting, running elsewhere, or never submitted; this replica knows its own runs.
        out.put("status", worker.consumer().isRunning(id) ? "running" : "queued");
        json(ctx, 200, out);
    }

    /** {@code {"id", "status", "result", "error"}} of a job with a result. */
    static ObjectNode status(String id, ObjectNode result) {
        ObjectNode out = Json.MAPPER.createObjectNode();
        out.put("id", id);
        out.put("status", result.path("status").asText("completed"));
        out.set("result", result);
        if (result.has("error")) out.set("error", result.get("error"));
        return out;
    }

    private static void unavailable(RoutingContext ctx, String message) {
        ctx.response().putHeader("Retry-After", "1");
        error(ctx, 503, "server_error", "service_unavailable", message);
    }

    private static void error(RoutingContext ctx, int status, String type, String code, String message) {
        ObjectNode root = Json.MAPPER.createObjectNode();
        ObjectNode e = root.putObject("error");
        e.put("message", message);
        e.put("type", type);
        e.putNull("param");
        e.put("code", code);
        json(ctx, status, root);
    }

    private static void json(RoutingContext ctx, int status, ObjectNode body) {
        var r = ctx.response();
        if (r.ended() || r.closed()) return;
        r.setStatusCode(status).putHeader(HttpHeaders.CONTENT_TYPE, "application/json").end(Json.string(body));
    }
}
