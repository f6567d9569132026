package io.vqwen.engine.sched;

import io.vqwen.engine.generate.QueueFullException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * Continuous batching over a paged KV cache, in the manner of vLLM v1: every step, running sequences get their
 * decode token, then prefill chunks fill the rest of the token budget, and waiting requests join when blocks and
 * batch slots allow. When the cache runs out mid-decode, the newest running sequence is preempted: its blocks are
 * freed and it goes back to the front of the queue to be recomputed (prompt + tokens generated so far).
 * It knows request ids, token counts and block ids, nothing of the model or the device. Not thread-safe: the
 * engine's step thread owns it.
 */
public final class Scheduler<P> {
    private final SchedulerConfig cfg;
    private final BlockAllocator blocks;
    private final ArrayDeque<Sequence<P>> waiting = new ArrayDeque<>();
    private final List<Sequence<P>> running = new ArrayList<>();
    private long preemptions;

    public Scheduler(SchedulerConfig cfg) {
        this.cfg = cfg;
        this.blocks = new BlockAllocator(cfg.numBlocks());
    }

    public SchedulerConfig config() {
        return cfg;
    }

    /** Queues a sequence; refuses with an exception naming the limit it breaks. */
    public void add(Sequence<P> seq) {
        if (seq.length() + seq.maxNewTokens > cfg.maxModelLen()) {
            throw new IllegalArgumentException("prompt of " + seq.length() + " tokens + max_tokens " + seq.maxNewTokens
                    + " exceeds the maximum context length of " + cfg.maxModelLen() + " tokens");
        }
        if (blocksFor(seq.length() + seq.maxNewTokens) > cfg.numBlocks()) {
            throw new IllegalArgumentException("request needs " + blocksFor(seq.length() + seq.maxNewTokens)
                    + " KV blocks, the cache has " + cfg.numBlocks());
        }
        if (waiting.size() >= cfg.maxWaiting()) throw new QueueFullException(waiting.size());
        waiting.add(seq);
    }

    /** Marks a sequence cancelled; it leaves at the next {@link #schedule()}. */
    public void cancel(Sequence<P> seq) {
        seq.cancelled = true;
    }

    public List<Sequence<P>> running() {
        return List.copyOf(running);
    }

    public int numRunning() {
        return running.size();
    }

    public int numWaiting() {
        return waiting.size();
    }

    public int blocksUsed() {
        return blocks.used();
    }

    public int blocksTotal() {
        return blocks.total();
    }

    public long preemptions() {
        return preemptions;
    }

    public boolean hasWork() {
        return !running.isEmpty() || !waiting.isEmpty();
    }

    /** Removes cancelled sequences (freeing their blocks) and returns them so the engine can tell their callers. */
    public List<Sequence<P>> reapCancelled() {
        List<Sequence<P>> gone = new ArrayList<>();
        for (Iterator<Sequence<P>> it = running.iterator(); it.hasNext(); ) {
            Sequence<P> s = it.next();
            if (s.cancelled) {
                it.remove();
                freeBlocks(s);
                gone.add(s);
            }
        }
        for (Iterator<Sequence<P>> it = waiting.iterator(); it.hasNext(); ) {
            Sequence<P> s = it.next();
            if (s.cancelled) {
                it.remove();
                freeBlocks(s);
                gone.add(s);
            }
        }
        return gone;
    }

    /** Plans the next step. An empty list means there is nothing to run. */
    public List<ScheduledChunk<P>> schedule() {
        List<ScheduledChunk<P>> step = new ArrayList<>();
        int budget = cfg.tokenBudget();
        // 1. Running sequences, oldest first: a decode token, or the next chunk of an unfinished prefill.
        for (int i = 0; i < running.size() && budget > 0; i++) {
            Sequence<P> s = running.get(i);
            int want = Math.min(s.length() - s.numComputed, budget);
            if (want <= 0) continue;
            while (!reserve(s, s.numComputed + want)) {
                Sequence<P> victim = running.getLast();
                if (victim == s && running.size() == 1) {
                    throw new IllegalStateException("KV cache too small for one sequence of " + s.length() + " tokens");
                }
                preempt(victim);
                if (victim == s) break;
            }
            if (!running.contains(s)) {
                i--;
                continue;
            }
            step.add(new ScheduledChunk<>(s, s.numComputed, want, s.numComputed + want == s.length()));
            budget -= want;
        }
        // 2. Waiting sequences join while the batch, the budget and the cache allow.
        while (budget > 0 && !waiting.isEmpty() && running.size() < cfg.maxRunning()) {
            Sequence<P> s = waiting.peek();
            int want = Math.min(s.length() - s.numComputed, budget);
            // Admission: room for this chunk now, and not so full that running sequences would be preempted at once.
            if (blocksFor(s.numComputed + want) - s.numBlocks() > blocks.free()) break;
            waiting.poll();
            reserve(s, s.numComputed + want);
            running.add(s);
            step.add(new ScheduledChunk<>(s, s.numComputed, want, s.numComputed + want == s.length()));
            budget -= want;
        }
        return step;
    }

    /** After the step ran: the chunk's tokens are in the cache. */
    public void computed(ScheduledChunk<P> chunk) {
        chunk.seq().numComputed = chunk.start() + chunk.count();
    }

    /** Appends a sampled token to a sequence. */
    public void append(Sequence<P> seq, int token) {
        seq.tokens.add(token);
    }

    /** Removes a finished sequence and frees its blocks. */
    public void finish(Sequence<P> seq) {
        running.remove(seq);
        waiting.remove(seq);
        freeBlocks(seq);
    }

    private boolean reserve(Sequence<P> s, int tokens) {
        int need = blocksFor(tokens) - s.numBlocks();
        if (need > blocks.free()) return false;
        for (int i = 0; i < need; i++) s.blocks.add(blocks.allocate());
        return true;
    }

    private void preempt(Sequence<P> s) {
        running.remove(s);
        freeBlocks(s);
        s.numComputed = 0;
        s.preemptions++;
        preemptions++;
        waiting.addFirst(s);
    }

    private void freeBlocks(Sequence<P> s) {
        for (int b : s.blocks) blocks.release(b);
        s.blocks.clear();
    }

    private int blocksFor(int tokens) {
        return (tokens + cfg.blockSize() - 1) / cfg.blockSize();
    }
}
