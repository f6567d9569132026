package io.vqwen.worker;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/** The worker's Prometheus metrics ({@code /q/metrics}), named {@code vqwen_worker_*}. */
public final class WorkerMetrics {
    final Counter completed;
    final Counter failed;
    final Counter retried;
    final Counter deduplicated;
    final Counter released;
    final Counter submitted;
    final Timer jobDuration;
    final AtomicInteger inFlight = new AtomicInteger();
    final AtomicInteger backlog = new AtomicInteger();
    final AtomicLong lag = new AtomicLong();

    public WorkerMetrics(MeterRegistry r) {
        completed = Counter.builder("vqwen.worker.jobs.completed").description("Jobs with a completed result written").register(r);
        failed = Counter.builder("vqwen.worker.jobs.failed")
                .description("Jobs with a failed result written (and their record on the DLQ)").register(r);
        retried = Counter.builder("vqwen.worker.jobs.retried")
                .description("Retries of a chat call or of a Kafka write after a transient failure").register(r);
        deduplicated = Counter.builder("vqwen.worker.jobs.deduplicated")
                .description("Records skipped because their job id already has a result (or is running here)").register(r);
        released = Counter.builder("vqwen.worker.jobs.released")
                .description("Running jobs given up at shutdown or on a revoked partition, left for redelivery").register(r);
        submitted = Counter.builder("vqwen.worker.jobs.submitted").description("Jobs enqueued through POST /v1/jobs").register(r);
        jobDuration = Timer.builder("vqwen.worker.job.duration").description("From start to result written, retries included")
                .publishPercentileHistogram().register(r);
        Gauge.builder("vqwen.worker.jobs.in.flight", inFlight, AtomicInteger::get)
                .description("Jobs running on this replica").register(r);
        Gauge.builder("vqwen.worker.jobs.backlog", backlog, AtomicInteger::get)
                .description("Records fetched and waiting for a free slot").register(r);
        Gauge.builder("vqwen.worker.consumer.lag", lag, AtomicLong::get)
                .description("Request records of the assigned partitions not finished yet (not fetched + fetched and unfinished)")
                .register(r);
    }
}
