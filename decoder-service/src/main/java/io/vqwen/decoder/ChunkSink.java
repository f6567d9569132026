package io.vqwen.decoder;

import io.grpc.stub.ServerCallStreamObserver;
import io.vqwen.proto.v1.GenerateChunk;
import java.util.ArrayDeque;

/**
 * One Generate stream's outbound chunks under gRPC flow control. While the client reads, each chunk goes straight
 * to gRPC; while it does not ({@code isReady()} false), chunks wait here, and past {@value #MAX_QUEUED} waiting
 * chunks each new delta is merged into the last one (ids, text and log-probs appended). So a slow reader holds at
 * most MAX_QUEUED + 1 chunks of its own, the engine's output thread never waits, and no other stream is affected.
 * Writes come from the engine's output thread and from gRPC's onReady callback: the lock keeps them in order and
 * never concurrent, as a StreamObserver requires.
 */
final class ChunkSink {
    static final int MAX_QUEUED = 16;

    private final ServerCallStreamObserver<GenerateChunk> call;
    private final ArrayDeque<GenerateChunk> queued = new ArrayDeque<>();
    private boolean completing; // the last chunk is queued: complete once it is sent
    private boolean closed;
    private long coalesced;

    ChunkSink(ServerCallStreamObserver<GenerateChunk> call) {
        this.call = call;
        call.setOnReadyHandler(this::drain);
    }

    /** A token delta: sent now, queued, or merged into the last queued delta. */
    synchronized void delta(GenerateChunk c) {
        if (closed) return;
        if (queued.isEmpty() && call.isReady()) {
            call.onNext(c);
            return;
        }
        if (queued.size() >= MAX_QUEUED) {
            queued.addLast(merge(queued.removeLast(), c));
            coalesced++;
        } else {
            queued.addLast(c);
        }
    }

    /** The finish chunk (never merged), then the end of the stream once everything before it is sent. */
    synchronized void last(GenerateChunk c) {
        if (closed) return;
        queued.addLast(c);
        completing = true;
        drain();
    }

    /** Ends the stream with an error now; waiting chunks are dropped. */
    synchronized void fail(Throwable error) {
        if (closed) return;
        closed = true;
        queued.clear();
        call.onError(error);
    }

    /** Deltas merged because the client was not reading (for tests and metrics). */
    synchronized long coalesced() {
        return coalesced;
    }

    synchronized int queued() {
        return queued.size();
    }

    private synchronized void drain() {
        if (closed) return;
        while (!queued.isEmpty() && call.isReady()) call.onNext(queued.pollFirst());
        if (queued.isEmpty() && completing) {
            closed = true;
            call.onCompleted();
        }
    }

    static GenerateChunk merge(GenerateChunk a, GenerateChunk b) {
        return a.toBuilder().setText(a.getText() + b.getText()).addAllTokenIds(b.getTokenIdsList()).addAllLogprobs(b.getLogprobsList()).build();
    }
}
