package io.vqwen.engine.generate;

import io.vqwen.engine.backend.SampledToken;
import io.vqwen.engine.text.Tokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Turns sampled ids into what callers see, on its own thread (vLLM v1's OutputProcessor): detokenization, stop
 * strings, log-probability token texts and the listeners' calls. The step thread only posts ids, so this host work
 * never delays the next GPU step. One thread and one queue: a request's events are handled in the order posted.
 * A stop string ends the request here (the completion counts the tokens emitted up to it) and asks the engine to
 * free it; ids the step thread sampled after that are dropped.
 */
final class OutputProcessor implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(OutputProcessor.class.getName());

    private sealed interface Event permits Token, Finish, Failure, Stop {
    }

    /** {@code end} is set when the step thread ended the request with this token (EOS or max_tokens). */
    private record Token(RequestOutput out, SampledToken sampled, boolean eos, Completion end) implements Event {
    }

    private record Finish(RequestOutput out, Completion completion) implements Event {
    }

    private record Failure(RequestOutput out, Throwable error) implements Event {
    }

    private record Stop() implements Event {
    }

    private final Tokenizer tokenizer;
    private final LinkedBlockingQueue<Event> queue = new LinkedBlockingQueue<>();
    private final AtomicInteger unhandled = new AtomicInteger();
    private final Thread thread;

    OutputProcessor(Tokenizer tokenizer) {
        this.tokenizer = tokenizer;
        this.thread = Thread.ofPlatform().name("vqwen-decoder-output").daemon().start(this::loop);
    }

    void token(RequestOutput out, SampledToken sampled, boolean eos, Completion end) {
        post(new Token(out, sampled, eos, end));
    }

    void finish(RequestOutput out, Completion completion) {
        post(new Finish(out, completion));
    }

    void fail(RequestOutput out, Throwable error) {
        post(new Failure(out, error));
    }

    /** Whether every posted event has been handled. */
    boolean idle() {
        return unhandled.get() == 0;
    }

    /** Handles what was posted before, then stops the thread. */
    @Override
    public void close() {
        post(new Stop());
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void post(Event e) {
        unhandled.incrementAndGet();
        queue.add(e);
    }

    private void loop() {
        while (true) {
            Event e;
            try {
                e = queue.take();
            } catch (InterruptedException ie) {
                return;
            }
            try {
                if (e instanceof Stop) return;
                handle(e);
            } finally {
                unhandled.decrementAndGet();
            }
        }
    }

    private void handle(Event e) {
        RequestOutput out = switch (e) {
            case Token t -> t.out();
            case Finish f -> f.out();
            case Failure f -> f.out();
            case Stop s -> null;
        };
        if (out == null || out.closed) return;
        try {
            switch (e) {
                case Token t -> onToken(out, t);
                case Finish f -> close(out).listener.onFinish(f.completion());
                case Failure f -> close(out).listener.onError(f.error());
                case Stop s -> { }
            }
        } catch (RuntimeException ex) {
            // A failing listener ends its own request, never the processor or the other requests.
            LOG.log(Level.WARNING, "output of request " + out.req.requestId() + " failed", ex);
            if (!out.closed) {
                close(out).control.abort();
                try {
                    out.listener.onError(ex);
                } catch (RuntimeException again) {
                    LOG.log(Level.WARNING, "request " + out.req.requestId() + ": onError failed", again);
                }
            }
        }
    }

    private static RequestOutput close(RequestOutput out) {
        out.closed = true;
        return out;
    }

    private void onToken(RequestOutput out, Token t) {
        int id = t.sampled().tokenId();
        out.tokens++;
        boolean last = t.end() != null;
        String delta = t.eos() ? "" : out.detok.add(id);
        if (last) delta += out.detok.flush();
        out.text.append(delta);

        // Stop strings: cut before the first match; hold back a tail that could still become one.
        boolean stopped = false;
        int emitTo = out.text.length();
        for (String stop : out.req.stop()) {
            int at = out.text.indexOf(stop, Math.max(0, out.emitted - stop.length() + 1));
            if (at >= 0 && at < emitTo) {
                emitTo = at;
                stopped = true;
            }
        }
        if (!last && !stopped) emitTo -= heldBack(out);
        String text = emitTo > out.emitted ? out.text.substring(out.emitted, emitTo) : "";
        out.emitted = Math.max(out.emitted, emitTo);
        out.listener.onDelta(new TokenDelta(new int[] {id}, text, logprobs(t.sampled())));
        if (stopped) {
            Completion end = last ? t.end() : out.control.completion("stop", out.tokens);
            close(out).listener.onFinish(new Completion("stop", end.promptTokens(), end.completionTokens(), end.timings()));
            if (!last) out.control.abort();
        } else if (last) {
            close(out).listener.onFinish(t.end());
        }
    }

    private static int heldBack(RequestOutput out) {
        int hold = 0;
        StringBuilder text = out.text;
        for (String stop : out.req.stop()) {
            for (int k = Math.min(stop.length() - 1, text.length() - out.emitted); k > hold; k--) {
                if (text.substring(text.length() - k).equals(stop.substring(0, k))) {
                    hold = k;
                    break;
                }
            }
        }
        return hold;
    }

    private List<TokenLogprob> logprobs(SampledToken s) {
        if (Float.isNaN(s.logprob())) return List.of();
        List<TopLogprob> alts = new ArrayList<>(s.topIds().length);
        for (int i = 0; i < s.topIds().length; i++) {
            alts.add(new TopLogprob(s.topIds()[i], tokenizer.tokenText(s.topIds()[i]), s.topLogprobs()[i]));
        }
        return List.of(new TokenLogprob(s.tokenId(), tokenizer.tokenText(s.tokenId()), s.logprob(), alts));
    }
}
