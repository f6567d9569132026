package io.vqwen.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.grpc.Status;
import org.junit.jupiter.api.Test;

class FaultTest {

    @Test
    void theGatewaysStatusesDecideBetweenDeadLetterAndWaiting() {
        // 400 (bad image, prompt over the context, invalid params) -> INVALID_ARGUMENT: the job is poison.
        assertEquals(Fault.POISON, Fault.of(Status.Code.INVALID_ARGUMENT));
        // 503 (a peer down) and 429 (decoder queue full): the job waits, however long.
        assertEquals(Fault.RETRY, Fault.of(Status.Code.UNAVAILABLE));
        assertEquals(Fault.RETRY, Fault.of(Status.Code.RESOURCE_EXHAUSTED));
        // A wrong API key is the worker's configuration, not the job: never dead-letter every job for it.
        assertEquals(Fault.RETRY, Fault.of(Status.Code.UNAUTHENTICATED));
        // 500/504: retried a few times, then the job fails.
        assertEquals(Fault.RETRY_LIMITED, Fault.of(Status.Code.INTERNAL));
        assertEquals(Fault.RETRY_LIMITED, Fault.of(Status.Code.DEADLINE_EXCEEDED));
    }
}
