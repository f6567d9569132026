package io.vqwen.cuda;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A caching allocator for activations: freed buffers go back to a free list by size class and are handed out
 * again without cuMemAlloc/cuMemFree (which synchronise the device). Reuse is safe because every op runs on the
 * one stream: whatever is enqueued after a free runs after the ops that used the buffer before it.
 * A CUDA graph owns a pool of its own (see {@link CudaBackend#decodeStep}), so the memory its replays write is
 * never handed to anyone else.
 */
final class DevicePool {
    /** A pooled allocation. */
    static final class Buffer {
        final CudaDevice.DevPtr ptr;
        final long address;
        final long bytes;
        final DevicePool pool;

        Buffer(CudaDevice.DevPtr ptr, long bytes, DevicePool pool) {
            this.ptr = ptr;
            this.address = ptr.address();
            this.bytes = bytes;
            this.pool = pool;
        }
    }

    private final CudaDevice device;
    private final String name;
    private final Map<Long, ArrayDeque<Buffer>> free = new HashMap<>();
    private final List<Buffer> all = new ArrayList<>();
    private long reserved;

    DevicePool(CudaDevice device, String name) {
        this.device = device;
        this.name = name;
    }

    /** Sizes round up to 256 B below 4 KiB, else to a quarter of their power of two (at most 25% slack). */
    static long sizeClass(long bytes) {
        if (bytes <= 4096) return Math.max(256, (bytes + 255) & ~255L);
        long step = Long.highestOneBit(bytes) >> 2;
        return (bytes + step - 1) / step * step;
    }

    Buffer take(long bytes) {
        long size = sizeClass(bytes);
        ArrayDeque<Buffer> q = free.get(size);
        if (q != null && !q.isEmpty()) return q.pop();
        CudaDevice.DevPtr p;
        try {
            p = device.alloc(size, name);
        } catch (CudaException oom) {
            // Give cached blocks back to the driver and try once more.
            trim();
            p = device.alloc(size, name);
        }
        Buffer b = new Buffer(p, size, this);
        all.add(b);
        reserved += size;
        return b;
    }

    void give(Buffer b) {
        free.computeIfAbsent(b.bytes, k -> new ArrayDeque<>()).push(b);
    }

    /** Frees every cached (not handed out) block. */
    void trim() {
        device.synchronize();
        for (ArrayDeque<Buffer> q : free.values()) {
            for (Buffer b : q) {
                device.free(b.ptr);
                all.remove(b);
                reserved -= b.bytes;
            }
            q.clear();
        }
    }

    long reservedBytes() {
        return reserved;
    }

    /** Frees every block, handed out or not. */
    void releaseAll() {
        for (Buffer b : all) device.free(b.ptr);
        all.clear();
        free.clear();
        reserved = 0;
    }
}
