package io.vqwen.cuda;

import io.vqwen.engine.backend.SampledToken;
import io.vqwen.engine.backend.SamplingRow;

/** Launchers of sample.cu: greedy argmax and Gumbel-max sampling, one 1024-thread block per row. */
final class SampleKernels {
    /** 32-bit words of sample.cu's SampleRowParams and of one row of sample_full_f32's output. */
    static final int PARAM_WORDS = 10, MAX_TOP = 20, OUT_WORDS = 2 + 2 * MAX_TOP;
    /** SplittableRandom's gamma: the device keys a draw by seed + draws * GAMMA, as the CPU seeds its stream. */
    private static final long GAMMA = 0x9e3779b97f4a7c15L;

    private final CudaDevice dev;

    SampleKernels(CudaDevice dev) {
        this.dev = dev;
    }

    void argmax(long out, long logits, boolean f32, int rows, int vocab) {
        dev.launch(f32 ? "argmax_rows_f32" : "argmax_rows_bf16", rows, 1, 1, 1024, 1, 1, out, logits, vocab);
    }

    void sample(long out, long logits, int rows, int vocab, long temperatures, long seeds) {
        dev.launch("sample_rows_f32", rows, 1, 1, 1024, 1, 1, out, logits, vocab, temperatures, seeds);
    }

    /** Backend.sample on the device: params from {@link #pack}, hist and histScratch of {@link #historyLength} ints. */
    void sampleFull(long out, long logits, int rows, int vocab, long params, long hist, long histScratch) {
        dev.launch("sample_full_f32", rows, 1, 1, 1024, 1, 1, out, logits, vocab, params, hist, histScratch);
    }

    static int historyLength(SamplingRow[] rows) {
        int n = 0;
        for (SamplingRow r : rows) if (r.repetitionPenalty() != 1f) n = Math.addExact(n, r.history().length);
        return n;
    }

    /** SampleRowParams per row (floats as bits, the key as two words, little-endian) and the rows' histories, concatenated. */
    static int[] pack(SamplingRow[] rows, int vocab, int[] hist) {
        int[] w = new int[rows.length * PARAM_WORDS];
        int h = 0;
        for (int r = 0; r < rows.length; r++) {
            SamplingRow s = rows[r];
            int o = r * PARAM_WORDS;
            boolean penalty = s.repetitionPenalty() != 1f;
            w[o] = Float.floatToRawIntBits(s.temperature());
            w[o + 1] = Float.floatToRawIntBits(s.topP());
            w[o + 2] = Float.floatToRawIntBits(s.minP());
            w[o + 3] = Float.floatToRawIntBits(s.repetitionPenalty());
            w[o + 4] = s.topK();
            w[o + 5] = s.wantsLogprobs() ? Math.min(s.topLogprobs(), vocab) : -1;
            w[o + 6] = h;
            w[o + 7] = penalty ? s.history().length : 0;
            long key = s.seed() + s.draws() * GAMMA;
            w[o + 8] = (int) key;
            w[o + 9] = (int) (key >>> 32);
            if (penalty) {
                System.arraycopy(s.history(), 0, hist, h, s.history().length);
                h += s.history().length;
            }
        }
        return w;
    }

    static SampledToken[] unpack(int[] out, SamplingRow[] rows) {
        SampledToken[] t = new SampledToken[rows.length];
        for (int r = 0; r < rows.length; r++) {
            int o = r * OUT_WORDS;
            if (!rows[r].wantsLogprobs()) {
                t[r] = SampledToken.idOnly(out[o]);
                continue;
            }
            int n = rows[r].topLogprobs();
            int[] ids = new int[n];
            float[] lps = new float[n];
            for (int k = 0; k < n; k++) {
                ids[k] = out[o + 2 + k];
                lps[k] = Float.intBitsToFloat(out[o + 2 + MAX_TOP + k]);
            }
            t[r] = new SampledToken(out[o], Float.intBitsToFloat(out[o + 1]), ids, lps);
        }
        return t;
    }
}
