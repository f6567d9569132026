package io.vqwen.worker;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.jboss.logging.Logger;

/**
 * Every result on the results topic, by job id: the dedupe check before a job runs, and the answer of
 * {@code GET /v1/jobs/{id}} on any replica. A thread reads all partitions of the topic from the beginning (no
 * consumer group: each replica reads everything) and keeps following it.
 *
 * <p>The first result of an id wins: a later one (two replicas ran the job, see docs/kafka.md) never replaces what
 * was already reported. The oldest entries go beyond {@code maxEntries}.
 */
public final class ResultIndex implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ResultIndex.class);
    private static final Duration PARTITION_REFRESH = Duration.ofSeconds(30);

    private final String topic;
    private final Map<String, Object> consumerProps;
    private final Map<String, ObjectNode> results;
    private final ConcurrentLinkedQueue<CompletableFuture<Void>> barriers = new ConcurrentLinkedQueue<>();
    private final CompletableFuture<Void> caughtUp = new CompletableFuture<>();
    private final AtomicLong recordsRead = new AtomicLong();
    private volatile boolean closing;
    private volatile KafkaConsumer<String, byte[]> consumer;
    private Thread thread;

    /**
     * @param consumerProps client settings (bootstrap servers ...); group and offsets settings are set here
     */
    public ResultIndex(String topic, Map<String, Object> consumerProps, int maxEntries) {
        this.topic = topic;
        this.consumerProps = new HashMap<>(consumerProps);
        this.consumerProps.remove("group.id");
        this.consumerProps.remove("group.instance.id");
        this.consumerProps.put("enable.auto.commit", "false");
        this.consumerProps.put("auto.offset.reset", "earliest");
        this.consumerProps.put("client.id", consumerProps.getOrDefault("client.id", "vqwen-worker") + "-results");
        this.results = java.util.Collections.synchronizedMap(new LinkedHashMap<>(1024, 0.75f, false) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, ObjectNode> eldest) {
                return size() > maxEntries;
            }
        });
    }

    public synchronized void start() {
        if (thread != null) return;
        barriers.add(caughtUp);
        thread = Thread.ofPlatform().name("vqwen-result-index").daemon().start(this::run);
    }

    /** Completes once every result on the topic when the index started has been read. */
    public CompletableFuture<Void> caughtUp() {
        return caughtUp;
    }

    public boolean isCaughtUp() {
        return caughtUp.isDone() && !caughtUp.isCompletedExceptionally();
    }

    /**
     * Completes once the index has read every result on the topic as of now. A worker waits for it when it is
     * assigned partitions, so a job whose result some replica wrote before is not run again.
     */
    public CompletableFuture<Void> barrier() {
        CompletableFuture<Void> f = new CompletableFuture<>();
        barriers.add(f);
        return f;
    }

    /** The result of a job, or null. */
    public ObjectNode get(String jobId) {
        return results.get(jobId);
    }

    /** A result this replica just wrote (and Kafka acknowledged): known before the reader sees it come back. */
    public void put(String jobId, ObjectNode result) {
        results.putIfAbsent(jobId, result);
    }

    public int size() {
        return results.size();
    }

    public long recordsRead() {
        return recordsRead.get();
    }

    @Override
    public void close() {
        closing = true;
        KafkaConsumer<String, byte[]> c = consumer;
        if (c != null) c.wakeup();
        Thread t = thread;
        if (t != null) {
            try {
                t.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    // ------------------------------------------------------------------ reader thread

    private void run() {
        try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(consumerProps, new StringDeserializer(), new ByteArrayDeserializer())) {
            consumer = c;
            long nextRefresh = 0;
            List<TopicPartition> assigned = List.of();
            Map<TopicPartition, Long> target = null;
            List<CompletableFuture<Void>> waiting = new ArrayList<>();
            while (!closing) {
                try {
                    if (System.nanoTime() >= nextRefresh || assigned.isEmpty()) {
                        assigned = refreshPartitions(c, assigned);
                        nextRefresh = System.nanoTime() + PARTITION_REFRESH.toNanos();
                    }
                    if (assigned.isEmpty()) {
                        Thread.sleep(500);
                        continue;
                    }
                    if (target == null && !barriers.isEmpty()) {
                        // One end-offset snapshot answers every barrier queued before it.
                        for (CompletableFuture<Void> f; (f = barriers.poll()) != null; ) waiting.add(f);
                        target = c.endOffsets(assigned, Duration.ofSeconds(10));
                    }
                    for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(200))) {
                        recordsRead.incrementAndGet();
                        index(r);
                    }
                    if (target != null && reached(c, target)) {
                        waiting.forEach(f -> f.complete(null));
                        waiting.clear();
                        target = null;
                    }
                } catch (WakeupException e) {
                    if (closing) break;
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                } catch (org.apache.kafka.common.errors.TimeoutException e) {
                    // Broker unreachable: keep the barriers waiting and try again.
                    target = null;
                    barriers.addAll(waiting);
                    waiting.clear();
                    LOG.debugf("results index: %s", e.getMessage());
                } catch (RuntimeException e) {
                    LOG.warnf(e, "results index: reading %s failed; retrying", topic);
                    target = null;
                    barriers.addAll(waiting);
                    waiting.clear();
                    sleepQuietly(1000);
                }
            }
        } finally {
            consumer = null;
            IllegalStateException closed = new IllegalStateException("the results index is closed");
            caughtUp.completeExceptionally(closed);
            for (CompletableFuture<Void> f; (f = barriers.poll()) != null; ) f.completeExceptionally(closed);
        }
    }

    private List<TopicPartition> refreshPartitions(KafkaConsumer<String, byte[]> c, List<TopicPartition> assigned) {
        List<PartitionInfo> infos = c.partitionsFor(topic, Duration.ofSeconds(10));
        if (infos == null || infos.size() == assigned.size()) return assigned;
        List<TopicPartition> now = new ArrayList<>();
        for (PartitionInfo p : infos) now.add(new TopicPartition(topic, p.partition()));
        List<TopicPartition> added = new ArrayList<>(now);
        added.removeAll(assigned);
        c.assign(now);
        c.seekToBeginning(added);
        return now;
    }

    private static boolean reached(KafkaConsumer<String, byte[]> c, Map<TopicPartition, Long> target) {
        Collection<TopicPartition> assigned = c.assignment();
        for (var e : target.entrySet()) {
            if (!assigned.contains(e.getKey())) continue;
            if (c.position(e.getKey(), Duration.ofSeconds(5)) < e.getValue()) return false;
        }
        return true;
    }

    private void index(ConsumerRecord<String, byte[]> r) {
        if (r.value() == null) return;
        try {
            JsonNode n = Json.MAPPER.readTree(r.value());
            String id = r.key() != null ? r.key() : n.path("id").asText(null);
            if (id != null && n.isObject()) results.putIfAbsent(id, (ObjectNode) n);
        } catch (IOException e) {
            LOG.warnf("results index: %s-%d@%d is not JSON; skipped", r.topic(), r.partition(), r.offset());
        }
    }

    private static void sleepQuietly(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
