package io.vqwen.decoder;

import io.vqwen.engine.backend.Backend;
import io.vqwen.engine.config.Qwen3Config;
import org.jboss.logging.Logger;

/**
 * How many KV cache blocks the decoder allocates when {@code vqwen.decoder.kv-cache-blocks} is not set: enough for
 * max-running sequences at max-model-len (then nothing is ever preempted), capped by
 * {@code vqwen.decoder.kv-cache-fraction} of the memory that holds the cache: the JVM heap for the CPU backend,
 * whose cache is float arrays. (On CUDA the fraction needs a device memory query the Backend interface lacks; see
 * below.) Fewer blocks than that is fine: the scheduler admits what fits and preempts the newest sequence when
 * decoding runs out.
 */
final class KvCacheSizing {
    private static final Logger LOG = Logger.getLogger(KvCacheSizing.class);

    private KvCacheSizing() {
    }

    static int blocks(int configured, double fraction, Qwen3Config text, Backend backend, int maxRunning, int maxModelLen, int blockSize) {
        if (blockSize <= 0) throw new IllegalArgumentException("vqwen.decoder.block-size must be > 0, got " + blockSize);
        if (maxRunning <= 0) throw new IllegalArgumentException("vqwen.decoder.max-running must be > 0, got " + maxRunning);
        int perSequence = (maxModelLen + blockSize - 1) / blockSize;
        if (configured > 0) {
            if (configured < perSequence) {
                throw new IllegalArgumentException("vqwen.decoder.kv-cache-blocks " + configured + " cannot hold one sequence of max-model-len "
                        + maxModelLen + " (" + perSequence + " blocks of " + blockSize + ")");
            }
            return configured;
        }
        if (!(fraction > 0 && fraction <= 1)) {
            throw new IllegalArgumentException("vqwen.decoder.kv-cache-fraction must be in (0, 1], got " + fraction);
        }
        long wanted = (long) maxRunning * perSequence;
        int elementBytes = backend.activationDtype().equals("bf16") ? 2 : 4;
        long bytesPerBlock = 2L * text.numHiddenLayers() * text.numKeyValueHeads() * text.headDim() * elementBytes * blockSize;
        long blocks = wanted;
        if (backend.name().equals("cpu")) {
            long budget = (long) (fraction * Runtime.getRuntime().maxMemory());
            blocks = Math.min(blocks, budget / bytesPerBlock);
            // The CPU cache keeps K (and V) of one layer in one float[].
            long perLayerBlock = (long) blockSize * text.numKeyValueHeads() * text.headDim();
            blocks = Math.min(blocks, (Integer.MAX_VALUE - 8) / perLayerBlock);
        } else {
            // The Backend interface has no device memory query yet, so the fraction cannot be applied here: allocate
            // for max-running full-length sequences (the allocation fails with the device's free memory in its
            // message if that does not fit) and say so, rather than apply the fraction to the wrong memory.
            LOG.warnf("decoder: vqwen.decoder.kv-cache-fraction=%s is not applied on %s (no device memory query); the KV cache "
                    + "holds max-running x max-model-len = %d blocks (%d MiB); set vqwen.decoder.kv-cache-blocks to choose",
                    fraction, backend.name(), blocks, blocks * bytesPerBlock >> 20);
        }
        if (blocks < perSequence) {
            throw new IllegalArgumentException("the KV cache budget (" + fraction + " of " + Runtime.getRuntime().maxMemory() / (1 << 20)
                    + " MiB heap) holds " + blocks + " blocks, fewer than one sequence of max-model-len " + maxModelLen + " needs ("
                    + perSequence + "); raise -Xmx or vqwen.decoder.kv-cache-fraction, or lower vqwen.decoder.max-model-len");
        }
        return (int) blocks;
    }
}
