package io.vqwen.engine.sched;

import java.util.ArrayDeque;

/** Hands out the KV cache's fixed-size blocks by id. */
public final class BlockAllocator {
    private final int total;
    private final ArrayDeque<Integer> free = new ArrayDeque<>();

    public BlockAllocator(int total) {
        this.total = total;
        for (int i = 0; i < total; i++) free.add(i);
    }

    public int total() {
        return total;
    }

    public int free() {
        return free.size();
    }

    public int used() {
        return total - free.size();
    }

    public int allocate() {
        Integer b = free.poll();
        if (b == null) throw new IllegalStateException("no free KV block");
        return b;
    }

    public void release(int block) {
        free.push(block);
    }
}
