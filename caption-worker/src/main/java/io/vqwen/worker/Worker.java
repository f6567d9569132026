package io.vqwen.worker;

import io.micrometer.core.instrument.MeterRegistry;
import io.opentelemetry.api.OpenTelemetry;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.eclipse.microprofile.config.Config;
import org.jboss.logging.Logger;

/**
 * The worker's lifecycle: create the topics, read the results topic into the {@link ResultIndex}, then consume
 * requests with the {@link JobConsumer}. Kafka may be down at startup: the worker then keeps trying and stays
 * unready, the HTTP port is up from the start.
 */
@ApplicationScoped
public class Worker {
    private static final Logger LOG = Logger.getLogger(Worker.class);

    private final WorkerConfig cfg;
    private final TopicsConfig topics;
    private final String name;
    private final Map<String, Object> kafka;
    private final KafkaProducer<String, byte[]> producer;
    private final Admin admin;
    private final ResultIndex index;
    private final JobConsumer consumer;
    private final WorkerMetrics metrics;
    private final JobTrace jobTrace;
    private volatile boolean stopping;
    private volatile String stage = "starting";
    private Thread bootstrap;

    public Worker(WorkerConfig cfg, TopicsConfig topics, Chat chat, MeterRegistry registry, Config config, OpenTelemetry otel) {
        this.cfg = cfg;
        this.topics = topics;
        this.name = cfg.instanceId().orElseGet(Worker::hostAndPid);
        this.kafka = KafkaSettings.all(config);
        this.metrics = new WorkerMetrics(registry);
        this.jobTrace = new JobTrace(otel);

        Map<String, Object> p = new HashMap<>(KafkaSettings.producer(kafka));
        // At-least-once without duplicates from the producer's own retries; results are acknowledged by all replicas.
        p.put("enable.idempotence", "true");
        p.put("acks", "all");
        p.putIfAbsent("client.id", "vqwen-worker-" + name);
        p.putIfAbsent("linger.ms", "5");
        p.putIfAbsent("max.request.size", Integer.toString(topics.maxMessageBytes()));
        // A send waits this long for metadata when Kafka is down; then the job write retries, the API answers 503.
        p.putIfAbsent("max.block.ms", Long.toString(cfg.submitTimeout().toMillis()));
        this.producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());

        Map<String, Object> a = new HashMap<>(KafkaSettings.admin(kafka));
        a.putIfAbsent("client.id", "vqwen-worker-" + name + "-admin");
        a.putIfAbsent("request.timeout.ms", "5000");
        a.putIfAbsent("default.api.timeout.ms", "10000");
        this.admin = Admin.create(a);

        Map<String, Object> c = new HashMap<>(KafkaSettings.consumer(kafka));
        c.put("group.id", topics.groupId());
        cfg.instanceId().ifPresent(id -> c.put("group.instance.id", id));
        c.putIfAbsent("client.id", "vqwen-worker-" + name);
        // Large requests (inline images) must not be cut at the 1 MiB default per partition.
        c.putIfAbsent("max.partition.fetch.bytes", Integer.toString(topics.maxMessageBytes()));
        this.index = new ResultIndex(topics.topic().results(), c, cfg.indexMaxEntries());
        this.consumer = new JobConsumer(new JobConsumer.Settings(topics.topic().requests(), topics.topic().results(),
                topics.topic().dlq(), cfg.maxInFlight(), cfg.drainTimeout(), cfg.retry().initialBackoff(),
                cfg.retry().maxBackoff(), cfg.retry().maxAttempts(), name), c, producer, index, chat, metrics, jobTrace);
    }

    void onStart(@Observes StartupEvent e) {
        LOG.infof("caption worker %s: Kafka %s, topics %s -> %s (DLQ %s), group %s, %d job(s) at once", name,
                kafka.get("bootstrap.servers"), topics.topic().requests(), topics.topic().results(), topics.topic().dlq(),
                topics.groupId(), cfg.maxInFlight());
        bootstrap = Thread.ofPlatform().name("vqwen-worker-bootstrap").daemon().start(this::bootstrap);
    }

    private void bootstrap() {
        Duration wait = Duration.ofMillis(500);
        while (!stopping) {
            try {
                stage = "creating topics";
                List<String> created = Topics.ensure(admin, topics);
                if (!created.isEmpty()) LOG.infof("created topics %s", created);
                break;
            } catch (Exception ex) {
                stage = "waiting for Kafka at " + kafka.get("bootstrap.servers") + ": " + rootMessage(ex);
                LOG.warnf("%s; retrying in %d ms", stage, wait.toMillis());
                sleep(wait);
                wait = wait.multipliedBy(2).compareTo(Duration.ofSeconds(5)) > 0 ? Duration.ofSeconds(5) : wait.multipliedBy(2);
            }
        }
        if (stopping) return;
        stage = "reading the results topic";
        index.start();
        consumer.start();
        index.caughtUp().thenRun(() -> {
            stage = "consuming";
            LOG.infof("results index caught up (%d results); consuming %s", index.size(), topics.topic().requests());
        });
    }

    void onStop(@Observes ShutdownEvent e) {
        stopping = true;
        consumer.close();
        index.close();
        producer.close(Duration.ofSeconds(10));
        admin.close(Duration.ofSeconds(5));
    }

    public String name() {
        return name;
    }

    public String stage() {
        return stage;
    }

    /** Trace context in and out of job records. */
    public JobTrace jobTrace() {
        return jobTrace;
    }

    public KafkaProducer<String, byte[]> producer() {
        return producer;
    }

    public ResultIndex index() {
        return index;
    }

    public JobConsumer consumer() {
        return consumer;
    }

    public WorkerMetrics metrics() {
        return metrics;
    }

    public TopicsConfig topics() {
        return topics;
    }

    public java.time.Duration submitTimeout() {
        return cfg.submitTimeout();
    }

    public String bootstrapServers() {
        return String.valueOf(kafka.get("bootstrap.servers"));
    }

    /** Kafka answers a metadata request now: the number of brokers, or an exception saying why not. */
    public int kafkaBrokers() throws Exception {
        return admin.describeCluster().nodes().get(3, TimeUnit.SECONDS).size();
    }

    private static String rootMessage(Throwable t) {
        while (t.getCause() != null) t = t.getCause();
        return t.getClass().getSimpleName() + ": " + t.getMessage();
    }

    private static void sleep(Duration d) {
        try {
            Thread.sleep(d);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static String hostAndPid() {
        try {
            return InetAddress.getLocalHost().getHostName() + "-" + ProcessHandle.current().pid();
        } catch (UnknownHostException e) {
            return "worker-" + ProcessHandle.current().pid();
        }
    }
}
