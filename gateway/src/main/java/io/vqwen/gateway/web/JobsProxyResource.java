package io.vqwen.gateway.web;

import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import io.vqwen.gateway.ApiException;
import io.vqwen.gateway.ApiKeys;
import io.vqwen.gateway.GatewayConfig;
import io.vqwen.gateway.OpenAiFormat;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.net.URI;
import java.util.Optional;

/**
 * The caption worker's job API ({@code POST /v1/jobs}, {@code GET /v1/jobs/{id}}) on the gateway's own origin, so
 * the web page (and any client that only knows the gateway) reaches it with relative URLs. Requests are checked
 * against the gateway's API keys, then forwarded as they are to {@code vqwen.gateway.jobs-url}; the worker's
 * status and JSON come back unchanged.
 */
@ApplicationScoped
public class JobsProxyResource {
    private static final String JOBS = "/v1/jobs";
    /** Before the gateway's {@code /v1/*} catch-all, which answers 404 for paths it does not serve. */
    private static final int ROUTE_ORDER = -100;

    private final ApiKeys keys;
    private final GatewayConfig cfg;
    private final Optional<URI> jobsUrl;
    private final HttpClient client;

    public JobsProxyResource(Vertx vertx, ApiKeys keys, GatewayConfig cfg, JobsProxyConfig proxy) {
        this.keys = keys;
        this.cfg = cfg;
        this.jobsUrl = proxy.jobsUrl();
        this.client = vertx.createHttpClient(new HttpClientOptions().setConnectTimeout(cfg.grpcDeadlineSeconds() * 1000)
                .setKeepAlive(true));
    }

    void routes(@Observes Router router) {
        BodyHandler body = BodyHandler.create(false).setBodyLimit(cfg.maxBodyBytes());
        // Keys on a route of their own, before the body is read (Vert.x wants a body handler first on its route).
        router.route(JOBS + "*").order(ROUTE_ORDER).handler(this::auth).failureHandler(this::failure);
        router.post(JOBS).order(ROUTE_ORDER + 1).handler(body).handler(this::forward).failureHandler(this::failure);
        router.get(JOBS + "/:id").order(ROUTE_ORDER + 2).handler(this::forward).failureHandler(this::failure);
    }

    private void auth(RoutingContext ctx) {
        keys.check(ctx.request().getHeader(HttpHeaders.AUTHORIZATION));
        ctx.next();
    }

    private void forward(RoutingContext ctx) {
        if (jobsUrl.isEmpty()) {
            send(ctx, ApiException.unavailable("The job API is not configured on this gateway: set vqwen.gateway.jobs-url to the "
                    + "caption worker's HTTP address (for example http://localhost:8084).", null));
            return;
        }
        URI base = jobsUrl.get();
        boolean tls = "https".equalsIgnoreCase(base.getScheme());
        int port = base.getPort() > 0 ? base.getPort() : tls ? 443 : 80;
        String prefix = base.getRawPath() == null ? "" : base.getRawPath().replaceAll("/+$", "");
        String query = ctx.request().query();
        RequestOptions opts = new RequestOptions().setMethod(ctx.request().method()).setHost(base.getHost()).setPort(port)
                .setSsl(tls).setURI(prefix + ctx.request().path() + (query == null ? "" : "?" + query))
                .setTimeout(cfg.grpcDeadlineSeconds() * 1000L);
        for (var h : new CharSequence[] {HttpHeaders.CONTENT_TYPE, HttpHeaders.AUTHORIZATION, HttpHeaders.ACCEPT}) {
            String v = ctx.request().getHeader(h);
            if (v != null) opts.putHeader(h, v);
        }
        Buffer body = ctx.request().method() == HttpMethod.POST && ctx.body().buffer() != null ? ctx.body().buffer() : Buffer.buffer();
        client.request(opts)
                .compose(req -> req.send(body))
                .compose(resp -> resp.body().map(b -> {
                    var out = ctx.response().setStatusCode(resp.statusCode());
                    for (String h : new String[] {"Content-Type", "Retry-After", "Location"}) {
                        String v = resp.getHeader(h);
                        if (v != null) out.putHeader(h, v);
                    }
                    out.end(b);
                    return null;
                }))
                .onFailure(e -> send(ctx, ApiException.unavailable("The caption worker at " + base + " cannot be reached: "
                        + e.getMessage(), e)));
    }

    private void failure(RoutingContext ctx) {
        Throwable f = ctx.failure();
        if (f instanceof ApiException a) {
            send(ctx, a);
        } else if (ctx.statusCode() == 413) {
            send(ctx, ApiException.tooLarge("The request body is over this server's limit of " + cfg.maxBodyBytes()
                    + " bytes (vqwen.gateway.max-body-bytes)."));
        } else {
            send(ctx, ApiException.internal("gateway error while forwarding a job request: " + f, f));
        }
    }

    private static void send(RoutingContext ctx, ApiException e) {
        var r = ctx.response();
        if (r.ended() || r.closed() || r.headWritten()) return;
        r.setStatusCode(e.status()).putHeader(HttpHeaders.CONTENT_TYPE, "application/json");
        if (e.status() == 401) r.putHeader("WWW-Authenticate", "Bearer");
        r.end(OpenAiFormat.error(e));
    }
}
