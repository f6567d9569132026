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
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Renders helm/vqwen with the default values and with helm/values-two-gpu-pools.yaml and checks what a cluster
 * would get: probes on the ports and paths the services really serve, GPUs requested and pinned to the right pool,
 * the gateway dialling the Services that exist, and nothing but the gateway reachable from outside.
 */
class ChartTest {

    /** A component of the mesh: its values key, its module, and the ports the project's conventions give it. */
    enum Component {
        GATEWAY("gateway", "gateway", "cpu", 8080, 9080),
        VISION("vision", "vision-service", "vision", 8081, 9081),
        PROJECTOR("projector", "projector-service", "vision", 8082, 9082),
        DECODER("decoder", "decoder-service", "decoder", 8083, 9083);

        final String key;
        final String module;
        /** The design: tower and projector share the vision GPU pool, the decoder has its own, the gateway none. */
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

        static final List<Component> GRPC_SERVICES = List.of(VISION, PROJECTOR, DECODER);
    }

    /** A values file to render with; null means the chart's defaults. */
    record Case(String label, Path values, boolean twoPools) {
        @Override
        public String toString() {
            return label;
        }
    }

    static Stream<Case> cases() {
        return Stream.of(
                new Case("default values", null, false),
                new Case("values-two-gpu-pools.yaml", Helm.REPO.resolve("helm/values-two-gpu-pools.yaml"), true));
    }

    private static final Map<String, Manifests> RENDERED = new ConcurrentHashMap<>();

    static Manifests render(Case c) {
        return RENDERED.computeIfAbsent(c.label(), k -> {
            Helm.Result r = Helm.locate().template(c.values());
            assertTrue(r.ok(), "helm template with " + c + " failed:\n" + r.stderr());
            return Manifests.parse(r.stdout());
        });
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void helmLintPassesStrict(Case c) {
        Helm.Result r = Helm.locate().lint(c.values());
        assertTrue(r.ok(), "helm lint --strict with " + c + " failed:\n" + r.stdout() + r.stderr());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void probesAndPortsMatchWhatEachServiceServes(Case c) {
        Manifests m = render(c);
        for (Component comp : Component.values()) {
            ServiceConfig cfg = comp.config();
            JsonNode ctr = container(m.deployment(comp.module), comp.module);
            String where = comp.module + " in " + c + " vs " + cfg.origin();

            assertEquals(cfg.httpPort(), containerPort(ctr, text("http")), "HTTP containerPort of " + where);
            assertEquals(cfg.grpcPort(), containerPort(ctr, text("grpc")), "gRPC containerPort of " + where);

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
        JsonNode values = Manifests.values(c.values());
        JsonNode pools = values.path("pools");

        Set<String> gpuWorkloads = new TreeSet<>();
        for (Component comp : Component.values()) {
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
        for (Component comp : Component.values()) {
            JsonNode pod = podSpec(m.deployment(comp.module));
            String own = values.path(comp.key).path("pool").asText();
            for (var node : nodes.entrySet()) {
                boolean fits = node.getValue().admits(pod);
                if (node.getKey().equals(own)) {
                    assertTrue(fits, comp.module + " does not fit a node of its own pool " + own + " in " + c);
                } else if (comp == Component.GATEWAY) {
                    assertFalse(fits, "the CPU gateway would land on GPU pool " + node.getKey() + " in " + c);
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
    void gatewayDialsTheGrpcServicesByTheirNamesAndPorts(Case c) {
        Manifests m = render(c);
        String domain = Manifests.values(c.values()).path("clusterDomain").asText();
        JsonNode gw = container(m.deployment("gateway"), "gateway");

        for (Component peer : Component.GRPC_SERVICES) {
            String prefix = "QUARKUS_GRPC_CLIENTS_" + peer.key.toUpperCase() + "_";
            String host = envValue(gw, prefix + "HOST")
                    .orElseGet(() -> fail("gateway has no " + prefix + "HOST in " + c));
            int port = Integer.parseInt(envValue(gw, prefix + "PORT")
                    .orElseGet(() -> fail("gateway has no " + prefix + "PORT in " + c)));

            String serviceName = host.split("\\.", 2)[0];
            JsonNode svc = m.find("Service", serviceName)
                    .orElseGet(() -> fail("gateway dials " + host + " but no Service " + serviceName + " is rendered"));
            assertEquals(serviceName + "." + Helm.NAMESPACE + ".svc." + domain, host,
                    "the " + peer.key + " client's host must be the Service's name in the release namespace");

            JsonNode grpcPort = servicePort(svc, port)
                    .orElseGet(() -> fail("Service " + serviceName + " has no port " + port + " (" + prefix + "PORT)"));
            assertEquals("grpc", grpcPort.path("name").asText(), "port " + port + " of " + serviceName);

            // The Service must lead to the peer's pods and nowhere else, on the port the peer's gRPC server uses.
            Map<String, String> selector = strings(svc.path("spec").path("selector"));
            List<String> selected = m.ofKind("Deployment").stream()
                    .filter(d -> selects(selector, podLabels(d)))
                    .map(d -> podLabels(d).get("app.kubernetes.io/component"))
                    .toList();
            assertEquals(List.of(peer.module), selected, "pods behind Service " + serviceName);
            JsonNode peerCtr = container(m.deployment(peer.module), peer.module);
            ServiceConfig cfg = peer.config();
            assertEquals(cfg.grpcPort(), containerPort(peerCtr, grpcPort.path("targetPort")),
                    "Service " + serviceName + " targetPort vs " + cfg.origin() + " quarkus.grpc.server.port");

            if ("None".equals(svc.path("spec").path("clusterIP").asText())) {
                // A headless Service only balances if the client does: pick_first would pin one pod per gateway.
                assertEquals("round_robin", envValue(gw, prefix + "LOAD_BALANCING_POLICY").orElse("pick_first"),
                        serviceName + " is headless, so the gateway's " + peer.key + " client must balance calls");
            }
        }

        // Every client the gateway declares in its own configuration is pointed at the cluster.
        for (String client : Component.GATEWAY.config().grpcClients()) {
            String prefix = "QUARKUS_GRPC_CLIENTS_" + client.toUpperCase().replace('-', '_') + "_";
            assertTrue(env(gw, prefix + "HOST").isPresent() && env(gw, prefix + "PORT").isPresent(),
                    "gateway/application.properties declares gRPC client '" + client + "' but the chart sets no "
                            + prefix + "HOST/PORT, so it would dial its localhost default");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void onlyTheGatewayIsReachableFromOutside(Case c) {
        Manifests m = render(c);
        Map<String, String> gatewayPods = podLabels(m.deployment("gateway"));
        List<Map<String, String>> otherPods = Component.GRPC_SERVICES.stream()
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
            List<JsonNode> policies = m.ofKind("NetworkPolicy").stream()
                    .filter(np -> selects(strings(np.path("spec").path("podSelector").path("matchLabels")), pods))
                    .filter(np -> np.path("spec").path("policyTypes").toString().contains("Ingress"))
                    .toList();
            assertFalse(policies.isEmpty(), "no ingress NetworkPolicy isolates " + comp.module + " in " + c);

            boolean gatewayAdmitted = false;
            for (JsonNode np : policies) {
                for (JsonNode rule : np.path("spec").path("ingress")) {
                    if (!coversPort(rule, grpcPort)) {
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
    void terminationGraceOutlastsTheDrain(Case c) {
        Manifests m = render(c);
        for (Component comp : Component.values()) {
            JsonNode dep = m.deployment(comp.module);
            JsonNode ctr = container(dep, comp.module);
            int grace = podSpec(dep).path("terminationGracePeriodSeconds").asInt(30);
            int drain = Integer.parseInt(envValue(ctr, "VQWEN_SHUTDOWN_DRAIN_SECONDS").orElse("30"));
            JsonNode preStop = ctr.path("lifecycle").path("preStop").path("exec").path("command");
            int pause = preStop.size() == 2 && "sleep".equals(preStop.get(0).asText()) ? preStop.get(1).asInt() : 0;
            assertTrue(grace > pause + drain, comp.module + ": terminationGracePeriodSeconds " + grace
                    + " must exceed the preStop pause " + pause + " s + drain " + drain + " s, or streams are cut");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void eachPoolHasAnAutoscalerOnItsSignals(Case c) {
        Manifests m = render(c);
        boolean adapter = Manifests.values(c.values()).path("metricsAdapter").path("enabled").asBoolean();
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
        assertEquals(Set.of("gateway", "vision-service", "projector-service", "decoder-service"), byModule.keySet(),
                "autoscaled components in " + c);

        Set<String> decoderSignals = new TreeSet<>();
        for (JsonNode metric : byModule.get("decoder-service").path("spec").path("metrics")) {
            decoderSignals.add(metric.path("type").asText().equals("Pods")
                    ? metric.path("pods").path("metric").path("name").asText()
                    : metric.path("resource").path("name").asText());
        }
        if (adapter) {
            assertTrue(decoderSignals.containsAll(Set.of("vqwen_decoder_queue_length", "vqwen_kv_cache_usage_perc")),
                    "with a metrics adapter the decoder scales on queue length and KV cache use, got " + decoderSignals);
        } else {
            for (var e : byModule.entrySet()) {
                assertTrue(e.getValue().path("spec").path("metrics").toString().contains("\"name\":\"cpu\""),
                        e.getKey() + " has no CPU fallback without a metrics adapter in " + c);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void kafkaTopicsAndBootstrapServersAgree(Case c) {
        Manifests m = render(c);
        JsonNode values = Manifests.values(c.values());
        JsonNode gw = container(m.deployment("gateway"), "gateway");
        Set<String> topics = new TreeSet<>();
        for (String t : List.of("REQUESTS", "RESULTS", "DLQ")) {
            String topic = envValue(gw, "VQWEN_KAFKA_TOPIC_" + t).orElseGet(() -> fail("gateway lacks topic " + t));
            assertEquals(values.path("kafka").path("topics").path(t.toLowerCase()).path("name").asText(), topic);
            topics.add(topic);
        }
        assertEquals(Set.of("vqwen.caption.requests", "vqwen.caption.results", "vqwen.caption.dlq"), topics,
                "both values files keep the services' default topic names");

        List<JsonNode> clusters = m.ofKind("Kafka");
        if (!values.path("kafka").path("strimzi").path("enabled").asBoolean()) {
            assertEquals(List.of(), clusters, "Strimzi resources without kafka.strimzi.enabled");
            assertEquals(values.path("kafka").path("bootstrapServers").asText(),
                    envValue(gw, "KAFKA_BOOTSTRAP_SERVERS").orElse(""), "bootstrap servers in " + c);
            return;
        }
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
                        + values.path("clusterDomain").asText() + ":" + plainPort,
                envValue(gw, "KAFKA_BOOTSTRAP_SERVERS").orElse(null), "gateway's bootstrap servers");
        Set<String> declared = new TreeSet<>();
        for (JsonNode topic : m.ofKind("KafkaTopic")) {
            assertEquals(name(kafka), topic.path("metadata").path("labels").path("strimzi.io/cluster").asText(),
                    "KafkaTopic " + name(topic) + " belongs to another cluster");
            declared.add(topic.path("spec").path("topicName").asText());
        }
        assertEquals(topics, declared, "KafkaTopics vs the gateway's topic names");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void apiKeysReachOnlyTheGatewayFromASecret(Case c) {
        Manifests m = render(c);
        for (Component comp : Component.values()) {
            JsonNode ctr = container(m.deployment(comp.module), comp.module);
            var keys = env(ctr, "VQWEN_API_KEYS");
            if (comp != Component.GATEWAY) {
                assertTrue(keys.isEmpty(), comp.module + " should not see the API keys");
                continue;
            }
            JsonNode ref = keys.orElseGet(() -> fail("gateway has no VQWEN_API_KEYS in " + c))
                    .path("valueFrom").path("secretKeyRef");
            JsonNode secret = m.find("Secret", ref.path("name").asText())
                    .orElseGet(() -> fail("VQWEN_API_KEYS refers to Secret " + ref.path("name").asText()
                            + ", which is not rendered"));
            String encoded = secret.path("data").path(ref.path("key").asText()).asText();
            String decoded = new String(Base64.getDecoder().decode(encoded), StandardCharsets.UTF_8);
            assertTrue(decoded.length() >= 32, "the generated API key is too short to be a secret: " + decoded.length());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void grpcTlsCertificateIsValidForEveryHostDialled(Case c) {
        Manifests m = render(c);
        JsonNode tls = Manifests.values(c.values()).path("grpc").path("tls");
        List<JsonNode> gateways = List.of(container(m.deployment("gateway"), "gateway"));
        if (!tls.path("enabled").asBoolean()) {
            for (Component comp : Component.values()) {
                JsonNode ctr = container(m.deployment(comp.module), comp.module);
                assertTrue(envValue(ctr, "QUARKUS_GRPC_SERVER_PLAIN_TEXT").isEmpty(),
                        comp.module + " turns TLS on although grpc.tls.enabled is false");
            }
            return;
        }
        JsonNode cert = m.ofKind("Certificate").stream().findFirst()
                .orElseGet(() -> fail("grpc.tls.certManager.enabled renders no Certificate"));
        Set<String> dnsNames = new TreeSet<>();
        cert.path("spec").path("dnsNames").forEach(n -> dnsNames.add(n.asText()));
        String secretName = cert.path("spec").path("secretName").asText();

        for (JsonNode gw : gateways) {
            for (Component peer : Component.GRPC_SERVICES) {
                String prefix = "QUARKUS_GRPC_CLIENTS_" + peer.key.toUpperCase() + "_";
                String host = envValue(gw, prefix + "HOST").orElseThrow();
                assertTrue(dnsNames.contains(host), "hostname verification of " + host + " would fail: " + dnsNames);
                assertEquals("false", envValue(gw, prefix + "PLAIN_TEXT").orElse("true"), prefix + "PLAIN_TEXT");
            }
        }
        for (Component comp : Component.values()) {
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
            assertTrue(mountedSecretDir != null, comp.module + " does not mount the TLS Secret " + secretName);
            for (JsonNode e : ctr.path("env")) {
                String n = e.path("name").asText();
                if (n.matches("QUARKUS_GRPC_(SERVER|CLIENTS_[A-Z]+)_SSL_(CERTIFICATE|KEY|TRUST_STORE)")) {
                    assertTrue(e.path("value").asText().startsWith(mountedSecretDir + "/"),
                            comp.module + " " + n + " points outside the mounted Secret: " + e.path("value").asText());
                }
            }
        }
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
        for (Component comp : Component.values()) {
            Path file = Helm.REPO.resolve(comp.module).resolve("src/main/docker/Dockerfile.jvm");
            assertTrue(Files.isRegularFile(file), "missing " + file);
            String df = Files.readString(file);
            assertTrue(df.contains(comp.module + "/target/quarkus-app/lib/")
                    && df.contains("/deployments/quarkus-run.jar"), file + " must run Quarkus's fast-jar layout");
            assertTrue(df.contains("jdk.incubator.vector"), file + " must add the Vector API module");
            assertTrue(df.contains("/opt/vqwen/vqwen"), file + " must carry the CLI for the pull init container");
            boolean cudaBase = df.lines().anyMatch(l -> l.startsWith("ARG CUDA_IMAGE=nvidia/cuda:13."));
            assertEquals(comp != Component.GATEWAY, cudaBase, file + ": CUDA 13 base image only for GPU services");
            assertTrue(df.contains("EXPOSE " + comp.config().httpPort() + " " + comp.config().grpcPort()),
                    file + " EXPOSE vs " + comp.config().origin());
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

    private static java.util.Optional<JsonNode> servicePort(JsonNode svc, int port) {
        for (JsonNode p : svc.path("spec").path("ports")) {
            if (p.path("port").asInt() == port) {
                return java.util.Optional.of(p);
            }
        }
        return java.util.Optional.empty();
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

    /** True when the rule applies to the port: no ports means all, else by number or by the name "grpc". */
    private static boolean coversPort(JsonNode rule, int port) {
        if (rule.path("ports").isEmpty()) {
            return true;
        }
        for (JsonNode p : rule.path("ports")) {
            JsonNode v = p.path("port");
            if (v.isMissingNode() || (v.isInt() && v.asInt() == port) || "grpc".equals(v.asText())) {
                return true;
            }
        }
        return false;
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
