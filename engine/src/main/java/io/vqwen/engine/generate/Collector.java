package io.vqwen.engine.generate;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * A listener that gathers a whole generation: ids, text and log-probabilities, completed when the request ends.
 * For callers that wait for the end (the CLI, warm-ups, benchmarks, tests) rather than stream.
 */
public final class Collector implements GenerationListener {
    /** Everything a finished request produced. */
    public record Generation(int[] tokenIds, String text, List<TokenLogprob> logprobs, Completion completion) {
    }

    private final List<Integer> ids = new ArrayList<>();
    private final StringBuilder text = new StringBuilder();
    private final List<TokenLogprob> logprobs = new ArrayList<>();
    private final CompletableFuture<Generation> done = new CompletableFuture<>();
    private final Consumer<String> onText;

    public Collector() {
        this(null);
    }

    /** {@code onText} (may be null) also receives each non-empty text delta as it arrives. */
    public Collector(Consumer<String> onText) {
        this.onText = onText;
    }

    public CompletableFuture<Generation> result() {
        return done;
    }

    @Override
    public void onDelta(TokenDelta d) {
        for (int id : d.tokenIds()) ids.add(id);
        logprobs.addAll(d.logprobs());
        text.append(d.text());
        if (onText != null && !d.text().isEmpty()) onText.accept(d.text());
    }

    @Override
    public void onFinish(Completion c) {
        done.complete(new Generation(ids.stream().mapToInt(Integer::intValue).toArray(), text.toString(), List.copyOf(logprobs), c));
    }

    @Override
    public void onError(Throwable t) {
        done.completeExceptionally(t);
    }
}
