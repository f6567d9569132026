package io.vqwen.engine.sched;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vqwen.engine.generate.QueueFullException;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The scheduler alone: no model, no backend, only ids, token counts and blocks. */
class SchedulerTest {
    static Sequence<String> seq(String id, int promptLen, int maxNew) {
        return new Sequence<>(id, new int[promptLen], maxNew, id);
    }

    /** Runs a step as the engine would: every chunk computed, sampling chunks get a token. */
    static List<ScheduledChunk<String>> step(Scheduler<String> s) {
        List<ScheduledChunk<String>> chunks = s.schedule();
        for (ScheduledChunk<String> c : chunks) {
            s.computed(c);
            if (c.sample()) s.append(c.seq(), 7);
        }
        return chunks;
    }

    @Test
    void longPrefillIsChunkedByTheTokenBudgetWhileRunningStreamsKeepDecoding() {
        Scheduler<String> s = new Scheduler<>(new SchedulerConfig(8, 64, 16, 16, 100, 1000));
        Sequence<String> a = seq("a", 10, 50);
        s.add(a);
        assertEquals(10, step(s).getFirst().count());
        Sequence<String> b = seq("b", 200, 10);
        s.add(b);
        for (int i = 0; i < 3; i++) {
            List<ScheduledChunk<String>> chunks = step(s);
            // a decodes one token every step; b's prefill takes the rest of the budget.
            assertEquals(2, chunks.size());
            assertEquals(1, chunks.get(0).count());
            assertEquals(63, chunks.get(1).count());
            assertEquals(false, chunks.get(1).sample());
        }
        List<ScheduledChunk<String>> last = step(s);
        assertEquals(200 - 3 * 63, last.get(1).count());
        assertTrue(last.get(1).sample(), "the chunk reaching the end of the prompt samples");
    }

    @Test
    void requestsJoinAndLeaveBetweenSteps() {
        Scheduler<String> s = new Scheduler<>(new SchedulerConfig(2, 512, 16, 16, 100, 1000));
        Sequence<String> a = seq("a", 5, 3), b = seq("b", 5, 3), c = seq("c", 5, 3);
        s.add(a);
        s.add(b);
        s.add(c);
        step(s);
        assertEquals(2, s.numRunning(), "maxRunning caps the batch");
        assertEquals(1, s.numWaiting());
        s.finish(a);
        assertEquals(1, s.numRunning());
        List<ScheduledChunk<String>> next = step(s);
        assertEquals(List.of("b", "c"), next.stream().map(x -> x.seq().id()).toList(), "c joins once a leaves");
    }

    @Test
    void blocksAreFreedOnFinishAndCancel() {
        Scheduler<String> s = new Scheduler<>(new SchedulerConfig(4, 512, 16, 4, 20, 1000));
        Sequence<String> a = seq("a", 9, 4), b = seq("b", 9, 4);
        s.add(a);
        s.add(b);
        step(s);
        assertEquals(6, s.blocksUsed(), "ceil(9/4) = 3 blocks each");
        s.cancel(b);
        assertEquals(List.of(b), s.reapCancelled());
        assertEquals(3, s.blocksUsed());
        s.finish(a);
        assertEquals(0, s.blocksUsed());
        assertTrue(!s.hasWork());
    }

    @Test
    void whenTheCacheRunsOutTheNewestSequenceIsPreemptedAndRecomputedLater() {
        // 6 blocks of 4 tokens: two sequences of 8-token prompts fill 4 blocks; decoding needs more.
        Scheduler<String> s = new Scheduler<>(new SchedulerConfig(4, 512, 16, 4, 6, 100));
        Sequence<String> a = seq("a", 8, 12), b = seq("b", 8, 12);
        s.add(a);
        s.add(b);
        int steps = 0;
        while (s.hasWork() && steps++ < 200) {
            step(s);
            for (Sequence<String> q : s.running()) if (q.outputLength() >= 12) s.finish(q);
        }
        assertTrue(s.preemptions() > 0, "the cache was too small for both: a preemption happened");
        assertEquals(12, a.outputLength());
        assertEquals(12, b.outputLength());
        assertEquals(0, s.blocksUsed());
    }

    @Test
    void admissionRefusesWhatCanNeverRunAndAFullQueue() {
        Scheduler<String> s = new Scheduler<>(new SchedulerConfig(1, 512, 1, 16, 4, 100));
        IllegalArgumentException tooLong = assertThrows(IllegalArgumentException.class, () -> s.add(seq("x", 90, 20)));
        assertTrue(tooLong.getMessage().contains("maximum context length of 100"), tooLong.getMessage());
        assertThrows(IllegalArgumentException.class, () -> s.add(seq("y", 60, 20)), "needs 5 blocks of 16, cache has 4");
        s.add(seq("a", 5, 5));
        assertThrows(QueueFullException.class, () -> s.add(seq("b", 5, 5)));
    }
}
