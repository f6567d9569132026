package io.vqwen.helm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The config and metric checks are only as good as their reading of the Java sources. */
class SourceScanTest {

    private static JavaSources.SourceFile java(String name, String text) {
        return JavaSources.parse(Path.of(name + ".java"), text);
    }

    @Test
    void configMappingsGiveKebabCasePropertiesWithNestedGroups() {
        Set<String> props = DeclaredConfig.fromSource(java("WorkerConfig", """
                @ConfigMapping(prefix = "vqwen.worker")
                public interface WorkerConfig {
                    /** Jobs at once; see {@code Retry} for the {braces} in a comment. */
                    @WithDefault("16")
                    int maxInFlight();
                    Optional<String> apiKey();
                    @WithName("instance")
                    Optional<String> instanceId();
                    Retry retry();
                    Optional<Limits> limits();
                    Map<String, String> labels();
                    default boolean busy() { return maxInFlight() > 0; }
                    interface Retry {
                        @WithDefault("5s") Duration maxBackoff();
                    }
                    interface Limits {
                        long bytes();
                    }
                }
                """));
        assertEquals(Set.of("vqwen.worker.max-in-flight", "vqwen.worker.api-key", "vqwen.worker.instance",
                "vqwen.worker.retry.max-backoff", "vqwen.worker.limits.bytes", "vqwen.worker.labels.*"), props);
    }

    @Test
    void configPropertiesAndLookupsAreDeclarations() {
        Set<String> props = DeclaredConfig.fromSource(java("Settings", """
                class Settings {
                    @ConfigProperty(defaultValue = "0",
                            name = "vqwen.device")
                    int device;
                    // @ConfigProperty(name = "vqwen.commented.out")
                    String s = "@ConfigProperty(name = \\"vqwen.in.a.string\\")";
                    void read(Config c) {
                        c.getOptionalValue("kafka.bootstrap.servers", String.class);
                        c.getValue("quarkus.grpc.clients." + name + ".host", String.class);
                    }
                }
                """));
        assertEquals(Set.of("vqwen.device", "kafka.bootstrap.servers"), props);
    }

    @Test
    void environmentVariablesFollowMicroProfileNaming() {
        assertEquals("VQWEN_WORKER_MAX_IN_FLIGHT", DeclaredConfig.envName("vqwen.worker.max-in-flight"));
        assertEquals("QUARKUS_LOG_CATEGORY__IO_GRPC__LEVEL", DeclaredConfig.envName("quarkus.log.category.\"io.grpc\".level"));
        assertEquals("max-in-flight", DeclaredConfig.kebab("maxInFlight"));
    }

    @Test
    void metersAreFoundThroughBuildersShortcutsAndTheProjectsHelpers() {
        List<JavaSources.SourceFile> files = List.of(
                java("Histograms", """
                        public final class Histograms {
                            public static Timer timer(MeterRegistry registry, String name, String description, double[] b, String... tags) {
                                return Timer.builder(name).description(description).register(registry);
                            }
                        }
                        """),
                java("DecoderMetrics", """
                        class DecoderMetrics {
                            DecoderMetrics(MeterRegistry r, Engine e) {
                                Histograms.timer(r, "vqwen_inter_token_latency_seconds", "Time between two tokens", B);
                                Gauge.builder("vqwen_num_requests_waiting", e, x -> x.stats().waiting()).register(r);
                                Counter.builder("vqwen.worker.jobs.completed").description("a, b").register(r);
                                DistributionSummary.builder("vqwen.image.size").baseUnit("bytes").register(r);
                                r.gauge("vqwen.gateway.requests_in_flight", inFlight);
                                // Counter.builder("vqwen.commented.out")
                                timer("not a meter: GatewayMetrics.timer is private to its file", "x", B);
                            }
                        }
                        """),
                java("GatewayMetrics", """
                        class GatewayMetrics {
                            GatewayMetrics(MeterRegistry registry) {
                                this.ttft = timer("vqwen.time_to_first_token", "Arrival to first token", B);
                            }
                            private Timer timer(String name, String description, double[] b) {
                                return Timer.builder(name).description(description).register(registry);
                            }
                        }
                        """));
        Set<String> names = MeterNames.published(MeterNames.scan(files));
        // Micrometer's Prometheus naming: dots to underscores, _total on counters, _seconds on timers, base units.
        for (String expected : List.of("vqwen_inter_token_latency_seconds", "vqwen_inter_token_latency_seconds_count",
                "vqwen_num_requests_waiting", "vqwen_worker_jobs_completed_total", "vqwen_image_size_bytes",
                "vqwen_gateway_requests_in_flight", "vqwen_time_to_first_token_seconds",
                "vqwen_time_to_first_token_seconds_sum")) {
            assertTrue(names.contains(expected), expected + " in " + names);
        }
        assertFalse(names.stream().anyMatch(n -> n.contains("commented") || n.contains("not_a_meter")), names.toString());
        assertFalse(names.contains("vqwen_worker_jobs_completed"), "a counter is published with _total only");
    }

    @Test
    void theServicesPublishTheMetricsTheChartScalesOn() {
        // The scan of the real sources finds what docs/gateway-api.md and docs/kafka.md say the services publish.
        Set<String> decoder = MeterNames.published(Helm.REPO, "decoder-service");
        assertTrue(decoder.containsAll(Set.of("vqwen_num_requests_waiting", "vqwen_kv_cache_usage_perc",
                "vqwen_inter_token_latency_seconds")), decoder.toString());
        assertFalse(decoder.contains("vqwen_decoder_queue_length"), "no such decoder metric");
        Set<String> gateway = MeterNames.published(Helm.REPO, "gateway");
        assertTrue(gateway.containsAll(Set.of("vqwen_time_per_output_token_seconds", "vqwen_time_to_first_token_seconds",
                "vqwen_requests_total", "vqwen_gateway_requests_in_flight")), gateway.toString());
        Set<String> worker = MeterNames.published(Helm.REPO, "caption-worker");
        assertTrue(worker.containsAll(Set.of("vqwen_worker_consumer_lag", "vqwen_worker_jobs_completed_total",
                "vqwen_worker_job_duration_seconds")), worker.toString());
    }

    @Test
    void modulesBringTheirProjectDependenciesButNotTestOnes() {
        List<Path> decoder = JavaSources.moduleClosure(Helm.REPO, "decoder-service");
        assertTrue(decoder.contains(Helm.REPO.resolve("service-common")), decoder.toString());
        List<Path> worker = JavaSources.moduleClosure(Helm.REPO, "caption-worker");
        // The worker's ITs depend on the whole mesh; its running code does not.
        assertFalse(worker.contains(Helm.REPO.resolve("gateway")), worker.toString());
        DeclaredConfig gw = DeclaredConfig.load(Helm.REPO, "gateway");
        assertTrue(gw.properties().contains("vqwen.gateway.jobs-url"), "JobsProxyConfig's jobsUrl()");
        assertFalse(gw.properties().contains("vqwen.shutdown.drain-seconds"), "the gateway has no ServiceLifecycle");
        assertEquals(Set.of("vision", "projector", "decoder"), gw.grpcClients());
    }
}
