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
import io.vqwen.engine.generate.GenerationRequest;
import io.vqwen.engine.generate.RequestHandle;
import io.vqwen.engine.generate.SamplingParams;
import io.vqwen.engine.generate.StepTrace;
import io.vqwen.engine.generate.TokenDelta;
import io.vqwen.engine.generate.TokenLogprob;
import io.vqwen.engine.generate.TopLogprob;
import io.vqwen.proto.v1.DecoderServiceGrpc;
import io.vqwen.proto.v1.GenerateChunk;
import io.vqwen.proto.v1.GenerateRequest;
import io.vqwen.proto.v1.InfoRequest;
import io.vqwen.proto.v1.InfoResponse;
import io.vqwen.proto.v1.Timings;
import io.vqwen.proto.v1.Usage;
import io.vqwen.service.GrpcErrors;
import io.vqwen.service.ServiceState;
import io.vqwen.service.TensorCodec;
import jakarta.inject.Inject;
import java.util.UUID;
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
        Infrastructure.getDefaultWorkerPool().execute(() -> stream.submit(request));
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
                handle.set(model.engine().submit(toEngine(request), this, trace));
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
            GenerateChunk.Builder c = GenerateChunk.newBuilder().setText(d.text());
            for (int id : d.tokenIds()) c.addTokenIds(id);
            for (TokenLogprob lp : d.logprobs()) {
                io.vqwen.proto.v1.TokenLogprob.Builder b = io.vqwen.proto.v1.TokenLogprob.newBuilder()
                        .setTokenId(lp.tokenId()).setToken(lp.token()).setLogprob(lp.logprob());
                for (TopLogprob t : lp.top()) {
                    b.addTop(io.vqwen.proto.v1.TopLogprob.newBuilder().setTokenId(t.tokenId()).setToken(t.token()).setLogprob(t.logprob()));
                }
                c.addLogprobs(b);
            }
            sink.delta(c.build());
        }

        @Override
        public void onFinish(Completion c) {
            end();
            metrics.finished(c, start);
            io.vqwen.engine.generate.Timings t = c.timings();
            sink.last(GenerateChunk.newBuilder()
                    .setFinishReason(c.finishReason())
                    .setUsage(Usage.newBuilder().setPromptTokens(c.promptTokens()).setCompletionTokens(c.completionTokens()))
                    .setTimings(Timings.newBuilder().setQueueMs(t.queueMs()).setPrefillMs(t.prefillMs()).setDecodeMs(t.decodeMs())
                            .setTtftMs(t.ttftMs()).setTokensPerS(t.tokensPerS()))
                    .build());
        }

        @Override
        public void onError(Throwable error) {
            StatusRuntimeException s = GrpcErrors.toStatus(error);
            metrics.failure(reason(s.getStatus())).increment();
            fail(s);
        }
    }

    static GenerationRequest toEngine(GenerateRequest r) {
        float[] images = null;
        if (r.hasImageEmbeddings()) {
            images = TensorCodec.decode(r.getImageEmbeddings(), "image_embeddings", -1);
        }
        io.vqwen.proto.v1.SamplingParams s = r.getSampling();
        // proto3 zeros mean "off": top_p 0 and repetition_penalty 0 are the engine's 1.
        SamplingParams sampling = new SamplingParams(s.getTemperature(), s.getTopP() == 0 ? 1f : s.getTopP(), s.getTopK(),
                s.getMinP(), s.getRepetitionPenalty() == 0 ? 1f : s.getRepetitionPenalty(), s.hasSeed() ? s.getSeed() : null);
        int[] prompt = r.getPromptTokenIdsList().stream().mapToInt(Integer::intValue).toArray();
        String id = r.getRequestId().isEmpty() ? UUID.randomUUID().toString() : r.getRequestId();
        return new GenerationRequest(id, prompt, images, sampling, r.getMaxTokens(), r.getStopList(), r.getLogprobs(),
                r.getTopLogprobs(), r.getIgnoreEos());
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
