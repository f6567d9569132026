package io.vqwen.service;

import io.grpc.Channel;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.vqwen.engine.generate.Completion;
import io.vqwen.engine.generate.GenerationListener;
import io.vqwen.engine.generate.GenerationParams;
import io.vqwen.engine.generate.RequestHandle;
import io.vqwen.engine.generate.TokenDelta;
import io.vqwen.engine.pipeline.Generator;
import io.vqwen.engine.pipeline.ImageNotFoundException;
import io.vqwen.proto.v1.DecoderServiceGrpc;
import io.vqwen.proto.v1.GenerateChunk;
import io.vqwen.proto.v1.GenerateRequest;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.IntSupplier;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The generator over gRPC: decoder-service's Generate with image handles. Built on the grpc-java stub because the
 * Mutiny stub's server-streaming Multi does not cancel the call when its subscriber goes away
 * (quarkus-grpc-stubs ClientCalls.oneToMany); cancelling here cancels the call, and the decoder frees the sequence.
 * NOT_FOUND "image sha256:<hex> ..." becomes {@link ImageNotFoundException}, which the orchestrator answers by
 * embedding again; other failures go through {@code tag}.
 */
public final class RemoteGenerator implements Generator {
    private static final Pattern MISSING = Pattern.compile("image sha256:([0-9a-f]{64})");

    private final Channel channel;
    private final int deadlineSeconds;
    private final IntSupplier maxModelLen;
    private final UnaryOperator<Throwable> tag;

    /** {@code maxModelLen}: the decoder's, as its Info last said. */
    public RemoteGenerator(Channel channel, int deadlineSeconds, IntSupplier maxModelLen, UnaryOperator<Throwable> tag) {
        this.channel = channel;
        this.deadlineSeconds = deadlineSeconds;
        this.maxModelLen = maxModelLen;
        this.tag = tag;
    }

    @Override
    public int maxModelLen() {
        return maxModelLen.getAsInt();
    }

    @Override
    public RequestHandle submit(String requestId, int[] promptIds, List<String> imageSha256s, int maxNewTokens, GenerationParams params,
                                GenerationListener listener) {
        GenerateRequest req = EngineCodec.request(requestId, promptIds, imageSha256s, maxNewTokens, params);
        Call call = new Call(requestId, listener);
        DecoderServiceGrpc.newStub(channel).withDeadlineAfter(deadlineSeconds, TimeUnit.SECONDS).generate(req, call);
        return call;
    }

    private final class Call implements ClientResponseObserver<GenerateRequest, GenerateChunk>, RequestHandle {
        private final String id;
        private final GenerationListener listener;
        private volatile ClientCallStreamObserver<GenerateRequest> stream;
        private volatile boolean closed;

        Call(String id, GenerationListener listener) {
            this.id = id;
            this.listener = listener;
        }

        @Override
        public void beforeStart(ClientCallStreamObserver<GenerateRequest> s) {
            stream = s;
        }

        @Override
        public void onNext(GenerateChunk chunk) {
            TokenDelta d = EngineCodec.delta(chunk);
            if (d != null) listener.onDelta(d);
            Completion c = EngineCodec.completion(chunk);
            if (c != null) {
                closed = true;
                listener.onFinish(c);
            }
        }

        @Override
        public void onError(Throwable t) {
            if (closed) return;
            closed = true;
            Status s = Status.fromThrowable(t);
            Matcher m = s.getDescription() == null ? null : MISSING.matcher(s.getDescription());
            if (s.getCode() == Status.Code.NOT_FOUND && m != null && m.lookingAt()) listener.onError(new ImageNotFoundException(m.group(1)));
            else listener.onError(tag.apply(t));
        }

        @Override
        public void onCompleted() {
            if (closed) return;
            closed = true;
            listener.onError(new IllegalStateException("decoder-service ended the stream without a finish reason"));
        }

        @Override
        public String requestId() {
            return id;
        }

        @Override
        public void cancel() {
            ClientCallStreamObserver<GenerateRequest> s = stream;
            if (!closed && s != null) {
                closed = true;
                s.cancel("the client went away", null);
            }
        }
    }
}
