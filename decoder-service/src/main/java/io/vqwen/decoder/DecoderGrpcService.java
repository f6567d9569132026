package io.vqwen.decoder;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import io.quarkus.grpc.GrpcService;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.smallrye.mutiny.infrastructure.Infrastructure;
import io.vqwen.engine.generate.Completion;
import io.vqwen.engine.generate.GenerationListener;
import io.vqwen.engine.generate.RequestHandle;
import io.vqwen.engine.generate.StepTrace;
import io.vqwen.engine.generate.TokenDelta;
import io.vqwen.engine.pipeline.LocalGenerator;
import io.vqwen.proto.v1.DecoderServiceGrpc;
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
 * engine's output thread calls the listener, which builds a chunk and hands it to the stream's {@link ChunkSink}:
 * sent while the client reads, held (bounded, merged) while it does not, so a slow reader never blocks the engine
 * or other streams. A cancelled call (the client went away, or its deadline passed) cancels the request, which
 * frees its sequence at the next step. The plain gRPC base class, not the Mutiny one: Quarkus subscribes a Multi
 * with unbounded demand and writes without isReady(), so gRPC's flow control is only visible here.
 */
@GrpcService
public class DecoderGrpcService extends DecoderServiceGrpc.DecoderServiceImplBase {
    private static final Logger LOG = Logger.getLogger(DecoderGrpcService.class);

    @Inject
    DecoderModel model;

    @Inject
    ServiceState state;

    @Inject
    DecoderMetrics metrics;

    /** The engine records the request's queue, prefill chunks and first token under its gRPC server span. */
    @Inject
    Tracer tracer;

    @Inject
    ProjectorFetch fetch;

    @Override
    public void generate(GenerateRequest request, StreamObserver<GenerateChunk> observer) {
        long start = System.nanoTime();
        ServerCallStreamObserver<GenerateChunk> call = (ServerCallStreamObserver<GenerateChunk>) observer;
        // Both handlers must be set before this method returns.
        ChunkSink sink = new ChunkSink(call);
        // Captured here, on the call's thread, where the gRPC server span is current.
        Stream stream = new Stream(sink, start, new StepTrace(tracer, Context.current()));
        call.setOnCancelHandler(stream::cancelled);
        try {
            state.enter();
        } catch (StatusRuntimeException e) {
            metrics.failure("unavailable").increment();
            stream.fail(e);
            return;
        }
        stream.entered = true;
        // Decoding a 5.9 MB embeddings tensor has no place on the event loop.
        // The worker carries the call's trace context, so the projector Fetch and the engine's spans join this trace.
        Infrastructure.getDefaultWorkerPool().execute(Context.current().wrap(() -> stream.submit(request)));
    }

    /** One call: its engine request, its sink, and the once-only exit from the service state. */
    private final class Stream implements GenerationListener {
        private final ChunkSink sink;
        private final long start;
        private final StepTrace trace;
        private final AtomicBoolean ended = new AtomicBoolean();
        private final AtomicReference<RequestHandle> handle = new AtomicReference<>();
        private volatile boolean entered;
        private volatile boolean clientGone;
        private long lastToken;

        Stream(ChunkSink sink, long start, StepTrace trace) {
            this.sink = sink;
            this.start = start;
            this.trace = trace;
        }

        void submit(GenerateRequest request) {
            try {
                if (request.getImageSha256Count() > 0) {
                    // Handles: the embeddings come from the projector, fetched off the step thread, then submitted.
                    handle.set(new LocalGenerator(model.engine(), fetch, trace).submit(EngineCodec.requestId(request),
                            EngineCodec.promptIds(request), request.getImageSha256List(), request.getMaxTokens(), EngineCodec.params(request), this));
                } else {
                    handle.set(model.engine().submit(EngineCodec.toEngine(request, null), this, trace));
                }
            } catch (RuntimeException e) {
                StatusRuntimeException s = GrpcErrors.toStatus(e);
                metrics.failure(reason(s.getStatus())).increment();
                fail(s);
                return;
            }
            // The client may have gone before the request was submitted.
            if (clientGone) cancelled();
        }

        void cancelled() {
            clientGone = true;
            RequestHandle h = handle.get();
            if (h != null && !ended.get()) {
                h.cancel();
                LOG.debugf("decoder: request %s cancelled by the client", h.requestId());
            }
            end();
        }

        private void end() {
            if (ended.compareAndSet(false, true) && entered) state.exit();
        }

        private void fail(Throwable error) {
            end();
            sink.fail(error);
        }

        @Override
        public void onDelta(TokenDelta d) {
            long now = System.nanoTime();
            if (lastToken == 0) metrics.ttft.record(now - start, TimeUnit.NANOSECONDS);
            else metrics.interToken.record(now - lastToken, TimeUnit.NANOSECONDS);
            lastToken = now;
            sink.delta(EngineCodec.chunk(d));
        }

        @Override
        public void onFinish(Completion c) {
            end();
            metrics.finished(c, start);
            sink.last(EngineCodec.chunk(c));
        }

        @Override
        public void onError(Throwable error) {
            StatusRuntimeException s = GrpcErrors.toStatus(error);
            metrics.failure(reason(s.getStatus())).increment();
            fail(s);
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
    public void info(InfoRequest request, StreamObserver<InfoResponse> observer) {
        try {
            observer.onNext(model.info());
            observer.onCompleted();
        } catch (RuntimeException e) {
            observer.onError(GrpcErrors.toStatus(e));
        }
    }
}
