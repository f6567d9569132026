package io.vqwen.worker;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.context.Scope;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.jboss.logging.Logger;

/**
 * The job loop: request records in, one chat call per job, a result (and for a failed job a DLQ record) out, and
 * the request offset committed only after that. One platform thread owns the Kafka consumer; each job runs on a
 * virtual thread and reports back through a queue.
 *
 * <ul>
 *   <li><b>Backpressure</b>: at most {@code maxInFlight} jobs run; while they all do and fetched records wait for a
 *       slot (at most {@code max.poll.records} of them), every assigned partition is paused: the consumer keeps
 *       polling, so it stays in the group, but fetches nothing.</li>
 *   <li><b>At-least-once</b>: a partition's committed offset is its lowest unfinished record
 *       ({@link PartitionOffsets}); a crash re-delivers everything not finished.</li>
 *   <li><b>Dedupe</b>: a record whose job id has a result in the {@link ResultIndex}, or is running here, is not
 *       run again; on every assignment the index first catches up with the results topic.</li>
 *   <li><b>Poison</b> records (the gateway says INVALID_ARGUMENT, or the record is not a job) get a DLQ record and a
 *       failed result and are committed like any other: the partition moves on.</li>
 *   <li><b>Transient</b> failures are retried with exponential backoff, holding the job's slot (see {@link Fault}).</li>
 *   <li><b>Shutdown and revocation</b>: running jobs get {@code drainTimeout} to finish; the rest are cancelled and
 *       their offsets left uncommitted, so the next owner runs them.</li>
 * </ul>
 */
public final class JobConsumer implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(JobConsumer.class);
    private static final Duration POLL_IDLE = Duration.ofMillis(100);
    private static final Duration POLL_BUSY = Duration.ofMillis(10);
    private static final Duration COMMIT_EVERY = Duration.ofMillis(100);
    private static final Duration KAFKA_CALL = Duration.ofSeconds(10);

    /**
     * @param worker      this replica's name, written into every result
     * @param maxAttempts attempts for {@link Fault#RETRY_LIMITED} failures
     */
    public record Settings(String requests, String results, String dlq, int maxInFlight, Duration drainTimeout,
                           Duration initialBackoff, Duration maxBackoff, int maxAttempts, String worker) {
    }

    private enum End { COMPLETED, FAILED, RELEASED }

    /** A record's offset, to finish when its job ends; {@code offsets} may belong to a partition revoked since. */
    private record Ack(TopicPartition tp, PartitionOffsets offsets, long offset) {
    }

    /** A job running on a virtual thread. {@code acks} grows when the same id arrives again meanwhile. */
    private static final class Running {
        final String id;
        final JobRequest job;
        final JobRequest.InvalidRecord invalid;
        final ConsumerRecord<String, byte[]> record;
        final List<Ack> acks = new ArrayList<>(1);
        final Cancel cancel = new Cancel();
        /** Wall-clock start of the job, for queued_ms (the record's timestamp is wall-clock too). */
        volatile long startedAtMillis;

        Running(String id, JobRequest job, JobRequest.InvalidRecord invalid, ConsumerRecord<String, byte[]> record) {
            this.id = id;
            this.job = job;
            this.invalid = invalid;
            this.record = record;
        }

        boolean touches(Collection<TopicPartition> parts) {
            for (Ack a : acks) if (parts.contains(a.tp)) return true;
            return false;
        }
    }

    private record Finished(Running run, End end) {
    }

    private final Settings s;
    private final Map<String, Object> consumerProps;
    private final Producer<String, byte[]> producer;
    private final ResultIndex index;
    private final Chat chat;
    private final WorkerMetrics m;
    private final JobTrace trace;
    private final ExecutorService jobs = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("vqwen-job-", 0).factory());
    private final LinkedBlockingQueue<Finished> finished = new LinkedBlockingQueue<>();
    private final Set<String> runningIds = ConcurrentHashMap.newKeySet();

    // Owned by the poll thread.
    private final Map<TopicPartition, PartitionOffsets> offsets = new HashMap<>();
    private final ArrayDeque<ConsumerRecord<String, byte[]>> backlog = new ArrayDeque<>();
    private final Map<String, Running> running = new HashMap<>();
    private KafkaConsumer<String, byte[]> consumer;
    private boolean paused;
    private long lastCommit;
    private long lastLag;

    private volatile boolean stopping;
    private volatile boolean subscribed;
    private volatile long lastLoop = System.nanoTime();
    private volatile Throwable crashed;
    private Thread thread;

    /**
     * @param consumerProps client settings including {@code group.id}; offsets are committed by hand here
     * @param producer      idempotent, acks=all (results and DLQ records)
     */
    public JobConsumer(Settings settings, Map<String, Object> consumerProps, Producer<String, byte[]> producer,
                       ResultIndex index, Chat chat, WorkerMetrics metrics) {
        this(settings, consumerProps, producer, index, chat, metrics, JobTrace.NONE);
    }

    /** @param trace continues each record's trace in the job's span (its {@code traceparent} header) */
    public JobConsumer(Settings settings, Map<String, Object> consumerProps, Producer<String, byte[]> producer,
                       ResultIndex index, Chat chat, WorkerMetrics metrics, JobTrace trace) {
        this.trace = trace;
        this.s = settings;
        this.consumerProps = new HashMap<>(consumerProps);
        this.consumerProps.put("enable.auto.commit", "false");
        this.consumerProps.putIfAbsent("auto.offset.reset", "earliest");
        // Fetched-but-waiting records are bounded by this, on top of the jobs running.
        this.consumerProps.putIfAbsent("max.poll.records", Integer.toString(settings.maxInFlight()));
        // A rebalance moves only the partitions that change owner; the others keep their running jobs.
        this.consumerProps.putIfAbsent("partition.assignment.strategy",
                "org.apache.kafka.clients.consumer.CooperativeStickyAssignor");
        this.producer = producer;
        this.index = index;
        this.chat = chat;
        this.m = metrics;
    }

    public synchronized void start() {
        if (thread != null) return;
        thread = Thread.ofPlatform().name("vqwen-job-consumer").start(this::run);
    }

    /** Whether this replica is running the job now (for {@code GET /v1/jobs/{id}}: "running"). */
    public boolean isRunning(String jobId) {
        return runningIds.contains(jobId);
    }

    /** Subscribed and polling: false before the index caught up, after a crash of the poll loop, or when stuck. */
    public boolean isConsuming() {
        return subscribed && crashed == null && System.nanoTime() - lastLoop < Duration.ofSeconds(60).toNanos();
    }

    public Throwable crash() {
        return crashed;
    }

    public int inFlight() {
        return runningIds.size();
    }

    /** Stops fetching, lets running jobs finish within the drain timeout, releases the rest, commits, leaves. */
    @Override
    public void close() {
        stopping = true;
        Thread t = thread;
        if (t != null) {
            try {
                t.join(s.drainTimeout().plus(Duration.ofSeconds(30)).toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        jobs.shutdownNow();
    }

    // ------------------------------------------------------------------ poll thread

    private void run() {
        try {
            while (!stopping && !index.isCaughtUp()) {
                try {
                    index.caughtUp().get(1, TimeUnit.SECONDS);
                } catch (TimeoutException e) {
                    lastLoop = System.nanoTime();
                }
            }
            if (stopping) return;
            consumer = new KafkaConsumer<>(consumerProps, new StringDeserializer(), new ByteArrayDeserializer());
            consumer.subscribe(List.of(s.requests()), new Rebalance());
            subscribed = true;
            while (!stopping) loopOnce();
            drain();
        } catch (Throwable t) {
            crashed = t;
            LOG.errorf(t, "the job consumer stopped");
        } finally {
            subscribed = false;
            if (consumer != null) {
                try {
                    consumer.close(CloseOptions.timeout(KAFKA_CALL));
                } catch (RuntimeException e) {
                    LOG.warnf("closing the Kafka consumer: %s", e.toString());
                }
            }
        }
    }

    private void loopOnce() throws InterruptedException {
        lastLoop = System.nanoTime();
        handleFinished(Duration.ZERO);
        startFromBacklog();
        commit(false);
        flowControl();
        updateLag();
        // Short polls while jobs run: a finished job's slot is refilled within milliseconds.
        for (ConsumerRecord<String, byte[]> r : consumer.poll(running.isEmpty() ? POLL_IDLE : POLL_BUSY)) {
            PartitionOffsets po = offsets.get(new TopicPartition(r.topic(), r.partition()));
            if (po == null) continue; // revoked in this very poll; the next owner reads it
            po.fetched(r.offset());
            backlog.add(r);
        }
        m.backlog.set(backlog.size());
    }

    private void startFromBacklog() {
        while (running.size() < s.maxInFlight() && !backlog.isEmpty()) start(backlog.poll());
        m.backlog.set(backlog.size());
    }

    private void start(ConsumerRecord<String, byte[]> r) {
        TopicPartition tp = new TopicPartition(r.topic(), r.partition());
        Ack ack = new Ack(tp, offsets.get(tp), r.offset());
        String fallbackId = r.topic() + "-" + r.partition() + "-" + r.offset();
        JobRequest job = null;
        JobRequest.InvalidRecord invalid = null;
        try {
            job = JobRequest.parse(r.value(), fallbackId);
        } catch (JobRequest.InvalidRecord e) {
            invalid = e;
        }
        String id = job != null ? job.id() : invalid.jobId();
        if (index.get(id) != null) {
            // Done before (by us or another replica, maybe before a crash that kept the offset uncommitted).
            ack.offsets.finished(ack.offset);
            m.deduplicated.increment();
            LOG.debugf("job %s (%s) already has a result; skipped", id, fallbackId);
            return;
        }
        Running same = running.get(id);
        if (same != null) {
            same.acks.add(ack);
            m.deduplicated.increment();
            return;
        }
        Running run = new Running(id, job, invalid, r);
        run.acks.add(ack);
        running.put(id, run);
        runningIds.add(id);
        m.inFlight.set(running.size());
        jobs.execute(() -> {
            End end;
            Span span = trace.start(r, id);
            try (Scope ignored = span.makeCurrent()) {
                end = execute(run);
            } catch (Throwable t) {
                LOG.errorf(t, "job %s: unexpected failure; left for redelivery", run.id);
                end = End.RELEASED;
            }
            span.setAttribute("vqwen.job_end", end.name().toLowerCase(java.util.Locale.ROOT));
            if (end != End.COMPLETED) span.setStatus(StatusCode.ERROR, end.name());
            span.end();
            finished.add(new Finished(run, end));
        });
    }

    private void handleFinished(Duration wait) throws InterruptedException {
        Finished f = wait.isZero() ? finished.poll() : finished.poll(wait.toNanos(), TimeUnit.NANOSECONDS);
        for (; f != null; f = finished.poll()) {
            running.remove(f.run.id);
            runningIds.remove(f.run.id);
            if (f.end == End.RELEASED) {
                m.released.increment();
            } else {
                for (Ack a : f.run.acks) a.offsets.finished(a.offset);
            }
        }
        m.inFlight.set(running.size());
    }

    private void commit(boolean sync) {
        long now = System.nanoTime();
        if (!sync && now - lastCommit < COMMIT_EVERY.toNanos()) return;
        Map<TopicPartition, OffsetAndMetadata> map = toCommit(offsets.keySet());
        if (map.isEmpty()) return;
        lastCommit = now;
        if (sync) {
            try {
                consumer.commitSync(map, KAFKA_CALL);
                committed(map);
            } catch (RuntimeException e) {
                LOG.warnf("committing %s failed: %s; those records will be delivered again", map, e.toString());
            }
        } else {
            consumer.commitAsync(map, (done, e) -> {
                if (e == null) committed(done);
                else LOG.debugf("commit failed (retried with the next one): %s", e.toString());
            });
        }
    }

    private Map<TopicPartition, OffsetAndMetadata> toCommit(Collection<TopicPartition> parts) {
        Map<TopicPartition, OffsetAndMetadata> map = new HashMap<>();
        for (TopicPartition tp : parts) {
            PartitionOffsets po = offsets.get(tp);
            long c = po == null ? -1 : po.toCommit();
            if (c >= 0) map.put(tp, new OffsetAndMetadata(c));
        }
        return map;
    }

    private void committed(Map<TopicPartition, OffsetAndMetadata> done) {
        done.forEach((tp, om) -> {
            PartitionOffsets po = offsets.get(tp);
            if (po != null) po.committed(om.offset());
        });
    }

    private void flowControl() {
        // Paused once every slot is taken and at least one fetched record waits: the waiting ones (at most
        // max.poll.records) refill a freed slot at once, and nothing more is fetched until they are gone.
        boolean full = running.size() + backlog.size() > s.maxInFlight();
        if (full && !paused) {
            consumer.pause(consumer.assignment());
            paused = true;
        } else if (!full && paused) {
            consumer.resume(consumer.paused());
            paused = false;
        }
    }

    private void updateLag() {
        long now = System.nanoTime();
        if (now - lastLag < Duration.ofSeconds(1).toNanos()) return;
        lastLag = now;
        long lag = 0;
        for (TopicPartition tp : consumer.assignment()) lag += consumer.currentLag(tp).orElse(0);
        for (PartitionOffsets po : offsets.values()) lag += po.pendingCount();
        m.lag.set(lag);
    }

    /** Shutdown: nothing new starts; running jobs get the drain timeout, then are released; offsets committed. */
    private void drain() throws InterruptedException {
        consumer.pause(consumer.assignment());
        backlog.clear(); // never started: the next owner fetches them again
        LOG.infof("shutting down: %d job(s) running, waiting up to %s", running.size(), s.drainTimeout());
        release(offsets.keySet(), true);
    }

    /**
     * Partitions leave this replica (shutdown, or a rebalance). Jobs of theirs get the drain timeout to finish;
     * the rest are cancelled and stay uncommitted. With {@code commit} false (partitions lost: another member may
     * own them already) nothing is committed and running jobs are cancelled at once.
     */
    private void release(Collection<TopicPartition> parts, boolean commit) throws InterruptedException {
        Set<TopicPartition> leaving = new HashSet<>(parts);
        backlog.removeIf(r -> leaving.contains(new TopicPartition(r.topic(), r.partition())));
        long deadline = System.nanoTime() + (commit ? s.drainTimeout().toNanos() : 0);
        while (System.nanoTime() < deadline && running.values().stream().anyMatch(r -> r.touches(leaving))) {
            handleFinished(Duration.ofMillis(100));
            lastLoop = System.nanoTime();
        }
        List<Running> left = running.values().stream().filter(r -> r.touches(leaving)).toList();
        if (!left.isEmpty()) {
            LOG.infof("releasing %d running job(s) of %s: their records will be delivered again", left.size(), leaving);
            left.forEach(r -> r.cancel.cancel());
            long cancelDeadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
            while (System.nanoTime() < cancelDeadline && running.values().stream().anyMatch(r -> r.touches(leaving))) {
                handleFinished(Duration.ofMillis(50));
            }
        }
        if (commit) {
            Map<TopicPartition, OffsetAndMetadata> map = toCommit(leaving);
            if (!map.isEmpty()) {
                try {
                    consumer.commitSync(map, KAFKA_CALL);
                } catch (RuntimeException e) {
                    LOG.warnf("final commit of %s failed: %s; those records will be delivered again", map, e.toString());
                }
            }
        }
        leaving.forEach(offsets::remove);
    }

    private final class Rebalance implements ConsumerRebalanceListener {
        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> parts) {
            if (parts.isEmpty()) return;
            for (TopicPartition tp : parts) offsets.put(tp, new PartitionOffsets());
            if (paused) consumer.pause(parts);
            // Results another replica wrote before handing these partitions over must be known before we run
            // their records: otherwise an uncommitted but finished job would run a second time.
            try {
                index.barrier().get(30, TimeUnit.SECONDS);
            } catch (TimeoutException e) {
                LOG.warnf("the results index did not catch up within 30 s after assignment of %s; dedupe covers only what it read", parts);
            } catch (ExecutionException e) {
                LOG.warnf("results index: %s", e.getCause().toString());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            LOG.infof("assigned %s", parts);
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> parts) {
            if (parts.isEmpty()) return;
            try {
                release(parts, true);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            LOG.infof("revoked %s", parts);
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> parts) {
            if (parts.isEmpty()) return;
            try {
                release(parts, false);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            LOG.warnf("lost %s (session expired); running jobs of theirs were released", parts);
        }
    }

    // ------------------------------------------------------------------ job threads

    private End execute(Running run) {
        long start = System.nanoTime();
        run.startedAtMillis = System.currentTimeMillis();
        if (run.invalid != null) return fail(run, run.invalid.error(), 0, start);
        Duration backoff = s.initialBackoff();
        int attempts = 0, limited = 0;
        while (true) {
            if (run.cancel.isCancelled()) return End.RELEASED;
            attempts++;
            Fault fault;
            JobError error;
            try {
                long call = System.nanoTime();
                Chat.Outcome o = chat.run(run.job.chatBody(), run.cancel);
                ObjectNode result = completed(run, o, attempts, start);
                ((ObjectNode) result.get("job")).put("chat_ms", Math.round((System.nanoTime() - call) / 1e3) / 1e3);
                return write(run, result, End.COMPLETED, start);
            } catch (Chat.Failure f) {
                fault = Fault.of(f.code());
                error = f.error();
            } catch (RuntimeException e) {
                // A bug or an answer we cannot read: not the job's fault for sure, so limited retries.
                fault = Fault.RETRY_LIMITED;
                error = new JobError("worker error while running the job: " + e, "server_error", "worker_error", null, null);
                LOG.warnf(e, "job %s: attempt %d", run.id, attempts);
            }
            if (run.cancel.isCancelled()) return End.RELEASED;
            if (fault == Fault.POISON) return fail(run, error, attempts, start);
            if (fault == Fault.RETRY_LIMITED && ++limited >= s.maxAttempts()) {
                return fail(run, new JobError(error.message() + " (gave up after " + limited + " attempts)", error.type(),
                        error.code(), error.param(), error.grpcStatus()), attempts, start);
            }
            m.retried.increment();
            Duration wait = jitter(backoff);
            LOG.infof("job %s: %s; retry %d in %d ms", run.id, error.message(), attempts, wait.toMillis());
            if (run.cancel.sleep(wait)) return End.RELEASED;
            backoff = min(backoff.multipliedBy(2), s.maxBackoff());
        }
    }

    /** A poison job: its original record to the DLQ with the error, and a failed result. */
    private End fail(Running run, JobError error, int attempts, long start) {
        ObjectNode result = base(run, "failed", attempts, start);
        result.set("error", error.toJson());
        ConsumerRecord<String, byte[]> src = run.record;
        RecordHeaders h = new RecordHeaders();
        for (Header x : src.headers()) h.add(x);
        header(h, "vqwen.job.id", run.id);
        header(h, "vqwen.error.message", error.message());
        if (error.code() != null) header(h, "vqwen.error.code", error.code());
        if (error.type() != null) header(h, "vqwen.error.type", error.type());
        if (error.grpcStatus() != null) header(h, "vqwen.error.grpc_status", error.grpcStatus());
        header(h, "vqwen.error.json", Json.string(error.toJson()));
        header(h, "vqwen.source.topic", src.topic());
        header(h, "vqwen.source.partition", Integer.toString(src.partition()));
        header(h, "vqwen.source.offset", Long.toString(src.offset()));
        header(h, "vqwen.failed.at", Instant.now().toString());
        // The DLQ value is the original record as it was, so a fixed-up or replayed record is one copy away.
        ProducerRecord<String, byte[]> dlq = new ProducerRecord<>(s.dlq(), null, src.key(), src.value(), h);
        LOG.infof("job %s failed: %s", run.id, error.message());
        return write(run, result, End.FAILED, start, dlq);
    }

    /** Writes the DLQ record (if any) and the result; retries until Kafka takes them or the job is released. */
    @SafeVarargs
    private End write(Running run, ObjectNode result, End end, long start, ProducerRecord<String, byte[]>... before) {
        Duration backoff = s.initialBackoff();
        byte[] value = Json.bytes(result);
        while (true) {
            try {
                List<Future<RecordMetadata>> sent = new ArrayList<>(2);
                for (ProducerRecord<String, byte[]> r : before) sent.add(producer.send(r));
                sent.add(producer.send(new ProducerRecord<>(s.results(), run.id, value)));
                for (Future<RecordMetadata> f : sent) {
                    if (!await(f, run.cancel)) return End.RELEASED;
                }
                index.put(run.id, result);
                (end == End.COMPLETED ? m.completed : m.failed).increment();
                m.jobDuration.record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
                return end;
            } catch (ExecutionException | RuntimeException e) {
                Throwable why = e instanceof ExecutionException ? e.getCause() : e;
                m.retried.increment();
                LOG.warnf("job %s: writing its result failed (%s); retrying", run.id, why.toString());
                if (run.cancel.sleep(jitter(backoff))) return End.RELEASED;
                backoff = min(backoff.multipliedBy(2), s.maxBackoff());
            }
        }
    }

    /** Waits for a send; false when the job was released meanwhile (the record may still land: see docs). */
    private static boolean await(Future<RecordMetadata> f, Cancel cancel) throws ExecutionException {
        while (true) {
            try {
                f.get(1, TimeUnit.SECONDS);
                return true;
            } catch (TimeoutException e) {
                if (cancel.isCancelled()) return false;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
    }

    private ObjectNode completed(Running run, Chat.Outcome o, int attempts, long start) {
        ObjectNode r = base(run, "completed", attempts, start);
        r.put("text", o.text());
        r.put("finish_reason", o.finishReason());
        r.put("model", o.model());
        r.put("completion_id", o.completionId());
        r.set("usage", o.usage());
        r.set("timings", o.timings());
        return r;
    }

    private ObjectNode base(Running run, String status, int attempts, long start) {
        ObjectNode r = Json.MAPPER.createObjectNode();
        r.put("id", run.id);
        r.put("status", status);
        if (run.job != null && run.job.customId() != null) r.put("custom_id", run.job.customId());
        if (run.job != null && run.job.metadata() != null) r.set("metadata", run.job.metadata());
        r.put("created", Instant.now().getEpochSecond());
        ObjectNode job = r.putObject("job");
        job.put("attempts", attempts);
        job.put("worker", s.worker());
        // From the request record's timestamp to the start of the job: time spent queued on Kafka.
        job.put("queued_ms", Math.max(0, run.startedAtMillis - run.record.timestamp()));
        job.put("run_ms", Math.round((System.nanoTime() - start) / 1e3) / 1e3);
        ObjectNode src = job.putObject("source");
        src.put("topic", run.record.topic());
        src.put("partition", run.record.partition());
        src.put("offset", run.record.offset());
        return r;
    }

    private static void header(RecordHeaders h, String key, String value) {
        h.add(key, value.getBytes(StandardCharsets.UTF_8));
    }

    private static Duration jitter(Duration d) {
        // Full jitter over [d/2, d]: replicas hammered by the same outage do not retry in lockstep.
        long ms = Math.max(1, d.toMillis());
        return Duration.ofMillis(ms / 2 + ThreadLocalRandom.current().nextLong(ms / 2 + 1));
    }

    private static Duration min(Duration a, Duration b) {
        return a.compareTo(b) <= 0 ? a : b;
    }
}
