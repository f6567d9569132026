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
import io.vqwen.engine.generate.GenerationRequest;
import io.vqwen.engine.generate.RequestHandle;
import io.vqwen.engine.generate.SamplingParams;
import io.vqwen.engine.generate.TokenDelta;
import io.vqwen.engine.generate.TokenLogprob;
import io.vqwen.engine.generate.TopLogprob;
import io.vqwen.engine.pipeline.ImageEmbeddings;
import io.vqwen.proto.v1.DecoderService;
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
            GenerationRequest req = toEngine(request);
            handle.set(model.engine().submit(req, new Listener(em, start, finished)));
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
            em.emit(c.build());
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
            io.vqwen.engine.generate.Timings t = c.timings();
            em.emit(GenerateChunk.newBuilder()
                    .setFinishReason(c.finishReason())
                    .setUsage(Usage.newBuilder().setPromptTokens(c.promptTokens()).setCompletionTokens(c.completionTokens()))
                    .setTimings(Timings.newBuilder().setQueueMs(t.queueMs()).setPrefillMs(t.prefillMs()).setDecodeMs(t.decodeMs())
                            .setTtftMs(t.ttftMs()).setTokensPerS(t.tokensPerS()))
                    .build());
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

    static GenerationRequest toEngine(GenerateRequest r) {
        ImageEmbeddings images = null;
        if (r.hasImageEmbeddings()) {
            images = TensorCodec.decodeEmbeddings(r.getImageEmbeddings(), "image_embeddings", -1);
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
    public Uni<InfoResponse> info(InfoRequest request) {
        return Uni.createFrom().item(model::info).onFailure().transform(GrpcErrors::toStatus);
    }
}
