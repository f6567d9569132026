package io.vqwen.cuda.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class DecodePhaseProbeTest {
    private final AtomicLong step = new AtomicLong();
    private final AtomicLong nanos = new AtomicLong();
    private final DecodePhaseProbe probe = new DecodePhaseProbe(3, step::get, nanos::get);

    @Test
    void theWindowRunsFromTheLastFirstTokenToTheFirstFinish() {
        at(2, 10_000_000);
        probe.firstToken();
        at(5, 40_000_000);
        probe.firstToken();
        at(9, 100_000_000);
        probe.firstToken(); // all three decoding: the phase starts at step 9, 100 ms
        at(29, 300_000_000);
        probe.finished(); // 20 steps in 200 ms
        at(40, 900_000_000);
        probe.finished(); // later finishes do not move the end
        assertEquals(20, probe.steps());
        assertEquals(100.0, probe.stepsPerSecond(), 1e-9);
    }

    @Test
    void aFinishBeforeTheLastFirstTokenMeansNoPhase() {
        probe.firstToken();
        probe.firstToken();
        at(7, 50_000_000);
        probe.finished();
        at(8, 60_000_000);
        probe.firstToken();
        assertEquals(0, probe.steps());
        var e = assertThrows(IllegalStateException.class, probe::stepsPerSecond);
        assertEquals("no decode phase: a stream finished before the last of 3 got its first token (raise --new-tokens)", e.getMessage());
    }

    @Test
    void missingFirstTokensAreNamed() {
        probe.firstToken();
        probe.finished();
        var e = assertThrows(IllegalStateException.class, probe::stepsPerSecond);
        assertEquals("only 1 of 3 streams got a first token", e.getMessage());
    }

    private void at(long s, long t) {
        step.set(s);
        nanos.set(t);
    }
}
