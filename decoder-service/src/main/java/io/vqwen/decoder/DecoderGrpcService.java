package io.vqwen.decoder;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.grpc.GrpcService;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.smallrye.mutiny.infrastructure.Infrastructure;
import io.smallrye.mutiny.subscription.BackPressureStrategy;
import io.smallrye.mutiny.subscription.MultiEmitter;
import io.vqwen.engine.generate.Completion;
import io.vqwen.engine.generate.GenerationListener;
import io.vqwen.engine.generate.RequestHandle;
import io.vqwen.engine.generate.TokenDelta;
import io.vqwen.engine.pipeline.LocalGenerator;
import io.vqwen.proto.v1.DecoderService;
import io.vqwen.proto.v1.GenerateChunk;
import io.vqwen.proto.v1.GenerateRequest;
import io.vqwen.proto.v1.InfoRequest;
import io.vqwen.proto.v1.InfoResponse;
import io.vqwen.service.EngineCodec;
import io.vqwen.service.GrpcErrors;
import io.vqwen.service.ServiceState;
import jakarta.inject.Inject;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.jboss.logging.Logger;

/**
 * gRPC DecoderService: proto -> {@link GenerationRequest}, engine listener -> stream of {@link GenerateChunk}. The
 * engine's step thread calls the listener, which only builds a chunk and emits it. A cancelled call (the client
 * went away, or its deadline passed) cancels the request, which frees its sequence at the next step.
 */
@GrpcService
public class DecoderGrpcService implements DecoderService {
    private static final Logger LOG = Logger.getLogger(DecoderGrpcService.class);

    @Inject
    DecoderModel model;

    @Inject
    ServiceState state;

    @Inject
    DecoderMetrics metrics;

    @Inject
    ProjectorFetch fetch;

    @Override
    public Multi<GenerateChunk> generate(GenerateRequest request) {
        // BUFFER: a stream never outgrows max-model-len chunks, and the step thread must never wait for a client.
        // Subscribed on a worker: decoding a 5.9 MB embeddings tensor has no place on the event loop.
        return Multi.createFrom().<GenerateChunk>emitter(em -> start(request, em), BackPressureStrategy.BUFFER)
                .runSubscriptionOn(Infrastructure.getDefaultWorkerPool());
    }

    private void start(GenerateRequest request, MultiEmitter<? super GenerateChunk> em) {
        long start = System.nanoTime();
        try {
            state.enter();
        } catch (StatusRuntimeException e) {
            metrics.failure("unavailable").increment();
            em.fail(e);
            return;
        }
        AtomicBoolean finished = new AtomicBoolean();
        AtomicReference<RequestHandle> handle = new AtomicReference<>();
        AtomicBoolean cancelled = new AtomicBoolean();
        Runnable cancel = () -> {
            RequestHandle h = handle.get();
            if (h != null && !finished.get() && cancelled.compareAndSet(false, true)) {
                h.cancel();
                LOG.debugf("decoder: request %s cancelled by the client", h.requestId());
            }
        };
        em.onTermination(() -> {
            state.exit();
            cancel.run();
        });
        try {
            Listener listener = new Listener(em, start, finished);
            if (request.getImageSha256Count() > 0) {
                // Handles: the embeddings come from the projector, fetched off the step thread, then submitted.
                handle.set(new LocalGenerator(model.engine(), fetch).submit(EngineCodec.requestId(request), EngineCodec.promptIds(request),
                        request.getImageSha256List(), request.getMaxTokens(), EngineCodec.params(request), listener));
            } else {
                handle.set(model.engine().submit(EngineCodec.toEngine(request, null), listener));
            }
        } catch (RuntimeException e) {
            finished.set(true);
            StatusRuntimeException s = GrpcErrors.toStatus(e);
            metrics.failure(reason(s.getStatus())).increment();
            em.fail(s);
            return;
        }
        // The client may have gone between onTermination and submit.
        if (em.isCancelled()) cancel.run();
    }

    /** Runs on the engine's step thread: build, emit, return. */
    private final class Listener implements GenerationListener {
        private final MultiEmitter<? super GenerateChunk> em;
        private final long start;
        private final AtomicBoolean finished;
        private long lastToken;

        Listener(MultiEmitter<? super GenerateChunk> em, long start, AtomicBoolean finished) {
            this.em = em;
            this.start = start;
            this.finished = finished;
        }

        @Override
        public void onDelta(TokenDelta d) {
            try {
                emitDelta(d);
            } catch (RuntimeException e) {
                // Never let the step thread see our failure: it would fail every request in the batch.
                failStream(e);
            }
        }

        private void emitDelta(TokenDelta d) {
            long now = System.nanoTime();
            if (lastToken == 0) metrics.ttft.record(now - start, TimeUnit.NANOSECONDS);
            else metrics.interToken.record(now - lastToken, TimeUnit.NANOSECONDS);
            lastToken = now;
            em.emit(EngineCodec.chunk(d));
        }

        @Override
        public void onFinish(Completion c) {
            finished.set(true);
            try {
                emitFinish(c);
            } catch (RuntimeException e) {
                failStream(e);
            }
        }

        private void emitFinish(Completion c) {
            metrics.finished(c, start);
            em.emit(EngineCodec.chunk(c));
            em.complete();
        }

        @Override
        public void onError(Throwable error) {
            finished.set(true);
            failStream(error);
        }

        private void failStream(Throwable error) {
            StatusRuntimeException s = GrpcErrors.toStatus(error);
            metrics.failure(reason(s.getStatus())).increment();
            em.fail(s);
        }
    }

    private static String reason(Status s) {
        return switch (s.getCode()) {
            case INVALID_ARGUMENT -> "invalid";
            case RESOURCE_EXHAUSTED -> "queue_full";
            case UNAVAILABLE -> "unavailable";
            default -> "error";
        };
    }

    @Override
    public Uni<InfoResponse> info(InfoRequest request) {
        return Uni.createFrom().item(model::info).onFailure().transform(GrpcErrors::toStatus);
    }
}
