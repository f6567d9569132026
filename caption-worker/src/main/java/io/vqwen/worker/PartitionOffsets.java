package io.vqwen.worker;

import java.util.TreeSet;

/**
 * The offsets of one assigned partition that were fetched but are not finished yet. Jobs finish out of order; the
 * offset to commit is the lowest unfinished one, so a commit never skips a job whose result is not written. Used by
 * the poll thread only.
 */
final class PartitionOffsets {
    private final TreeSet<Long> pending = new TreeSet<>();
    /** The next offset after everything fetched so far; -1 before the first record. */
    private long next = -1;
    /** The last committed position acknowledged by the broker; -1 when none yet in this assignment. */
    private long committed = -1;

    /** A record was fetched; records of a partition arrive in offset order. */
    void fetched(long offset) {
        if (offset < next) throw new IllegalStateException("offset " + offset + " fetched after " + (next - 1));
        pending.add(offset);
        next = offset + 1;
    }

    /** Its job finished: its result (or failed result and DLQ record) is acknowledged by Kafka. */
    void finished(long offset) {
        pending.remove(offset);
    }

    /** The position it is safe to commit (everything before it finished), or -1 when nothing was fetched. */
    long committable() {
        return pending.isEmpty() ? next : pending.first();
    }

    /** A position that is committable but not yet committed, or -1. */
    long toCommit() {
        long c = committable();
        return c > committed ? c : -1;
    }

    void committed(long position) {
        committed = Math.max(committed, position);
    }

    int pendingCount() {
        return pending.size();
    }
}
