package io.vqwen.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class PartitionOffsetsTest {

    @Test
    void commitsOnlyUpToTheLowestUnfinishedRecord() {
        PartitionOffsets p = new PartitionOffsets();
        assertEquals(-1, p.toCommit(), "nothing fetched, nothing to commit");
        for (long o = 10; o < 15; o++) p.fetched(o);
        p.finished(12);
        p.finished(14);
        assertEquals(10, p.committable(), "10 is still running: a crash must deliver it again");
        p.finished(10);
        assertEquals(11, p.committable());
        p.finished(11);
        assertEquals(13, p.committable(), "12 finished, 13 did not");
        p.committed(13);
        assertEquals(-1, p.toCommit(), "13 is already committed");
        p.finished(13);
        assertEquals(15, p.toCommit(), "all finished: commit past the last one");
        assertEquals(0, p.pendingCount());
    }

    @Test
    void aReleasedRecordHoldsTheCommitBackForever() {
        PartitionOffsets p = new PartitionOffsets();
        p.fetched(0);
        p.fetched(1);
        p.finished(1); // 0 was released at shutdown: never finished
        assertEquals(0, p.committable());
    }
}
