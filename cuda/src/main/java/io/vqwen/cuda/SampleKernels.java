package io.vqwen.cuda;

/** Launchers of sample.cu: greedy argmax and Gumbel-max sampling, one 1024-thread block per row. */
final class SampleKernels {
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
}
