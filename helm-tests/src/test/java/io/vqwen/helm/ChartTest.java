package io.vqwen.helm;

import static io.vqwen.helm.Manifests.container;
import static io.vqwen.helm.Manifests.containerPort;
import static io.vqwen.helm.Manifests.env;
import static io.vqwen.helm.Manifests.envValue;
import static io.vqwen.helm.Manifests.name;
import static io.vqwen.helm.Manifests.podLabels;
import static io.vqwen.helm.Manifests.podSpec;
import static io.vqwen.helm.Manifests.selects;
import static io.vqwen.helm.Manifests.strings;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.MissingNode;
import java.io.IOException;
import java.io.Reader;
import java.io.StringReader;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Renders helm/vqwen with the default values, with Kafka configured, and with helm/values-two-gpu-pools.yaml, and
 * checks what a cluster would get against the services themselves: probes on the ports and paths they serve, GPUs
 * requested and pinned to the right pool, every gRPC client and the job API pointed at the Service of the right
 * pods, every config variable one the service declares, every autoscaling metric one it publishes, and nothing but
 * the gateway reachable from outside.
 */
class ChartTest {

    /** A component of the mesh: its values key, its module, and the ports the project's conventions give it. */
    enum Component {
        GATEWAY("gateway", "gateway", "cpu", 8080, 9080),
        VISION("vision", "vision-service", "vision", 8081, 9081),
        PROJECTOR("projector", "projector-service", "vision", 8082, 9082),
        DECODER("decoder", "decoder-service", "decoder", 8083, 9083),
        CAPTION_WORKER("captionWorker", "caption-worker", "cpu", 8084, 0);

        final String key;
        final String module;
        /** The design: tower and projector share the vision GPU pool, the decoder has its own, gateway and worker none. */
        final String pool;
        final int conventionalHttp;
        final int conventionalGrpc;

        Component(String key, String module, String pool, int http, int grpc) {
            this.key = key;
            this.module = module;
            this.pool = pool;
            this.conventionalHttp = http;
            this.conventionalGrpc = grpc;
        }

        ServiceConfig config() {
            return ServiceConfig.load(Helm.REPO, module, conventionalHttp, conventionalGrpc);
        }

        DeclaredConfig declared() {
            return DECLARED.computeIfAbsent(this, c -> DeclaredConfig.load(Helm.REPO, c.module));
        }

        Set<String> publishedMetrics() {
            return PUBLISHED.computeIfAbsent(this, c -> MeterNames.published(Helm.REPO, c.module));
        }

        /** The caption worker talks to the gateway and Kafka only; everything else reads the model. */
        boolean usesModel() {
            return this != CAPTION_WORKER;
        }

        static Component ofModule(String module) {
            return Arrays.stream(values()).filter(c -> c.module.equals(module)).findFirst()
                    .orElseGet(() -> fail("no component builds module " + module));
        }

        static final List<Component> GRPC_SERVICES = List.of(VISION, PROJECTOR, DECODER);
    }

    private static final Map<Component, DeclaredConfig> DECLARED = new ConcurrentHashMap<>();
    private static final Map<Component, Set<String>> PUBLISHED = new ConcurrentHashMap<>();

    /**
     * Whose gRPC server each client name the services declare (quarkus.grpc.clients.NAME) dials. "chat" is the
     * caption worker's GatewayChat: the gateway's public ChatService (docs/kafka.md).
     */
    private static final Map<String, Component> CLIENT_PEERS = Map.of(
            "vision", Component.VISION,
            "projector", Component.PROJECTOR,
            "decoder", Component.DECODER,
            "chat", Component.GATEWAY);

    /**
     * Metrics an HPA may use that no vqwen service publishes, each from a named exporter. Everything else must be a
     * name the target's own Micrometer meters produce.
     */
    private static final Set<String> EXTERNAL_METRICS = Set.of(
            // NVIDIA dcgm-exporter: GPU utilisation in percent, labelled with the pod that holds the GPU.
            "DCGM_FI_DEV_GPU_UTIL");

    /**
     * Quarkus properties the chart sets that the services leave at Quarkus's defaults, so they appear in no
     * application.properties or source file. Each is checked to exist in the Quarkus jars of the services' version
     * (quarkusBuiltInsTheChartSetsExistInQuarkus).
     */
    // quarkus-grpc, per client the service declares: headless Services need client-side balancing, and grpc.tls
    // makes every client verify its server (and with mutual TLS present a certificate).
    private static final List<String> GRPC_CLIENT_BUILT_INS = List.of(
            "load-balancing-policy", "plain-text", "ssl.trust-store", "ssl.certificate", "ssl.key");
    // quarkus-grpc, for a service with its own gRPC server: grpc.tls on the model services' servers.
    private static final List<String> GRPC_SERVER_BUILT_INS = List.of(
            "quarkus.grpc.server.plain-text", "quarkus.grpc.server.ssl.certificate", "quarkus.grpc.server.ssl.key",
            "quarkus.grpc.server.ssl.client-auth", "quarkus.grpc.server.ssl.trust-store",
            "quarkus.grpc.server.ssl.trust-store-password");
    // quarkus-core: shutdown.drainSeconds on the gateway, whose only drain is Quarkus's graceful shutdown.
    private static final List<String> CORE_BUILT_INS = List.of("quarkus.shutdown.timeout");

    /** A values file and --set overrides to render with; no file means the chart's defaults. */
    record Case(String label, Path valuesFile, List<String> sets, boolean twoPools) {
        JsonNode values() {
            return Manifests.values(valuesFile, sets);
        }

        /** The chart deploys the worker when it is enabled and Kafka is configured. */
        boolean worker() {
            JsonNode k = values().path("kafka");
            boolean kafka = !k.path("bootstrapServers").asText("").isEmpty() || k.path("strimzi").path("enabled").asBoolean();
            return kafka && values().path("captionWorker").path("enabled").asBoolean();
        }

        @Override
        public String toString() {
            return label;
        }
    }

    static Stream<Case> cases() {
        return Stream.of(
                new Case("default values", null, List.of(), false),
                new Case("default values + kafka.bootstrapServers", null,
                        List.of("kafka.bootstrapServers=kafka-0.kafka.example.org:9092"), false),
                new Case("values-two-gpu-pools.yaml", Helm.REPO.resolve("helm/values-two-gpu-pools.yaml"), List.of(), true),
                new Case("tracing to an OTLP collector", null, List.of("kafka.bootstrapServers=kafka-0.kafka.example.org:9092",
                        "tracing.otlp.endpoint=http://otel-collector.observability:4318", "tracing.otlp.protocol=http/protobuf",
                        "tracing.samplerRatio=0.25"), false));
    }

    private static final Map<String, Manifests> RENDERED = new ConcurrentHashMap<>();

    static Manifests render(Case c) {
        return RENDERED.computeIfAbsent(c.label(), k -> {
            Helm.Result r = Helm.locate().template(c.valuesFile(), c.sets().toArray(String[]::new));
            assertTrue(r.ok(), "helm template with " + c + " failed:\n" + r.stderr());
            return Manifests.parse(r.stdout());
        });
    }

    /** The components rendered: the four of the mesh always, the worker exactly when Kafka is configured. */
    static List<Component> deployed(Case c, Manifests m) {
        List<Component> out = Arrays.stream(Component.values()).filter(comp -> m.hasDeployment(comp.module)).toList();
        List<Component> expected = Arrays.stream(Component.values())
                .filter(comp -> comp != Component.CAPTION_WORKER || c.worker()).toList();
        assertEquals(expected, out, "Deployments in " + c);
        return out;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void helmLintPassesStrict(Case c) {
        Helm.Result r = Helm.locate().lint(c.valuesFile(), c.sets().toArray(String[]::new));
        assertTrue(r.ok(), "helm lint --strict with " + c + " failed:\n" + r.stdout() + r.stderr());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void probesAndPortsMatchWhatEachServiceServes(Case c) {
        Manifests m = render(c);
        for (Component comp : deployed(c, m)) {
            ServiceConfig cfg = comp.config();
            JsonNode ctr = container(m.deployment(comp.module), comp.module);
            String where = comp.module + " in " + c + " vs " + cfg.origin();

            assertEquals(cfg.httpPort(), containerPort(ctr, text("http")), "HTTP containerPort of " + where);
            if (cfg.separateGrpcServer()) {
                assertEquals(cfg.grpcPort(), containerPort(ctr, text("grpc")), "gRPC containerPort of " + where);
            } else {
                // The caption worker serves no gRPC (quarkus.grpc.server.use-separate-server=false, no services).
                for (JsonNode p : ctr.path("ports")) {
                    assertEquals(cfg.httpPort(), p.path("containerPort").asInt(), "ports of " + where + ": " + p);
                }
            }

            Map<String, String> expected = Map.of(
                    "startupProbe", cfg.startedPath(),
                    "readinessProbe", cfg.readyPath(),
                    "livenessProbe", cfg.livePath());
            for (var e : expected.entrySet()) {
                JsonNode get = ctr.path(e.getKey()).path("httpGet");
                assertFalse(get.isMissingNode(), e.getKey() + " of " + where + " must be an httpGet probe");
                assertEquals(e.getValue(), get.path("path").asText(), e.getKey() + " path of " + where);
                assertEquals(cfg.healthPort(), containerPort(ctr, get.path("port")), e.getKey() + " port of " + where);
                assertEquals("HTTP", get.path("scheme").asText("HTTP"), e.getKey() + " scheme of " + where);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void everyGpuWorkloadRequestsAGpuAndLandsOnItsOwnPool(Case c) {
        Manifests m = render(c);
        JsonNode values = c.values();
        JsonNode pools = values.path("pools");
        List<Component> deployed = deployed(c, m);

        Set<String> gpuWorkloads = new TreeSet<>();
        for (Component comp : deployed) {
            JsonNode dep = m.deployment(comp.module);
            JsonNode ctr = container(dep, comp.module);
            JsonNode resources = ctr.path("resources");
            boolean cuda = envValue(ctr, "VQWEN_BACKEND").filter("cuda"::equals).isPresent();
            String poolName = values.path(comp.key).path("pool").asText();
            assertEquals(comp.pool, poolName, comp.module + " pool in " + c);
            assertEquals(comp.pool, podLabels(dep).get("vqwen.io/pool"), comp.module + " pod's pool label in " + c);
            JsonNode pool = pools.path(poolName);
            JsonNode pod = podSpec(dep);
            if (!cuda) {
                assertTrue(resources.path("limits").path("nvidia.com/gpu").isMissingNode()
                                && resources.path("requests").path("nvidia.com/gpu").isMissingNode(),
                        comp.module + " runs on the CPU but requests a GPU in " + c);
                continue;
            }
            gpuWorkloads.add(comp.module);
            int limit = resources.path("limits").path("nvidia.com/gpu").asInt(0);
            assertTrue(limit >= 1, comp.module + " uses backend=cuda but its limits carry no nvidia.com/gpu in " + c);
            assertEquals(limit, resources.path("requests").path("nvidia.com/gpu").asInt(limit),
                    comp.module + ": GPU request must equal the limit (extended resources are not overcommitted)");
            assertEquals("0", envValue(ctr, "VQWEN_DEVICE").orElse(null),
                    comp.module + ": the device plugin shows the granted GPU as device 0");

            assertTrue(pool.path("gpu").asBoolean(), comp.module + " is on pool " + poolName + ", not a GPU pool");
            assertFalse(pool.path("nodeSelector").isEmpty(),
                    "GPU pool " + poolName + " has no nodeSelector, so " + comp.module + " could land anywhere");
            assertEquals(pool.path("nodeSelector"), pod.path("nodeSelector"), comp.module + " nodeSelector in " + c);
            assertEquals(pool.path("tolerations"), pod.path("tolerations"), comp.module + " tolerations in " + c);
            assertEquals(missingAsEmpty(pool.path("affinity")), missingAsEmpty(pod.path("affinity")),
                    comp.module + " affinity in " + c);
        }
        assertEquals(Set.of("decoder-service", "projector-service", "vision-service"), gpuWorkloads,
                "GPU workloads in " + c);

        // Schedule every pod against a node of each pool: labels from the pool's nodeSelector, taints the pool's
        // tolerations are there for (the two-pool file's header documents them).
        Map<String, Node> nodes = new HashMap<>();
        for (var e : pools.properties()) {
            if (e.getValue().path("gpu").asBoolean()) {
                nodes.put(e.getKey(), Node.of(e.getValue()));
            }
        }
        for (Component comp : deployed) {
            JsonNode pod = podSpec(m.deployment(comp.module));
            String own = values.path(comp.key).path("pool").asText();
            for (var node : nodes.entrySet()) {
                boolean fits = node.getValue().admits(pod);
                if (node.getKey().equals(own)) {
                    assertTrue(fits, comp.module + " does not fit a node of its own pool " + own + " in " + c);
                } else if (comp.pool.equals("cpu")) {
                    assertFalse(fits, "the CPU-only " + comp.module + " would land on GPU pool " + node.getKey() + " in " + c);
                } else if (c.twoPools()) {
                    assertFalse(fits, comp.module + " (pool " + own + ") also fits pool " + node.getKey() + " in " + c);
                }
            }
        }
        if (c.twoPools()) {
            assertNotEquals(pools.path("vision").path("nodeSelector"), pools.path("decoder").path("nodeSelector"),
                    "the two-pool values must select different nodes for vision and decoder");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void everyGrpcClientDialsTheServiceOfItsPeer(Case c) {
        Manifests m = render(c);
        String domain = c.values().path("clusterDomain").asText();
        Pattern clientEnv = Pattern.compile("QUARKUS_GRPC_CLIENTS_([A-Z0-9_]+?)_(HOST|PORT)");

        for (Component comp : deployed(c, m)) {
            JsonNode ctr = container(m.deployment(comp.module), comp.module);
            Set<String> declared = comp.declared().grpcClients();
            Set<String> set = new TreeSet<>();
            for (JsonNode e : ctr.path("env")) {
                Matcher mm = clientEnv.matcher(e.path("name").asText());
                if (mm.matches()) {
                    set.add(mm.group(1).toLowerCase().replace('_', '-'));
                }
            }
            // Each client the service declares must leave its localhost default; a client it lacks is a typo.
            assertEquals(declared, set, comp.module + ": gRPC clients in its sources vs the clients the chart points in " + c);

            for (String client : declared) {
                Component peer = Optional.ofNullable(CLIENT_PEERS.get(client)).orElseGet(() -> fail(comp.module
                        + " declares gRPC client '" + client + "'; add whose server it dials to CLIENT_PEERS"));
                String prefix = "QUARKUS_GRPC_CLIENTS_" + client.toUpperCase().replace('-', '_') + "_";
                String where = comp.module + "'s client '" + client + "' in " + c;
                String host = envValue(ctr, prefix + "HOST").orElseGet(() -> fail(where + " has no " + prefix + "HOST"));
                int port = Integer.parseInt(envValue(ctr, prefix + "PORT").orElseGet(() -> fail(where + " has no PORT")));

                String serviceName = host.split("\\.", 2)[0];
                JsonNode svc = m.find("Service", serviceName)
                        .orElseGet(() -> fail(where + " dials " + host + " but no Service " + serviceName + " is rendered"));
                assertEquals(serviceName + "." + Helm.NAMESPACE + ".svc." + domain, host,
                        where + ": the host must be the Service's name in the release namespace");
                JsonNode grpcPort = servicePort(svc, port)
                        .orElseGet(() -> fail("Service " + serviceName + " has no port " + port + " (" + where + ")"));
                assertEquals("grpc", grpcPort.path("name").asText(), "port " + port + " of " + serviceName);

                // The Service must lead to the peer's pods and nowhere else, on the port the peer's gRPC server uses.
                Map<String, String> selector = strings(svc.path("spec").path("selector"));
                List<String> selected = m.ofKind("Deployment").stream()
                        .filter(d -> selects(selector, podLabels(d)))
                        .map(d -> podLabels(d).get("app.kubernetes.io/component"))
                        .toList();
                assertEquals(List.of(peer.module), selected, "pods behind Service " + serviceName + " (" + where + ")");
                JsonNode peerCtr = container(m.deployment(peer.module), peer.module);
                ServiceConfig cfg = peer.config();
                int target = containerPort(peerCtr, grpcPort.path("targetPort"));
                assertEquals(cfg.grpcPort(), target,
                        "Service " + serviceName + " targetPort vs " + cfg.origin() + " quarkus.grpc.server.port");

                if ("None".equals(svc.path("spec").path("clusterIP").asText())) {
                    // Headless: the client connects to pod IPs itself, on the port it dials, and only balances if
                    // told to (pick_first would pin one pod per client).
                    assertEquals(target, port, where + ": a headless Service maps no ports, so the client must dial "
                            + "the container's port");
                    assertEquals("round_robin", envValue(ctr, prefix + "LOAD_BALANCING_POLICY").orElse("pick_first"),
                            serviceName + " is headless, so " + where + " must balance calls");
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void gatewayForwardsTheJobApiToTheWorkerService(Case c) {
        Manifests m = render(c);
        deployed(c, m);
        JsonNode gw = container(m.deployment("gateway"), "gateway");
        Optional<String> url = envValue(gw, "VQWEN_GATEWAY_JOBS_URL");
        if (!c.worker()) {
            // No worker: the gateway answers /v1/jobs with 503 "not configured", not with connection errors.
            assertTrue(url.isEmpty(), "no caption worker in " + c + ", yet the gateway forwards jobs to " + url);
            return;
        }
        URI u = URI.create(url.orElseGet(() -> fail("the gateway has no VQWEN_GATEWAY_JOBS_URL in " + c)));
        assertEquals("http", u.getScheme(), "jobs URL " + u);
        assertTrue(u.getRawPath() == null || u.getRawPath().isEmpty(),
                "the gateway appends /v1/jobs to the URL's path itself: " + u);
        String serviceName = u.getHost().split("\\.", 2)[0];
        assertEquals(serviceName + "." + Helm.NAMESPACE + ".svc." + c.values().path("clusterDomain").asText(), u.getHost(),
                "jobs URL host");
        JsonNode svc = m.find("Service", serviceName)
                .orElseGet(() -> fail("the gateway forwards jobs to " + u + " but no Service " + serviceName + " exists"));
        Map<String, String> selector = strings(svc.path("spec").path("selector"));
        List<String> selected = m.ofKind("Deployment").stream()
                .filter(d -> selects(selector, podLabels(d)))
                .map(d -> podLabels(d).get("app.kubernetes.io/component"))
                .toList();
        assertEquals(List.of("caption-worker"), selected, "pods behind " + u);
        JsonNode port = servicePort(svc, u.getPort())
                .orElseGet(() -> fail("Service " + serviceName + " has no port " + u.getPort()));
        JsonNode worker = container(m.deployment("caption-worker"), "caption-worker");
        ServiceConfig cfg = Component.CAPTION_WORKER.config();
        assertEquals(cfg.httpPort(), containerPort(worker, port.path("targetPort")),
                "jobs URL " + u + " must reach the worker's quarkus.http.port in " + cfg.origin());
        assertTrue(Set.of("ClusterIP", "").contains(svc.path("spec").path("type").asText("")),
                "the worker's Service must stay inside the cluster: " + svc.path("spec").path("type"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void everyConfigVariableIsAPropertyItsServiceDeclares(Case c) {
        Manifests m = render(c);
        List<String> problems = new ArrayList<>();
        for (Component comp : deployed(c, m)) {
            DeclaredConfig declared = comp.declared();
            ServiceConfig cfg = comp.config();
            JsonNode ctr = container(m.deployment(comp.module), comp.module);
            int checked = 0;
            for (JsonNode e : ctr.path("env")) {
                String var = e.path("name").asText();
                if (var.startsWith("OTEL_")) {
                    // The OpenTelemetry SDK's standard names, which vqwen-telemetry maps onto quarkus.otel.*.
                    checked++;
                    if (!OtelVariables.honoured(Helm.REPO, comp.module, var)) {
                        problems.add(comp.module + ": " + var + " is not among " + OtelVariables.mapped(Helm.REPO)
                                + " or the module lacks vqwen-telemetry");
                    }
                    continue;
                }
                if (!var.startsWith("VQWEN_") && !var.startsWith("QUARKUS_") && !var.startsWith("KAFKA_")) {
                    continue; // JAVA_OPTS, HF_*: read by the JVM launcher and the Hub client, not as properties
                }
                checked++;
                if (declared.propertyOf(var) == null && builtInFor(var, declared, cfg) == null) {
                    problems.add(comp.module + ": " + var + " sets no property " + comp.module + " declares");
                }
            }
            assertTrue(checked > 0, comp.module + " gets no config variables at all in " + c);
            // Properties the chart writes to config/application.properties obey the same rule.
            String configMap = name(m.deployment(comp.module)) + "-config";
            for (JsonNode cm : m.find("ConfigMap", configMap).stream().toList()) {
                Properties p = new Properties();
                try {
                    p.load(new StringReader(cm.path("data").path("application.properties").asText()));
                } catch (IOException e) {
                    throw new AssertionError(e);
                }
                for (String key : p.stringPropertyNames()) {
                    boolean ours = key.startsWith("vqwen.");
                    if (ours && !declared.properties().contains(key)) {
                        problems.add(comp.module + ": ConfigMap " + configMap + " sets " + key + ", which it never reads");
                    }
                }
            }
        }
        assertEquals(List.of(), problems, "config variables in " + c);
    }

    @Test
    void quarkusBuiltInsTheChartSetsExistInQuarkus() throws IOException {
        Set<String> known = new TreeSet<>();
        var resources = getClass().getClassLoader().getResources("META-INF/quarkus-config-doc/quarkus-config-model.json");
        int jars = 0;
        while (resources.hasMoreElements()) {
            jars++;
            collectProperties(Manifests.YAML.readTree(resources.nextElement()), known);
        }
        assertEquals(2, jars, "config models of quarkus-core and quarkus-grpc on the test classpath");
        List<String> listed = new ArrayList<>(GRPC_SERVER_BUILT_INS);
        listed.addAll(CORE_BUILT_INS);
        GRPC_CLIENT_BUILT_INS.forEach(s -> listed.add("quarkus.grpc.clients.\"client-name\"." + s));
        for (String p : listed) {
            assertTrue(known.contains(p), p + " is not a property of Quarkus " + known.size() + " known");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void onlyTheGatewayIsReachableFromOutside(Case c) {
        Manifests m = render(c);
        List<Component> deployed = deployed(c, m);
        Map<String, String> gatewayPods = podLabels(m.deployment("gateway"));
        List<Map<String, String>> otherPods = deployed.stream()
                .filter(comp -> comp != Component.GATEWAY)
                .map(comp -> podLabels(m.deployment(comp.module)))
                .toList();

        Set<String> gatewayServices = new LinkedHashSet<>();
        List<String> exposures = new ArrayList<>();
        for (JsonNode svc : m.ofKind("Service")) {
            Map<String, String> selector = strings(svc.path("spec").path("selector"));
            String type = svc.path("spec").path("type").asText("ClusterIP");
            boolean gateway = !selector.isEmpty() && selects(selector, gatewayPods)
                    && otherPods.stream().noneMatch(p -> selects(selector, p));
            if (gateway) {
                gatewayServices.add(name(svc));
            }
            boolean exposed = type.equals("LoadBalancer") || type.equals("NodePort")
                    || !svc.path("spec").path("externalIPs").isEmpty();
            if (exposed) {
                assertTrue(gateway, "Service " + name(svc) + " of type " + type + " exposes pods other than the gateway");
                exposures.add("Service/" + name(svc));
            }
        }
        assertFalse(gatewayServices.isEmpty(), "no Service selects the gateway in " + c);

        for (JsonNode ing : m.ofKind("Ingress")) {
            for (JsonNode backend : ingressBackends(ing)) {
                String target = backend.path("service").path("name").asText();
                assertTrue(gatewayServices.contains(target),
                        "Ingress " + name(ing) + " routes to Service " + target + ", which is not the gateway");
            }
            exposures.add("Ingress/" + name(ing));
        }

        for (JsonNode dep : m.ofKind("Deployment")) {
            JsonNode pod = podSpec(dep);
            assertFalse(pod.path("hostNetwork").asBoolean(false), name(dep) + " uses the host network");
            for (JsonNode ctr : pod.path("containers")) {
                for (JsonNode p : ctr.path("ports")) {
                    assertTrue(p.path("hostPort").isMissingNode(), name(dep) + " binds a hostPort");
                }
            }
        }

        if (c.twoPools()) {
            // This file publishes the gateway (LoadBalancer and Ingress), so the checks above had work to do.
            assertEquals(2, exposures.size(), "exposures in " + c + ": " + exposures);
        } else {
            assertEquals(List.of(), exposures, "the defaults keep the gateway internal (ClusterIP, no Ingress)");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void grpcServicesAcceptConnectionsOnlyFromTheMesh(Case c) {
        Manifests m = render(c);
        Map<String, String> gatewayPods = podLabels(m.deployment("gateway"));
        // A pod of another release of the same chart in the same namespace: not part of this mesh.
        Map<String, String> stranger = new HashMap<>(gatewayPods);
        stranger.put("app.kubernetes.io/instance", "someone-else");

        for (Component comp : Component.GRPC_SERVICES) {
            Map<String, String> pods = podLabels(m.deployment(comp.module));
            int grpcPort = comp.config().grpcPort();
            List<JsonNode> policies = ingressPolicies(m, pods);
            assertFalse(policies.isEmpty(), "no ingress NetworkPolicy isolates " + comp.module + " in " + c);

            boolean gatewayAdmitted = false;
            for (JsonNode np : policies) {
                for (JsonNode rule : np.path("spec").path("ingress")) {
                    if (!coversPort(rule, grpcPort, "grpc")) {
                        continue;
                    }
                    String where = "NetworkPolicy " + name(np) + " rule for " + comp.module + " gRPC port " + grpcPort;
                    assertFalse(rule.path("from").isEmpty(), where + " admits every source");
                    for (JsonNode peer : rule.path("from")) {
                        assertTrue(peer.path("ipBlock").isMissingNode() && peer.path("namespaceSelector").isMissingNode(),
                                where + " admits sources outside the release's pods: " + peer);
                        assertTrue(peer.path("podSelector").path("matchExpressions").isMissingNode(),
                                where + " uses matchExpressions; expected the release's labels");
                        Map<String, String> sel = strings(peer.path("podSelector").path("matchLabels"));
                        assertEquals(Helm.RELEASE, sel.get("app.kubernetes.io/instance"),
                                where + " must select pods by this release's instance label");
                        assertFalse(selects(sel, stranger), where + " admits another release's pods");
                        gatewayAdmitted |= selects(sel, gatewayPods);
                    }
                }
            }
            assertTrue(gatewayAdmitted, "the gateway may not reach " + comp.module + " on " + grpcPort + " in " + c);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void theWorkersJobApiAdmitsOnlyTheGatewayAndTheWorkerReachesTheGateway(Case c) {
        Manifests m = render(c);
        if (!deployed(c, m).contains(Component.CAPTION_WORKER)) {
            return;
        }
        Map<String, String> workerPods = podLabels(m.deployment("caption-worker"));
        Map<String, String> gatewayPods = podLabels(m.deployment("gateway"));
        Map<String, String> stranger = new HashMap<>(gatewayPods);
        stranger.put("app.kubernetes.io/instance", "someone-else");
        List<Map<String, String>> otherMeshPods = Component.GRPC_SERVICES.stream()
                .map(comp -> podLabels(m.deployment(comp.module))).toList();
        List<JsonNode> metricsFrom = new ArrayList<>();
        c.values().path("networkPolicy").path("metricsFrom").forEach(metricsFrom::add);

        int http = Component.CAPTION_WORKER.config().httpPort();
        List<JsonNode> policies = ingressPolicies(m, workerPods);
        assertFalse(policies.isEmpty(), "no ingress NetworkPolicy isolates the caption worker in " + c);
        boolean gatewayAdmitted = false;
        for (JsonNode np : policies) {
            for (JsonNode rule : np.path("spec").path("ingress")) {
                if (!coversPort(rule, http, "http")) {
                    continue;
                }
                String where = "NetworkPolicy " + name(np) + " rule for the worker's job API on " + http;
                assertFalse(rule.path("from").isEmpty(), where + " admits every source, and the job API checks no keys");
                for (JsonNode peer : rule.path("from")) {
                    if (metricsFrom.contains(peer)) {
                        continue; // networkPolicy.metricsFrom: Prometheus scrapes /q/metrics on the same port
                    }
                    assertTrue(peer.path("ipBlock").isMissingNode() && peer.path("namespaceSelector").isMissingNode(),
                            where + " admits sources outside the release: " + peer);
                    Map<String, String> sel = strings(peer.path("podSelector").path("matchLabels"));
                    assertTrue(selects(sel, gatewayPods), where + " admits pods that are not the gateway: " + sel);
                    assertFalse(selects(sel, stranger), where + " admits another release's gateway");
                    assertTrue(otherMeshPods.stream().noneMatch(p -> selects(sel, p)), where + " admits model services");
                    gatewayAdmitted = true;
                }
            }
        }
        assertTrue(gatewayAdmitted, "the gateway may not forward /v1/jobs to the worker in " + c);

        // And the worker may reach the gateway's gRPC chat, whatever networkPolicy.gatewayFrom narrows it to.
        int grpc = Component.GATEWAY.config().grpcPort();
        boolean workerAdmitted = false;
        for (JsonNode np : ingressPolicies(m, gatewayPods)) {
            for (JsonNode rule : np.path("spec").path("ingress")) {
                if (!coversPort(rule, grpc, "grpc")) {
                    continue;
                }
                if (rule.path("from").isEmpty()) {
                    workerAdmitted = true;
                }
                for (JsonNode peer : rule.path("from")) {
                    workerAdmitted |= peer.path("namespaceSelector").isMissingNode() && peer.path("ipBlock").isMissingNode()
                            && selects(strings(peer.path("podSelector").path("matchLabels")), workerPods);
                }
            }
        }
        assertTrue(workerAdmitted, "the caption worker may not reach the gateway's gRPC port " + grpc + " in " + c);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void terminationGraceOutlastsTheDrain(Case c) {
        Manifests m = render(c);
        int configured = c.values().path("shutdown").path("drainSeconds").asInt();
        for (Component comp : deployed(c, m)) {
            JsonNode dep = m.deployment(comp.module);
            JsonNode ctr = container(dep, comp.module);
            // Each service's own drain setting (helm-tests checks elsewhere that each is a property it declares).
            String var = switch (comp) {
                case GATEWAY -> "QUARKUS_SHUTDOWN_TIMEOUT";
                case CAPTION_WORKER -> "VQWEN_WORKER_DRAIN_TIMEOUT";
                default -> "VQWEN_SHUTDOWN_DRAIN_SECONDS";
            };
            String value = envValue(ctr, var).orElseGet(() -> fail(comp.module + " gets no " + var + " in " + c));
            long drain = seconds(value);
            assertEquals(configured, drain, comp.module + " " + var + " vs shutdown.drainSeconds");
            int grace = podSpec(dep).path("terminationGracePeriodSeconds").asInt(30);
            JsonNode preStop = ctr.path("lifecycle").path("preStop").path("exec").path("command");
            int pause = preStop.size() == 2 && "sleep".equals(preStop.get(0).asText()) ? preStop.get(1).asInt() : 0;
            assertTrue(grace > pause + drain, comp.module + ": terminationGracePeriodSeconds " + grace
                    + " must exceed the preStop pause " + pause + " s + drain " + drain + " s, or work is cut");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void eachPoolHasAnAutoscalerOnItsSignals(Case c) {
        Manifests m = render(c);
        boolean adapter = c.values().path("metricsAdapter").path("enabled").asBoolean();
        Map<String, JsonNode> byModule = hpasByModule(m);
        Set<String> expected = new TreeSet<>();
        deployed(c, m).forEach(comp -> expected.add(comp.module));
        assertEquals(expected, byModule.keySet(), "autoscaled components in " + c);

        if (adapter) {
            assertTrue(signals(byModule.get("decoder-service"))
                            .containsAll(Set.of("vqwen_num_requests_waiting", "vqwen_kv_cache_usage_perc")),
                    "with a metrics adapter the decoder scales on waiting requests and KV cache use");
            if (byModule.containsKey("caption-worker")) {
                assertTrue(signals(byModule.get("caption-worker")).contains("vqwen_worker_consumer_lag"),
                        "with a metrics adapter the caption worker scales on its Kafka lag");
            }
        } else {
            for (var e : byModule.entrySet()) {
                assertEquals(Set.of("cpu"), signals(e.getValue()), e.getKey() + " without a metrics adapter in " + c);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void autoscalersScaleOnMetricsTheirTargetsPublish(Case c) {
        Manifests m = render(c);
        for (var e : hpasByModule(m).entrySet()) {
            Component target = Component.ofModule(e.getKey());
            for (String metric : signals(e.getValue())) {
                if (metric.equals("cpu") || metric.equals("memory") || EXTERNAL_METRICS.contains(metric)) {
                    continue;
                }
                // A Pods metric is averaged over the target's own pods: it must be one they publish.
                assertTrue(target.publishedMetrics().contains(metric), "HPA of " + e.getKey() + " scales on " + metric
                        + ", which " + e.getKey() + " does not publish; it publishes " + vqwenOnly(target.publishedMetrics()));
            }
        }
    }

    @Test
    void everyMetricNamedInValuesOrDocsIsPublished() throws IOException {
        List<Path> files = List.of(Helm.CHART.resolve("values.yaml"), Helm.REPO.resolve("helm/values-two-gpu-pools.yaml"));
        int podMetrics = 0;
        for (Path file : files) {
            JsonNode values = Manifests.YAML.readTree(file.toFile());
            for (Component comp : Component.values()) {
                for (JsonNode pm : values.path(comp.key).path("autoscaling").path("podMetrics")) {
                    String metric = pm.path("name").asText();
                    podMetrics++;
                    assertTrue(EXTERNAL_METRICS.contains(metric) || comp.publishedMetrics().contains(metric),
                            file.getFileName() + ": " + comp.key + ".autoscaling.podMetrics names " + metric + ", which "
                                    + comp.module + " does not publish; it publishes " + vqwenOnly(comp.publishedMetrics()));
                }
            }
        }
        assertTrue(podMetrics >= 4, "the values files document " + podMetrics + " pod metrics");

        // Every vqwen_* name in the values' comments and in docs/kubernetes.md (adapter rules included).
        Set<String> all = new TreeSet<>();
        for (Component comp : Component.values()) {
            all.addAll(comp.publishedMetrics());
        }
        Pattern name = Pattern.compile("\\bvqwen_[a-z0-9_]+\\b");
        List<Path> texts = new ArrayList<>(files);
        texts.add(Helm.REPO.resolve("docs/kubernetes.md"));
        Set<String> unknown = new TreeSet<>();
        for (Path file : texts) {
            Matcher mm = name.matcher(Files.readString(file));
            while (mm.find()) {
                if (!all.contains(mm.group())) {
                    unknown.add(file.getFileName() + ": " + mm.group());
                }
            }
        }
        assertEquals(Set.of(), unknown, "metric names no service publishes");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void kafkaTopicsAndBootstrapServersAgree(Case c) {
        Manifests m = render(c);
        JsonNode values = c.values();
        boolean strimzi = values.path("kafka").path("strimzi").path("enabled").asBoolean();
        List<Component> deployed = deployed(c, m);
        // Only the worker talks to Kafka; the gateway forwards the job API over HTTP.
        for (Component comp : deployed) {
            if (comp == Component.CAPTION_WORKER) {
                continue;
            }
            for (JsonNode e : container(m.deployment(comp.module), comp.module).path("env")) {
                String n = e.path("name").asText();
                assertFalse(n.startsWith("KAFKA_") || n.startsWith("VQWEN_KAFKA_"), comp.module + " has no Kafka client: " + n);
            }
        }
        if (!strimzi) {
            assertEquals(List.of(), m.ofKind("Kafka"), "Strimzi resources without kafka.strimzi.enabled");
            assertEquals(List.of(), m.ofKind("KafkaTopic"), "Strimzi topics without kafka.strimzi.enabled");
        }
        if (!c.worker()) {
            return;
        }
        JsonNode w = container(m.deployment("caption-worker"), "caption-worker");
        Map<String, String> topics = new TreeMap<>();
        for (String t : List.of("requests", "results", "dlq")) {
            String topic = envValue(w, "VQWEN_KAFKA_TOPIC_" + t.toUpperCase())
                    .orElseGet(() -> fail("the worker lacks the " + t + " topic"));
            assertEquals(values.path("kafka").path("topics").path(t).path("name").asText(), topic, t + " topic");
            topics.put(t, topic);
        }
        Properties worker = properties(Component.CAPTION_WORKER.module);
        assertEquals(Map.of("requests", worker.getProperty("vqwen.kafka.topic.requests"),
                        "results", worker.getProperty("vqwen.kafka.topic.results"),
                        "dlq", worker.getProperty("vqwen.kafka.topic.dlq")), topics,
                "both values files keep the worker's default topic names, which producers are told to use");
        assertEquals(values.path("kafka").path("groupId").asText(), envValue(w, "VQWEN_KAFKA_GROUP_ID").orElse(null),
                "consumer group");

        String bootstrap = envValue(w, "KAFKA_BOOTSTRAP_SERVERS").orElseGet(() -> fail("the worker has no bootstrap servers"));
        if (!strimzi) {
            assertEquals(values.path("kafka").path("bootstrapServers").asText(), bootstrap, "bootstrap servers in " + c);
            return;
        }
        List<JsonNode> clusters = m.ofKind("Kafka");
        assertEquals(1, clusters.size(), "Strimzi Kafka clusters");
        JsonNode kafka = clusters.getFirst();
        int plainPort = -1;
        for (JsonNode l : kafka.path("spec").path("kafka").path("listeners")) {
            if (!l.path("tls").asBoolean() && "internal".equals(l.path("type").asText())) {
                plainPort = l.path("port").asInt();
            }
        }
        // Strimzi names the bootstrap Service <cluster>-kafka-bootstrap.
        assertEquals(name(kafka) + "-kafka-bootstrap." + Helm.NAMESPACE + ".svc."
                + values.path("clusterDomain").asText() + ":" + plainPort, bootstrap, "the worker's bootstrap servers");
        long maxMessage = Long.parseLong(envValue(w, "VQWEN_KAFKA_MAX_MESSAGE_BYTES")
                .orElseGet(() -> fail("the worker has no VQWEN_KAFKA_MAX_MESSAGE_BYTES")));
        Map<String, JsonNode> declared = new TreeMap<>();
        for (JsonNode topic : m.ofKind("KafkaTopic")) {
            assertEquals(name(kafka), topic.path("metadata").path("labels").path("strimzi.io/cluster").asText(),
                    "KafkaTopic " + name(topic) + " belongs to another cluster");
            declared.put(topic.path("spec").path("topicName").asText(), topic);
        }
        assertEquals(new TreeSet<>(topics.values()), declared.keySet(), "KafkaTopics vs the worker's topic names");
        for (String t : List.of("requests", "dlq")) {
            // A request carries its images inline; the broker's 1 MiB default would refuse most of them.
            JsonNode cfg = declared.get(topics.get(t)).path("spec").path("config");
            assertTrue(cfg.path("max.message.bytes").asLong(0) >= maxMessage, t + " topic max.message.bytes "
                    + cfg.path("max.message.bytes") + " is below the worker's " + maxMessage);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void theCaptionWorkerIsACompleteDeployment(Case c) {
        Manifests m = render(c);
        if (!deployed(c, m).contains(Component.CAPTION_WORKER)) {
            return;
        }
        JsonNode values = c.values().path("captionWorker");
        JsonNode dep = m.deployment("caption-worker");
        JsonNode pod = podSpec(dep);
        JsonNode ctr = container(dep, "caption-worker");
        Map<String, String> pods = podLabels(dep);

        String sa = pod.path("serviceAccountName").asText();
        JsonNode account = m.find("ServiceAccount", sa).orElseGet(() -> fail("the worker's ServiceAccount " + sa + " is not rendered"));
        assertNotEquals(podSpec(m.deployment("gateway")).path("serviceAccountName").asText(), sa,
                "the worker has an identity of its own (for a managed Kafka's IAM)");
        assertFalse(account.path("automountServiceAccountToken").asBoolean(true), "the worker never calls the Kubernetes API");
        assertFalse(pod.path("automountServiceAccountToken").asBoolean(true), "the worker never calls the Kubernetes API");

        assertTrue(pod.path("initContainers").isMissingNode(), "the worker pulls no model");
        assertTrue(env(ctr, "VQWEN_MODEL").isEmpty(), "the worker reads no model");
        for (JsonNode vol : pod.path("volumes")) {
            assertNotEquals("models", vol.path("name").asText(), "the worker mounts no weights");
        }
        assertEquals(values.path("maxInFlight").asText(), envValue(ctr, "VQWEN_WORKER_MAX_IN_FLIGHT").orElse(null),
                "vqwen.worker.max-in-flight");
        assertTrue(envValue(ctr, "JAVA_OPTS").orElse("").contains(values.path("jvmOptions").asText()), "worker JVM options");
        assertFalse(ctr.path("resources").path("requests").path("cpu").isMissingNode(), "worker CPU request");
        assertFalse(ctr.path("resources").path("limits").path("memory").isMissingNode(), "worker memory limit");

        List<JsonNode> pdbs = m.ofKind("PodDisruptionBudget").stream()
                .filter(p -> selects(strings(p.path("spec").path("selector").path("matchLabels")), pods)).toList();
        assertEquals(1, pdbs.size(), "PodDisruptionBudgets of the worker");
        assertTrue(pdbs.getFirst().path("spec").path("maxUnavailable").asInt(0) >= 1,
                "a one-replica worker must still let its node drain");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void bulkJobsLeaveDecoderSlotsForInteractiveChat(Case c) {
        Manifests m = render(c);
        if (!deployed(c, m).contains(Component.CAPTION_WORKER)) {
            return;
        }
        Map<String, JsonNode> hpas = hpasByModule(m);
        int workers = most(m, hpas, "caption-worker");
        int decoders = hpas.containsKey("decoder-service")
                ? hpas.get("decoder-service").path("spec").path("minReplicas").asInt(1)
                : m.deployment("decoder-service").path("spec").path("replicas").asInt(1);
        int inFlight = Integer.parseInt(envValue(container(m.deployment("caption-worker"), "caption-worker"),
                "VQWEN_WORKER_MAX_IN_FLIGHT").orElse("16"));
        int maxRunning = Integer.parseInt(envValue(container(m.deployment("decoder-service"), "decoder-service"),
                "VQWEN_DECODER_MAX_RUNNING").orElse("64"));
        // docs/kafka.md: keep replicas x max-in-flight well below the decoders' batch, so chat joins the running batch.
        assertTrue(2 * workers * inFlight <= decoders * maxRunning, c + ": up to " + workers + " workers x " + inFlight
                + " jobs fill more than half of " + decoders + " decoder(s) x " + maxRunning + " sequences");

        int partitions = m.ofKind("KafkaTopic").stream()
                .filter(t -> c.values().path("kafka").path("topics").path("requests").path("name").asText()
                        .equals(t.path("spec").path("topicName").asText()))
                .map(t -> t.path("spec").path("partitions").asInt())
                .findFirst()
                .orElse(c.values().path("kafka").path("topics").path("requests").path("partitions").asInt());
        assertTrue(workers <= partitions, workers + " worker replicas share " + partitions + " request partitions");
    }

    @Test
    void moreWorkersThanRequestPartitionsIsRejectedWithTheReason() {
        Helm.Result r = Helm.locate().template(null, "kafka.bootstrapServers=k:9092",
                "captionWorker.autoscaling.maxReplicas=20");
        assertFalse(r.ok(), "20 workers on 12 partitions must not render");
        assertTrue(r.stderr().contains("captionWorker may run 20 replicas but kafka.topics.requests has 12 partitions"),
                r.stderr());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void serviceMonitorScrapesEachComponentOnceWhereItServesMetrics(Case c) {
        Manifests m = render(c);
        List<JsonNode> monitors = m.ofKind("ServiceMonitor");
        if (!c.values().path("serviceMonitor").path("enabled").asBoolean()) {
            assertEquals(List.of(), monitors, "ServiceMonitor without serviceMonitor.enabled");
            return;
        }
        assertEquals(1, monitors.size(), "ServiceMonitors");
        JsonNode sm = monitors.getFirst();
        Map<String, String> selector = strings(sm.path("spec").path("selector").path("matchLabels"));
        Map<String, String> paths = new HashMap<>();
        sm.path("spec").path("endpoints").forEach(e -> paths.put(e.path("port").asText(), e.path("path").asText()));

        for (Component comp : deployed(c, m)) {
            ServiceConfig cfg = comp.config();
            JsonNode ctr = container(m.deployment(comp.module), comp.module);
            Map<String, String> pods = podLabels(m.deployment(comp.module));
            List<String> targets = new ArrayList<>();
            for (JsonNode svc : m.ofKind("Service")) {
                // A ServiceMonitor picks Services by their own labels, then scrapes the endpoints behind them.
                if (!selects(selector, strings(svc.path("metadata").path("labels")))
                        || !selects(strings(svc.path("spec").path("selector")), pods)) {
                    continue;
                }
                for (JsonNode port : svc.path("spec").path("ports")) {
                    String path = paths.get(port.path("name").asText());
                    if (path == null) {
                        continue;
                    }
                    targets.add(name(svc) + ":" + port.path("name").asText());
                    assertEquals(cfg.metricsPath(), path, "metrics path of " + comp.module + " vs " + cfg.origin());
                    assertEquals(cfg.healthPort(), containerPort(ctr, port.path("targetPort")),
                            "metrics port of " + comp.module + " vs " + cfg.origin());
                }
            }
            assertEquals(1, targets.size(), comp.module + " must be scraped exactly once, got " + targets);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void apiKeysReachTheGatewayAndTheWorkerFromASecret(Case c) {
        Manifests m = render(c);
        String keysSecret = null;
        String workerKey = null;
        for (Component comp : deployed(c, m)) {
            JsonNode ctr = container(m.deployment(comp.module), comp.module);
            var keys = env(ctr, "VQWEN_API_KEYS");
            var own = env(ctr, "VQWEN_WORKER_API_KEY");
            if (comp == Component.GATEWAY) {
                JsonNode ref = keys.orElseGet(() -> fail("gateway has no VQWEN_API_KEYS in " + c))
                        .path("valueFrom").path("secretKeyRef");
                keysSecret = secretValue(m, ref);
                assertTrue(own.isEmpty(), "the gateway gets the worker's key variable");
            } else if (comp == Component.CAPTION_WORKER) {
                JsonNode ref = own.orElseGet(() -> fail("the worker has no VQWEN_WORKER_API_KEY for the gateway in " + c))
                        .path("valueFrom").path("secretKeyRef");
                workerKey = secretValue(m, ref);
                assertTrue(keys.isEmpty(), "the worker should not see the gateway's keys");
            } else {
                assertTrue(keys.isEmpty() && own.isEmpty(), comp.module + " should not see any API key");
            }
        }
        List<String> accepted = Arrays.stream(keysSecret.split(",")).map(String::trim).toList();
        List<String> others = new ArrayList<>(accepted);
        if (c.worker()) {
            assertTrue(accepted.contains(workerKey), "the gateway does not accept the worker's key, so every job would "
                    + "end UNAUTHENTICATED");
            others.remove(workerKey);
            assertTrue(workerKey.length() >= 32, "the worker's key is too short to be a secret: " + workerKey.length());
        }
        assertFalse(others.isEmpty(), "no key for clients besides the worker");
        for (String k : others) {
            assertTrue(k.length() >= 32, "a generated API key is too short to be a secret: " + k.length());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void grpcTlsIsOnExactlyWhereTheServerHasItAndCoversEveryHost(Case c) {
        Manifests m = render(c);
        JsonNode tls = c.values().path("grpc").path("tls");
        List<Component> deployed = deployed(c, m);
        Set<String> dnsNames = new TreeSet<>();
        String secretName = null;
        if (tls.path("enabled").asBoolean()) {
            JsonNode cert = m.ofKind("Certificate").stream().findFirst()
                    .orElseGet(() -> fail("grpc.tls.certManager.enabled renders no Certificate"));
            cert.path("spec").path("dnsNames").forEach(n -> dnsNames.add(n.asText()));
            secretName = cert.path("spec").path("secretName").asText();
        }
        for (Component comp : deployed) {
            JsonNode ctr = container(m.deployment(comp.module), comp.module);
            for (String client : comp.declared().grpcClients()) {
                Component peer = CLIENT_PEERS.get(client);
                String prefix = "QUARKUS_GRPC_CLIENTS_" + client.toUpperCase() + "_";
                JsonNode peerCtr = container(m.deployment(peer.module), peer.module);
                boolean serverTls = "false".equals(envValue(peerCtr, "QUARKUS_GRPC_SERVER_PLAIN_TEXT").orElse("true"));
                boolean clientTls = "false".equals(envValue(ctr, prefix + "PLAIN_TEXT").orElse("true"));
                assertEquals(serverTls, clientTls, comp.module + "'s client '" + client + "' speaks "
                        + (clientTls ? "TLS" : "plain text") + " to " + peer.module + ", which serves "
                        + (serverTls ? "TLS" : "plain text") + " in " + c);
                if (clientTls) {
                    String host = envValue(ctr, prefix + "HOST").orElseThrow();
                    assertTrue(dnsNames.contains(host), "hostname verification of " + host + " would fail: " + dnsNames);
                }
            }
            assertEquals(tls.path("enabled").asBoolean() && Component.GRPC_SERVICES.contains(comp),
                    envValue(ctr, "QUARKUS_GRPC_SERVER_PLAIN_TEXT").isPresent(),
                    comp.module + ": TLS on its gRPC server exactly when grpc.tls is on and it is a model service");
        }
        if (secretName == null) {
            return;
        }
        for (Component comp : deployed) {
            JsonNode dep = m.deployment(comp.module);
            JsonNode ctr = container(dep, comp.module);
            String mountedSecretDir = null;
            for (JsonNode vol : podSpec(dep).path("volumes")) {
                if (secretName.equals(vol.path("secret").path("secretName").asText())) {
                    for (JsonNode mount : ctr.path("volumeMounts")) {
                        if (vol.path("name").asText().equals(mount.path("name").asText())) {
                            mountedSecretDir = mount.path("mountPath").asText();
                        }
                    }
                }
            }
            for (JsonNode e : ctr.path("env")) {
                String n = e.path("name").asText();
                if (n.matches("QUARKUS_GRPC_(SERVER|CLIENTS_[A-Z]+)_SSL_(CERTIFICATE|KEY|TRUST_STORE)")) {
                    assertTrue(mountedSecretDir != null && e.path("value").asText().startsWith(mountedSecretDir + "/"),
                            comp.module + " " + n + " points outside the mounted Secret " + secretName + ": "
                                    + e.path("value").asText());
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void everyDeploymentExportsTracesExactlyWhenAnEndpointIsSet(Case c) {
        Manifests m = render(c);
        JsonNode tracing = c.values().path("tracing");
        String endpoint = tracing.path("otlp").path("endpoint").asText("");
        for (Component comp : deployed(c, m)) {
            JsonNode ctr = container(m.deployment(comp.module), comp.module);
            if (endpoint.isEmpty()) {
                for (JsonNode e : ctr.path("env")) {
                    assertFalse(e.path("name").asText().startsWith("OTEL_"), comp.module + " gets " + e + " with tracing off in " + c);
                }
                continue;
            }
            assertEquals(endpoint, envValue(ctr, "OTEL_EXPORTER_OTLP_ENDPOINT").orElse(null), comp.module + " in " + c);
            assertEquals(tracing.path("otlp").path("protocol").asText(), envValue(ctr, "OTEL_EXPORTER_OTLP_PROTOCOL").orElse(null),
                    comp.module + " in " + c);
            assertEquals(tracing.path("samplerRatio").asText(), envValue(ctr, "OTEL_TRACES_SAMPLER_ARG").orElse(null), comp.module + " in " + c);
        }
    }

    @Test
    void anUnknownTracingProtocolIsRejectedWithTheReason() {
        Helm.Result r = Helm.locate().template(null, "tracing.otlp.endpoint=http://c:4317", "tracing.otlp.protocol=http/json");
        assertFalse(r.ok(), "rendering must fail for a protocol OTLP does not define");
        assertTrue(r.stderr().contains("tracing.otlp.protocol must be grpc or http/protobuf, got \"http/json\""), r.stderr());
    }

    @Test
    void aCudaServiceOnACpuPoolIsRejectedWithTheReason() {
        Helm.Result r = Helm.locate().template(null, "projector.pool=cpu");
        assertFalse(r.ok(), "rendering must fail when a backend=cuda service is put on the CPU pool");
        assertTrue(r.stderr().contains("projector.backend is cuda but its pool \"cpu\" is not a GPU pool"), r.stderr());
    }

    @Test
    void weightsFromAPersistentVolumeNeedNoPullAndNoNetwork() {
        Helm.Result r = Helm.locate().template(null,
                "model.source=pvc", "model.pvc.claimName=vqwen-weights", "model.id=", "model.path=vqwen3-4b");
        assertTrue(r.ok(), r.stderr());
        Manifests m = Manifests.parse(r.stdout());
        for (Component comp : Component.values()) {
            if (!comp.usesModel()) {
                continue;
            }
            JsonNode dep = m.deployment(comp.module);
            JsonNode ctr = container(dep, comp.module);
            assertEquals("/models/vqwen3-4b", envValue(ctr, "VQWEN_MODEL").orElse(null), comp.module + " vqwen.model");
            assertTrue(podSpec(dep).path("initContainers").isMissingNode(), comp.module + " still pulls");
            JsonNode claim = MissingNode.getInstance();
            for (JsonNode vol : podSpec(dep).path("volumes")) {
                if (vol.has("persistentVolumeClaim")) {
                    claim = vol.path("persistentVolumeClaim");
                }
            }
            assertEquals("vqwen-weights", claim.path("claimName").asText(), comp.module + " weights claim");
        }

        Helm.Result missing = Helm.locate().template(null, "model.source=pvc");
        assertFalse(missing.ok(), "model.source=pvc without a claim must not render");
        assertTrue(missing.stderr().contains("model.source=pvc needs model.pvc.claimName"), missing.stderr());
    }

    @Test
    void defaultTemplatesPullTheHubModelOncePerPodAndServeOffline() {
        Manifests m = render(cases().findFirst().orElseThrow());
        String id = Manifests.values(null).path("model").path("id").asText();
        for (Component comp : Component.values()) {
            if (!comp.usesModel()) {
                continue;
            }
            JsonNode dep = m.deployment(comp.module);
            JsonNode init = podSpec(dep).path("initContainers").path(0);
            assertEquals(List.of("/opt/vqwen/vqwen", "pull", id), asStrings(init.path("command")), comp.module);
            JsonNode ctr = container(dep, comp.module);
            assertEquals(envValue(init, "HF_HUB_CACHE"), envValue(ctr, "HF_HUB_CACHE"),
                    comp.module + " must read the cache the init container filled");
            assertEquals("1", envValue(ctr, "HF_HUB_OFFLINE").orElse(null), comp.module + " must not download");
            assertEquals(id, envValue(ctr, "VQWEN_MODEL").orElse(null));
        }
    }

    @Test
    void dockerfilesRunTheQuarkusJvmLayoutOnTheRightBase() throws Exception {
        List<String> dockerignore = Files.readAllLines(Helm.REPO.resolve(".dockerignore"));
        for (Component comp : Component.values()) {
            Path file = Helm.REPO.resolve(comp.module).resolve("src/main/docker/Dockerfile.jvm");
            assertTrue(Files.isRegularFile(file), "missing " + file);
            String df = Files.readString(file);
            assertTrue(df.contains(comp.module + "/target/quarkus-app/lib/")
                    && df.contains("/deployments/quarkus-run.jar"), file + " must run Quarkus's fast-jar layout");
            assertTrue(dockerignore.contains("!" + comp.module + "/target/quarkus-app/"),
                    ".dockerignore keeps " + comp.module + "/target/quarkus-app/ out of the build context");
            // The engine needs the Vector API; the CLI is there for the pull-model init container.
            assertEquals(comp.usesModel(), df.contains("jdk.incubator.vector"), file + ": Vector API flags iff it runs the engine");
            assertEquals(comp.usesModel(), df.contains("/opt/vqwen/vqwen"), file + ": the CLI iff it has a pull init container");
            boolean cudaBase = df.lines().anyMatch(l -> l.startsWith("ARG CUDA_IMAGE=nvidia/cuda:13."));
            assertEquals(Component.GRPC_SERVICES.contains(comp), cudaBase, file + ": CUDA 13 base image only for GPU services");
            ServiceConfig cfg = comp.config();
            String expose = "EXPOSE " + cfg.httpPort() + (cfg.separateGrpcServer() ? " " + cfg.grpcPort() : "");
            assertTrue(df.lines().anyMatch(expose::equals), file + " must say " + expose + " (" + cfg.origin() + ")");
        }
    }

    // --- helpers ---

    private static JsonNode text(String s) {
        return Manifests.YAML.getNodeFactory().textNode(s);
    }

    private static JsonNode missingAsEmpty(JsonNode n) {
        return n.isMissingNode() || n.isNull() ? Manifests.YAML.createObjectNode() : n;
    }

    private static List<String> asStrings(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }

    private static Optional<JsonNode> servicePort(JsonNode svc, int port) {
        for (JsonNode p : svc.path("spec").path("ports")) {
            if (p.path("port").asInt() == port) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    private static List<JsonNode> ingressBackends(JsonNode ingress) {
        List<JsonNode> out = new ArrayList<>();
        if (ingress.path("spec").has("defaultBackend")) {
            out.add(ingress.path("spec").path("defaultBackend"));
        }
        for (JsonNode rule : ingress.path("spec").path("rules")) {
            for (JsonNode path : rule.path("http").path("paths")) {
                out.add(path.path("backend"));
            }
        }
        return out;
    }

    /** NetworkPolicies that restrict ingress to the pods with these labels. */
    private static List<JsonNode> ingressPolicies(Manifests m, Map<String, String> pods) {
        return m.ofKind("NetworkPolicy").stream()
                .filter(np -> selects(strings(np.path("spec").path("podSelector").path("matchLabels")), pods))
                .filter(np -> np.path("spec").path("policyTypes").toString().contains("Ingress"))
                .toList();
    }

    /** True when the rule applies to the port: no ports means all, else by number or by the container port's name. */
    private static boolean coversPort(JsonNode rule, int port, String portName) {
        if (rule.path("ports").isEmpty()) {
            return true;
        }
        for (JsonNode p : rule.path("ports")) {
            JsonNode v = p.path("port");
            if (v.isMissingNode() || (v.isInt() && v.asInt() == port) || portName.equals(v.asText())) {
                return true;
            }
        }
        return false;
    }

    private static Map<String, JsonNode> hpasByModule(Manifests m) {
        Map<String, JsonNode> byModule = new HashMap<>();
        for (JsonNode hpa : m.ofKind("HorizontalPodAutoscaler")) {
            JsonNode ref = hpa.path("spec").path("scaleTargetRef");
            assertEquals("Deployment", ref.path("kind").asText(), "target of HPA " + name(hpa));
            JsonNode dep = m.find("Deployment", ref.path("name").asText())
                    .orElseGet(() -> fail("HPA " + name(hpa) + " scales a Deployment that is not rendered"));
            assertTrue(dep.path("spec").path("replicas").isMissingNode(),
                    name(dep) + " fixes spec.replicas while an HPA scales it: every upgrade would reset the count");
            assertTrue(hpa.path("spec").path("minReplicas").asInt() <= hpa.path("spec").path("maxReplicas").asInt());
            byModule.put(podLabels(dep).get("app.kubernetes.io/component"), hpa);
        }
        return byModule;
    }

    /** The names an HPA scales on: resource names (cpu) and Pods metric names. */
    private static Set<String> signals(JsonNode hpa) {
        Set<String> out = new TreeSet<>();
        for (JsonNode metric : hpa.path("spec").path("metrics")) {
            out.add(metric.path("type").asText().equals("Pods")
                    ? metric.path("pods").path("metric").path("name").asText()
                    : metric.path("resource").path("name").asText());
        }
        return out;
    }

    /** The most replicas a Deployment runs: its HPA's maximum, else its fixed count. */
    private static int most(Manifests m, Map<String, JsonNode> hpas, String module) {
        return hpas.containsKey(module)
                ? hpas.get(module).path("spec").path("maxReplicas").asInt()
                : m.deployment(module).path("spec").path("replicas").asInt(1);
    }

    /** The service's own metric families, for messages: no JVM/HTTP meters, no _count/_sum/_max series. */
    private static Set<String> vqwenOnly(Set<String> names) {
        Set<String> out = new TreeSet<>();
        names.stream().filter(n -> n.startsWith("vqwen_") && !n.matches(".*_(count|sum|max|bucket)")).forEach(out::add);
        return out;
    }

    /** Seconds of a Quarkus duration as the chart writes it: "30" or "30s". */
    private static long seconds(String value) {
        String v = value.trim();
        return v.matches("\\d+") ? Long.parseLong(v) : Duration.parse("PT" + v.toUpperCase()).toSeconds();
    }

    /** The Quarkus built-in an environment variable sets on this service, or null. */
    private static String builtInFor(String var, DeclaredConfig declared, ServiceConfig cfg) {
        List<String> candidates = new ArrayList<>(CORE_BUILT_INS);
        if (cfg.separateGrpcServer()) {
            candidates.addAll(GRPC_SERVER_BUILT_INS);
        }
        for (String client : declared.grpcClients()) {
            GRPC_CLIENT_BUILT_INS.forEach(s -> candidates.add("quarkus.grpc.clients." + client + "." + s));
        }
        return candidates.stream().filter(p -> DeclaredConfig.envName(p).equals(var)).findFirst().orElse(null);
    }

    private static void collectProperties(JsonNode node, Set<String> out) {
        if (node.isObject()) {
            JsonNode p = node.path("path").path("property");
            if (p.isTextual()) {
                out.add(p.asText());
            }
            node.forEach(child -> collectProperties(child, out));
        } else if (node.isArray()) {
            node.forEach(child -> collectProperties(child, out));
        }
    }

    private static Properties properties(String module) {
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(Helm.REPO.resolve(module).resolve("src/main/resources/application.properties"))) {
            p.load(r);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        return p;
    }

    /** The decoded value a secretKeyRef points at, failing when the Secret or key is not rendered. */
    private static String secretValue(Manifests m, JsonNode ref) {
        String secret = ref.path("name").asText();
        JsonNode s = m.find("Secret", secret).orElseGet(() -> fail("Secret " + secret + " is not rendered"));
        JsonNode data = s.path("data").path(ref.path("key").asText());
        assertTrue(data.isTextual(), "Secret " + secret + " has no key " + ref.path("key").asText());
        return new String(Base64.getDecoder().decode(data.asText()), StandardCharsets.UTF_8);
    }

    /** A node of a pool: the labels its nodeSelector asks for and the taints its tolerations answer. */
    private record Node(Map<String, String> labels, List<Map<String, String>> taints) {
        static Node of(JsonNode pool) {
            List<Map<String, String>> taints = new ArrayList<>();
            for (JsonNode t : pool.path("tolerations")) {
                taints.add(Map.of("key", t.path("key").asText(), "value", t.path("value").asText(""),
                        "effect", t.path("effect").asText("NoSchedule")));
            }
            return new Node(strings(pool.path("nodeSelector")), taints);
        }

        boolean admits(JsonNode podSpec) {
            if (!selects(strings(podSpec.path("nodeSelector")), labels)) {
                return false;
            }
            return taints.stream().allMatch(taint -> {
                for (JsonNode tol : podSpec.path("tolerations")) {
                    String op = tol.path("operator").asText("Equal");
                    boolean key = tol.path("key").asText("").isEmpty() && op.equals("Exists")
                            || tol.path("key").asText().equals(taint.get("key"));
                    boolean value = op.equals("Exists") || tol.path("value").asText("").equals(taint.get("value"));
                    boolean effect = tol.path("effect").asText("").isEmpty()
                            || tol.path("effect").asText().equals(taint.get("effect"));
                    if (key && value && effect) {
                        return true;
                    }
                }
                return false;
            });
        }
    }
}
