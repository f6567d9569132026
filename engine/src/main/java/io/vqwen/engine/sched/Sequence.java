package io.vqwen.engine.sched;

import java.util.ArrayList;
import java.util.List;

/**
 * A request as the scheduler sees it: token ids (prompt, then generated), how many of them are in the KV cache,
 * and the cache blocks holding them. The payload (sampling state, listener, image embeddings) is the engine's.
 */
public final class Sequence<P> {
    final String id;
    final int promptLength;
    final int maxNewTokens;
    final List<Integer> tokens;
    final List<Integer> blocks = new ArrayList<>();
    final long arrivalNanos;
    final P payload;
    int numComputed;
    int preemptions;
    boolean cancelled;

    public Sequence(String id, int[] promptIds, int maxNewTokens, P payload) {
        this.id = id;
        this.promptLength = promptIds.length;
        this.maxNewTokens = maxNewTokens;
        this.tokens = new ArrayList<>(promptIds.length + Math.min(maxNewTokens, 4096));
        for (int t : promptIds) tokens.add(t);
        this.arrivalNanos = System.nanoTime();
        this.payload = payload;
    }

    public String id() {
        return id;
    }

    public P payload() {
        return payload;
    }

    public int promptLength() {
        return promptLength;
    }

    public int length() {
        return tokens.size();
    }

    public int outputLength() {
        return tokens.size() - promptLength;
    }

    public int token(int i) {
        return tokens.get(i);
    }

    public int[] outputIds() {
        return tokens.subList(promptLength, tokens.size()).stream().mapToInt(Integer::intValue).toArray();
    }

    public int[] allIds() {
        return tokens.stream().mapToInt(Integer::intValue).toArray();
    }

    public int numComputed() {
        return numComputed;
    }

    public int preemptions() {
        return preemptions;
    }

    public long arrivalNanos() {
        return arrivalNanos;
    }

    public int[] blockTable() {
        return blocks.stream().mapToInt(Integer::intValue).toArray();
    }

    public int numBlocks() {
        return blocks.size();
    }
}
