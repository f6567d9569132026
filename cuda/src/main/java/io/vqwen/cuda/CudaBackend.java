package io.vqwen.cuda;

import static jcuda.driver.JCudaDriver.cuGraphDestroy;
import static jcuda.driver.JCudaDriver.cuGraphExecDestroy;
import static jcuda.driver.JCudaDriver.cuGraphInstantiate;
import static jcuda.driver.JCudaDriver.cuGraphLaunch;
import static jcuda.driver.JCudaDriver.cuStreamBeginCapture;
import static jcuda.driver.JCudaDriver.cuStreamEndCapture;

import io.vqwen.engine.backend.Backend;
import io.vqwen.engine.backend.BatchLayout;
import io.vqwen.engine.backend.KvCache;
import io.vqwen.engine.backend.KvCacheSpec;
import io.vqwen.engine.backend.StepBatch;
import io.vqwen.engine.backend.SampledToken;
import io.vqwen.engine.backend.SamplingRow;
import io.vqwen.engine.backend.Tensor;
import io.vqwen.engine.pipeline.ImageEmbeddings;
import io.vqwen.engine.safetensors.DType;
import io.vqwen.engine.safetensors.TensorView;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import jcuda.Pointer;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUstreamCaptureMode;

/**
 * The GPU backend: bf16 weights uploaded once, bf16 activations with float32 accumulation, all resident on one
 * device and ordered on one stream. Dense products run on cuBLAS (through FFM) or, for decode-sized batches, on our
 * GEMV kernels; everything else runs on our kernels (cuda/src/main/cuda, one launcher class per file).
 * Decode steps are recorded as CUDA graphs, one per padded batch size, and replayed with fresh positions and block
 * tables in device buffers, so a token costs one graph launch instead of hundreds of kernel launches.
 * Requires an NVIDIA driver with CUDA 13 support (580 or newer) and compute capability 9.0.
 * Not for concurrent use from several threads: calls are serialised.
 */
public final class CudaBackend implements Backend {
    /** Graphs are recorded for decode batches up to this size; larger ones run op by op. */
    static final int MAX_GRAPH_BATCH = 64;
    private static final int[] BUCKETS = {1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 24, 32, 40, 48, 56, 64};
    private static final int KEEP_STEPS = 4;

    private final CudaDevice dev;
    private final Cublas blas;
    private final NormKernels norms;
    private final ElementwiseKernels elementwise;
    private final RowKernels rows;
    private final RopeKernels ropes;
    private final GemvKernels gemv;
    private final AttentionKernels attention;
    private final SampleKernels sampling;
    private final DevicePool mainPool;
    private DevicePool pool;               // the main pool, or a decode graph's own while it is recorded
    private boolean capturing;
    private final boolean graphs;
    private final List<CudaDevice.DevPtr> weights = new ArrayList<>();
    private final Map<GraphKey, DecodeGraph> decodeGraphs = new HashMap<>();
    private final ArrayDeque<CudaStep> recentSteps = new ArrayDeque<>();
    private final Map<String, Long> invFreqTables = new HashMap<>(); // "theta/headDim" -> device float table
    private final CudaDevice.Staging pixelStaging;
    private long weightBytes;
    private boolean closed;

    private record GraphKey(Object owner, int bucket, int tableStride) {
    }

    private record DecodeGraph(CudaStep step, CUgraph graph, CUgraphExec exec, DevicePool pool, CudaTensor logits, int vocab) {
    }

    private static final class CudaKvCache implements KvCache {
        final KvCacheSpec spec;
        final CudaDevice.DevPtr k, v;
        final long perLayer; // bytes of one layer's K (or V)
        private final CudaBackend owner;
        private boolean closed;

        CudaKvCache(CudaBackend owner, KvCacheSpec spec, CudaDevice.DevPtr k, CudaDevice.DevPtr v, long perLayer) {
            this.owner = owner;
            this.spec = spec;
            this.k = k;
            this.v = v;
            this.perLayer = perLayer;
        }

        long k(int layer) {
            return k.address() + layer * perLayer;
        }

        long v(int layer) {
            return v.address() + layer * perLayer;
        }

        @Override
        public KvCacheSpec spec() {
            return spec;
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                owner.releaseCache(this);
            }
        }
    }

    /** Device 0 with decode graphs (unless -Dvqwen.cuda.graphs=false). */
    public CudaBackend() {
        this(0);
    }

    public CudaBackend(int device) {
        this(device, !"false".equals(System.getProperty("vqwen.cuda.graphs")));
    }

    public CudaBackend(int device, boolean graphs) {
        this.dev = new CudaDevice(device, KernelImage.fatbin());
        this.graphs = graphs;
        Cublas b;
        try {
            b = new Cublas(dev);
        } catch (RuntimeException e) {
            dev.close();
            throw e;
        }
        this.blas = b;
        this.norms = new NormKernels(dev);
        this.elementwise = new ElementwiseKernels(dev);
        this.rows = new RowKernels(dev);
        this.ropes = new RopeKernels(dev);
        this.gemv = new GemvKernels(dev);
        this.attention = new AttentionKernels(dev);
        this.sampling = new SampleKernels(dev);
        this.mainPool = new DevicePool(dev, "activations");
        this.pool = mainPool;
        this.pixelStaging = dev.new Staging();
    }

    @Override
    public String name() {
        return "cuda:" + dev.index;
    }

    @Override
    public String activationDtype() {
        return "bf16";
    }

    /** Device, driver and library facts for logs and benchmark reports. */
    public String describe() {
        return String.format("%s (device %d, %d SMs, sm_%d%d, %.1f GiB, driver API %d.%d), cuBLAS %s", dev.name, dev.index,
                dev.multiprocessors, dev.computeMajor, dev.computeMinor, dev.totalMemory / (double) (1L << 30),
                dev.driverVersion / 1000, dev.driverVersion % 1000 / 10, blas.library());
    }

    public int multiprocessors() {
        return dev.multiprocessors;
    }

    public int deviceIndex() {
        return dev.index;
    }

    /** Bytes of weights resident on the device. */
    public long weightBytes() {
        return weightBytes;
    }

    // ---- tensors ------------------------------------------------------------------------------------------

    private static CudaTensor t(Tensor x, String op) {
        if (x instanceof CudaTensor c) return c;
        throw new IllegalArgumentException(op + ": tensor " + x + " does not belong to the CUDA backend");
    }

    private static CudaTensor act(Tensor x, String op) {
        CudaTensor c = t(x, op);
        if (c.weight) throw new IllegalArgumentException(op + ": expects an activation, got a weight");
        return c;
    }

    private static CudaTensor bf16(Tensor x, String op) {
        CudaTensor c = t(x, op);
        if (c.dtype != CudaTensor.Dtype.BF16) throw new IllegalArgumentException(op + ": expects bf16, got " + c);
        return c;
    }

    private CudaTensor newTensor(int rows, int cols, CudaTensor.Dtype dtype, boolean zero) {
        if (rows < 0 || cols < 0) throw new IllegalArgumentException("allocate: negative shape " + rows + "x" + cols);
        long bytes = (long) rows * cols * dtype.bytes;
        DevicePool.Buffer b = pool.take(bytes);
        CudaTensor t = new CudaTensor(rows, cols, dtype, b.ptr, 0, b, false);
        if (zero && bytes > 0) dev.zero(t.ptr(), bytes);
        return t;
    }

    private DevicePool.Buffer temp(long bytes) {
        return pool.take(bytes);
    }

    private static void release(DevicePool.Buffer b) {
        if (b != null) b.pool.give(b);
    }

    private CudaDevice.DevPtr weightAlloc(long bytes, String what) {
        CudaDevice.DevPtr p = dev.alloc(bytes, what);
        weights.add(p);
        weightBytes += bytes;
        return p;
    }

    // ---- memory -------------------------------------------------------------------------------------------

    @Override
    public synchronized Tensor weight(TensorView view) {
        dev.makeCurrent();
        int r = view.shape().length <= 1 ? 1 : view.rows();
        long numel = view.numel();
        if (numel % r != 0 || numel / r > Integer.MAX_VALUE) throw new IllegalArgumentException("tensor " + view.name() + ": shape too large");
        int c = (int) (numel / r);
        CudaDevice.DevPtr p = weightAlloc(numel * 2, "weight " + view.name());
        switch (view.dtype()) {
            case BF16 -> uploadSegment(p, view.data(), numel * 2);
            case F16 -> {
                DevicePool.Buffer tmp = temp(numel * 2);
                uploadSegment(tmp.ptr, view.data(), numel * 2);
                elementwise.f16ToBf16(p.address(), tmp.address, numel);
                release(tmp);
            }
            case F32 -> {
                DevicePool.Buffer tmp = temp(numel * 4);
                uploadSegment(tmp.ptr, view.data(), numel * 4);
                elementwise.f32ToBf16(p.address(), tmp.address, numel);
                release(tmp);
            }
            default -> throw new IllegalArgumentException("tensor " + view.name() + ": unsupported weight dtype " + view.dtype());
        }
        return new CudaTensor(r, c, CudaTensor.Dtype.BF16, p, 0, null, true);
    }

    /** Copies a host segment (an mmap slice) to the device in chunks below the 2 GB ByteBuffer limit. */
    private void uploadSegment(CudaDevice.DevPtr dst, MemorySegment src, long bytes) {
        if (src.byteSize() < bytes) throw new IllegalArgumentException("host data of " + src.byteSize() + " bytes, need " + bytes);
        final long chunk = 1L << 30;
        for (long off = 0; off < bytes; off += chunk) {
            long n = Math.min(chunk, bytes - off);
            dev.upload(dst.withByteOffset(off), Pointer.to(src.asSlice(off, n).asByteBuffer()), n);
        }
    }

    @Override
    public synchronized Tensor allocate(int rows, int cols) {
        dev.makeCurrent();
        return newTensor(rows, cols, CudaTensor.Dtype.BF16, true);
    }

    /** Logits stay float32 so sampling and log-probabilities see full precision. */
    @Override
    public synchronized Tensor allocateLogits(int rows, int cols) {
        dev.makeCurrent();
        return newTensor(rows, cols, CudaTensor.Dtype.F32, true);
    }

    @Override
    public synchronized Tensor upload(float[] data, int rows, int cols) {
        if (data.length != (long) rows * cols) throw new IllegalArgumentException("upload: " + data.length + " != " + rows + "x" + cols);
        dev.makeCurrent();
        DevicePool.Buffer tmp = temp(data.length * 4L);
        dev.upload(tmp.ptr, Pointer.to(data), data.length * 4L);
        CudaTensor out = newTensor(rows, cols, CudaTensor.Dtype.BF16, false);
        elementwise.f32ToBf16(out.address(), tmp.address, data.length);
        release(tmp);
        return out;
    }

    /** bf16 embeddings go up as they are (half the bytes, no host or device conversion); f32 ones as {@link #upload}. */
    @Override
    public synchronized Tensor upload(ImageEmbeddings e) {
        if (e.dtype() != ImageEmbeddings.Dtype.BF16) return upload(e.toF32(), e.rows(), e.width());
        dev.makeCurrent();
        CudaTensor out = newTensor(e.rows(), e.width(), CudaTensor.Dtype.BF16, false);
        dev.upload(out.ptr(), Pointer.to(e.toBf16()), e.byteSize());
        return out;
    }

    /** A bf16 activation comes back as its bf16 bits: half the bytes, and no float32 anywhere. */
    @Override
    public synchronized ImageEmbeddings downloadEmbeddings(Tensor x) {
        dev.makeCurrent();
        CudaTensor t = t(x, "downloadEmbeddings");
        if (t.dtype != CudaTensor.Dtype.BF16) return ImageEmbeddings.f32(download(x), t.rows, t.cols);
        short[] out = new short[Math.toIntExact((long) t.rows * t.cols)];
        dev.download(Pointer.to(out), t.ptr(), out.length * 2L);
        return ImageEmbeddings.bf16(out, t.rows, t.cols);
    }

    @Override
    public synchronized float[] download(Tensor x) {
        dev.makeCurrent();
        CudaTensor t = t(x, "download");
        long n = (long) t.rows * t.cols;
        if (n > Integer.MAX_VALUE) throw new IllegalArgumentException("download: " + t + " is too large for a float[]");
        float[] out = new float[(int) n];
        if (n == 0) return out;
        if (t.dtype == CudaTensor.Dtype.F32) {
            dev.download(Pointer.to(out), t.ptr(), n * 4);
        } else {
            DevicePool.Buffer tmp = temp(n * 4);
            elementwise.bf16ToF32(tmp.address, t.address(), n);
            dev.download(Pointer.to(out), tmp.ptr, n * 4);
            release(tmp);
        }
        return out;
    }

    /**
     * The pixels go up as bf16 (what the patch embedding reads anyway): rounded on the host by several threads into
     * page-locked memory, copied in one transfer of half the bytes; the patch rows are made on the device.
     */
    @Override
    public synchronized Tensor uploadPatches(float[][] images, int channels, int size, int patch) {
        dev.makeCurrent();
        int per = channels * size * size, side = size / patch;
        for (float[] img : images) {
            if (img.length != per) throw new IllegalArgumentException("pixel values: expected " + channels + "x" + size + "x" + size + " floats, got " + img.length);
        }
        CudaTensor out = newTensor(images.length * side * side, channels * patch * patch, CudaTensor.Dtype.BF16, false);
        if (images.length == 0) return out;
        long bytes = (long) images.length * per * 2;
        MemorySegment host = pixelStaging.stage(bytes);
        java.util.stream.IntStream.range(0, images.length * 8).parallel().forEach(part -> {
            int b = part / 8, from = (int) ((long) per * (part % 8) / 8), to = (int) ((long) per * (part % 8 + 1) / 8);
            float[] img = images[b];
            long at = ((long) b * per + from) * 2;
            for (int i = from; i < to; i++, at += 2) host.set(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, at, bf16Bits(img[i]));
        });
        DevicePool.Buffer px = temp(bytes);
        pixelStaging.upload(px.ptr, bytes);
        rows.patchify(out.address(), px.address, images.length, channels, size, patch);
        release(px);
        return out;
    }

    /** float32 -> bf16 bits, round to nearest even (as __float2bfloat16). */
    private static short bf16Bits(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7fffffff) > 0x7f800000) return (short) 0x7fc0; // NaN
        bits += 0x7fff + ((bits >>> 16) & 1);
        return (short) (bits >>> 16);
    }

    @Override
    public synchronized Tensor randomWeight(int rows, int cols, long seed, float mean, float std) {
        dev.makeCurrent();
        long n = (long) rows * cols;
        CudaDevice.DevPtr p = weightAlloc(n * 2, "random weight " + rows + "x" + cols);
        elementwise.randomNormal(p.address(), n, seed, mean, std);
        return new CudaTensor(rows, cols, CudaTensor.Dtype.BF16, p, 0, null, true);
    }

    @Override
    public Tensor rowSlice(Tensor x, int start, int count) {
        CudaTensor t = act(x, "rowSlice");
        if (start < 0 || count < 0 || start + count > t.rows) throw new IndexOutOfBoundsException("rowSlice " + start + "+" + count + " of " + t.rows);
        return new CudaTensor(count, t.cols, t.dtype, t.base, t.offset + (long) start * t.cols * t.dtype.bytes, null, false);
    }

    @Override
    public synchronized void free(Tensor x) {
        CudaTensor t = t(x, "free");
        if (t.pooled == null) return; // weights (freed on close), row slices, a decode graph's logits
        if (t.freed) throw new IllegalStateException("free: " + t + " was already freed");
        t.freed = true;
        release(t.pooled);
    }

    // ---- dense ops ----------------------------------------------------------------------------------------

    @Override
    public synchronized void linear(Tensor out, Tensor x, Tensor w, Tensor bias) {
        dev.makeCurrent();
        CudaTensor o = act(out, "linear out"), in = bf16(act(x, "linear x"), "linear x"), wt = bf16(w, "linear w");
        int n = in.rows, k = in.cols, m = wt.rows;
        if (wt.cols != k || o.rows != n || o.cols != m) {
            throw new IllegalArgumentException("linear: x " + n + "x" + k + ", w " + m + "x" + wt.cols + ", out " + o.rows + "x" + o.cols);
        }
        CudaTensor b = bias == null ? null : bf16(bias, "linear bias");
        if (b != null && (long) b.rows * b.cols != m) throw new IllegalArgumentException("linear: bias of " + b.rows * b.cols + " for " + m + " outputs");
        boolean f32 = o.dtype == CudaTensor.Dtype.F32;
        if (n == 0) return;
        if (GemvKernels.fits(n, k, in.address(), wt.address())) {
            gemv.gemv(o.address(), f32, in.address(), wt.address(), b == null ? 0 : b.address(), n, m, k);
            return;
        }
        if (f32 && b != null) throw new IllegalArgumentException("linear: a bias with float32 output needs n <= 8");
        // Row-major out(n, m) = x w^T is column-major out^T(m, n) = w^T(as k x m)^T . x^T(k x n).
        blas.gemm(Cublas.OP_T, Cublas.OP_N, m, n, k, 1f, wt.address(), k, in.address(), k, 0f, o.address(), f32 ? Cublas.R_32F : Cublas.R_16BF, m);
        if (b != null) elementwise.biasAdd(o.address(), b.address(), (long) n * m, m);
    }

    /** q, k and v (or any up to three projections of one input) in one GEMV launch for decode batches. */
    @Override
    public synchronized void linears(Tensor x, Tensor[] ws, Tensor[] outs) {
        dev.makeCurrent();
        if (ws.length != outs.length) throw new IllegalArgumentException("linears: " + ws.length + " weights for " + outs.length + " outputs");
        CudaTensor in = bf16(act(x, "linears x"), "linears x");
        int n = in.rows, k = in.cols;
        boolean fused = ws.length <= 3 && n >= 1;
        long[] addr = new long[ws.length + 1];
        addr[0] = in.address();
        for (int i = 0; i < ws.length && fused; i++) {
            CudaTensor w = bf16(ws[i], "linears w"), o = t(outs[i], "linears out");
            if (w.cols != k || o.rows != n || o.cols != w.rows) {
                throw new IllegalArgumentException("linears: x " + n + "x" + k + ", w " + w.rows + "x" + w.cols + ", out " + o.rows + "x" + o.cols);
            }
            fused = o.dtype == CudaTensor.Dtype.BF16 && !o.weight;
            addr[i + 1] = w.address();
        }
        if (!fused || !GemvKernels.fits(n, k, addr)) {
            for (int i = 0; i < ws.length; i++) linear(outs[i], x, ws[i], null);
            return;
        }
        long[] o = new long[3], w = new long[3];
        int[] m = new int[3];
        for (int i = 0; i < ws.length; i++) {
            o[i] = t(outs[i], "linears").address();
            w[i] = t(ws[i], "linears").address();
            m[i] = ws[i].rows();
        }
        gemv.gemv3(o[0], w[0], m[0], o[1], w[1], m[1], o[2], w[2], m[2], in.address(), n, k);
    }

    /** silu(x gate^T) * (x up^T) in one GEMV launch for decode batches; cuBLAS + silu_mul otherwise. */
    @Override
    public synchronized void gateUpSilu(Tensor out, Tensor up, Tensor x, Tensor gateW, Tensor upW) {
        dev.makeCurrent();
        CudaTensor o = bf16(act(out, "gateUpSilu out"), "gateUpSilu out"), in = bf16(act(x, "gateUpSilu x"), "gateUpSilu x");
        CudaTensor g = bf16(gateW, "gateUpSilu gate"), u = bf16(upW, "gateUpSilu up");
        int n = in.rows, k = in.cols, m = g.rows;
        if (g.cols != k || u.cols != k || u.rows != m || o.rows != n || o.cols != m) {
            throw new IllegalArgumentException("gateUpSilu: x " + n + "x" + k + ", gate " + m + "x" + g.cols + ", up " + u.rows + "x" + u.cols
                    + ", out " + o.rows + "x" + o.cols);
        }
        if (GemvKernels.fits(n, k, in.address(), g.address(), u.address())) {
            gemv.swiglu(o.address(), in.address(), g.address(), u.address(), n, m, k);
            return;
        }
        linear(out, x, gateW, null);
        linear(up, x, upW, null);
        siluMul(out, out, up);
    }

    private static long numel(CudaTensor t) {
        return (long) t.rows * t.cols;
    }

    @Override
    public synchronized void add(Tensor out, Tensor a, Tensor b) {
        dev.makeCurrent();
        CudaTensor o = bf16(act(out, "add"), "add"), x = bf16(act(a, "add"), "add"), y = bf16(act(b, "add"), "add");
        if (numel(o) != numel(x) || numel(o) != numel(y)) throw new IllegalArgumentException("add: " + o + " = " + x + " + " + y);
        elementwise.add(o.address(), x.address(), y.address(), numel(o));
    }

    @Override
    public synchronized void addRows(Tensor x, Tensor table) {
        dev.makeCurrent();
        CudaTensor o = bf16(act(x, "addRows"), "addRows"), t = bf16(table, "addRows table");
        if (t.cols != o.cols || t.rows < o.rows) throw new IllegalArgumentException("addRows: " + o + " += rows of " + t);
        elementwise.add(o.address(), o.address(), t.address(), numel(o));
    }

    @Override
    public synchronized void scatterRows(Tensor dst, Tensor src, int[] dstRows) {
        dev.makeCurrent();
        CudaTensor d = bf16(act(dst, "scatterRows"), "scatterRows"), s = bf16(act(src, "scatterRows"), "scatterRows");
        if (s.rows != dstRows.length || s.cols != d.cols) {
            throw new IllegalArgumentException("scatterRows: " + s.rows + "x" + s.cols + " into " + dstRows.length + " rows of width " + d.cols);
        }
        for (int r : dstRows) if (r < 0 || r >= d.rows) throw new IndexOutOfBoundsException("scatterRows: row " + r + " of " + d.rows);
        if (dstRows.length == 0) return;
        DevicePool.Buffer idx = temp(dstRows.length * 4L);
        dev.upload(idx.ptr, Pointer.to(dstRows), dstRows.length * 4L);
        rows.scatter(d.address(), s.address(), idx.address, dstRows.length, d.cols);
        release(idx);
    }

    @Override
    public synchronized void copyRows(Tensor dst, int dstStart, Tensor src, int srcStart, int count) {
        dev.makeCurrent();
        CudaTensor d = bf16(act(dst, "copyRows"), "copyRows"), s = bf16(src, "copyRows");
        if (d.cols != s.cols || dstStart < 0 || srcStart < 0 || count < 0 || dstStart + count > d.rows || srcStart + count > s.rows) {
            throw new IllegalArgumentException("copyRows: rows " + srcStart + "+" + count + " of " + s + " to row " + dstStart + " of " + d);
        }
        if (count == 0) return;
        long row = (long) d.cols * 2;
        dev.copy(d.base.withByteOffset(d.offset + dstStart * row), s.base.withByteOffset(s.offset + srcStart * row), count * row);
    }

    @Override
    public synchronized void layerNorm(Tensor out, Tensor x, Tensor gamma, Tensor beta, float eps) {
        dev.makeCurrent();
        CudaTensor o = bf16(act(out, "layerNorm"), "layerNorm"), in = bf16(act(x, "layerNorm"), "layerNorm");
        CudaTensor g = bf16(gamma, "layerNorm gamma"), b = bf16(beta, "layerNorm beta");
        if (numel(g) != in.cols || numel(b) != in.cols || numel(o) != numel(in)) throw new IllegalArgumentException("layerNorm: " + in + " with gamma " + g);
        norms.layerNorm(o.address(), in.address(), g.address(), b.address(), in.rows, in.cols, eps);
    }

    @Override
    public synchronized void rmsNorm(Tensor out, Tensor x, Tensor gamma, float eps) {
        dev.makeCurrent();
        CudaTensor o = bf16(act(out, "rmsNorm"), "rmsNorm"), in = bf16(act(x, "rmsNorm"), "rmsNorm"), g = bf16(gamma, "rmsNorm gamma");
        int group = (int) numel(g);
        if (numel(in) % group != 0 || numel(o) != numel(in)) throw new IllegalArgumentException("rmsNorm: " + in + " in groups of " + group);
        if (numel(in) == 0) return;
        norms.rmsNorm(o.address(), in.address(), g.address(), numel(in) / group, group, eps);
    }

    @Override
    public synchronized void addRmsNorm(Tensor residual, Tensor out, Tensor x, Tensor gamma, float eps) {
        dev.makeCurrent();
        CudaTensor r = bf16(act(residual, "addRmsNorm"), "addRmsNorm"), o = bf16(act(out, "addRmsNorm"), "addRmsNorm");
        CudaTensor in = bf16(act(x, "addRmsNorm"), "addRmsNorm"), g = bf16(gamma, "addRmsNorm gamma");
        if (numel(g) != r.cols || numel(in) != numel(r) || numel(o) != numel(r)) throw new IllegalArgumentException("addRmsNorm: " + r + ", " + in + ", gamma " + g);
        if (r.rows == 0) return;
        norms.addRmsNorm(r.address(), o.address(), in.address(), g.address(), r.rows, r.cols, eps);
    }

    @Override
    public synchronized void quickGelu(Tensor x) {
        dev.makeCurrent();
        CudaTensor t = bf16(act(x, "quickGelu"), "quickGelu");
        elementwise.quickGelu(t.address(), numel(t));
    }

    @Override
    public synchronized void gelu(Tensor x) {
        dev.makeCurrent();
        CudaTensor t = bf16(act(x, "gelu"), "gelu");
        elementwise.gelu(t.address(), numel(t));
    }

    @Override
    public synchronized void siluMul(Tensor out, Tensor gate, Tensor up) {
        dev.makeCurrent();
        CudaTensor o = bf16(act(out, "siluMul"), "siluMul"), g = bf16(act(gate, "siluMul"), "siluMul"), u = bf16(act(up, "siluMul"), "siluMul");
        if (numel(o) != numel(g) || numel(o) != numel(u)) throw new IllegalArgumentException("siluMul: " + o + " = silu(" + g + ") * " + u);
        elementwise.siluMul(o.address(), g.address(), u.address(), numel(o));
    }

    /**
     * CLIP's bidirectional attention: the tensor-core flash kernel for head sizes 16 to 128; otherwise two batched
     * cuBLAS products (S = K Q^T scaled, then O = V P^T in column-major terms) around a float32 row softmax, over
     * every (image, head) at once.
     */
    @Override
    public synchronized void attention(Tensor out, Tensor q, Tensor k, Tensor v, int batch, int seqLen, int numHeads, int headDim) {
        dev.makeCurrent();
        CudaTensor o = bf16(act(out, "attention"), "attention"), Q = bf16(act(q, "attention"), "attention");
        CudaTensor K = bf16(act(k, "attention"), "attention"), V = bf16(act(v, "attention"), "attention");
        int width = numHeads * headDim;
        for (CudaTensor x : new CudaTensor[] {o, Q, K, V}) {
            if (x.cols != width || x.rows != batch * seqLen) {
                throw new IllegalArgumentException("attention: " + x + " for " + batch + " x " + seqLen + " rows of " + numHeads + " x " + headDim);
            }
        }
        if (AttentionKernels.flashFits(headDim) && ElementwiseKernels.vec(o.address(), Q.address(), K.address(), V.address()) == 1) {
            attention.denseFlash(o.address(), Q.address(), K.address(), V.address(), batch, seqLen, numHeads, headDim);
            return;
        }
        int ld = (seqLen + 7) / 8 * 8;
        int count = batch * numHeads;
        long scores = (long) count * seqLen * ld;
        DevicePool.Buffer s = temp(scores * 4), p = temp(scores * 2), ptrs = temp(6L * count * 8);
        attention.denseAttnPtrs(ptrs.address, Q.address(), K.address(), V.address(), s.address, p.address, o.address(), batch, numHeads, seqLen,
                headDim, ld);
        long a = ptrs.address, stride = 8L * count;
        float scale = (float) (1.0 / Math.sqrt(headDim));
        blas.gemmBatched(Cublas.OP_T, Cublas.OP_N, seqLen, seqLen, headDim, scale, a, Cublas.R_16BF, width, a + stride, width,
                0f, a + 2 * stride, Cublas.R_32F, ld, count);
        attention.softmaxRows(p.address, s.address, seqLen, ld, (long) count * seqLen);
        blas.gemmBatched(Cublas.OP_N, Cublas.OP_N, headDim, seqLen, seqLen, 1f, a + 3 * stride, Cublas.R_16BF, width, a + 4 * stride, ld,
                0f, a + 5 * stride, Cublas.R_16BF, width, count);
        release(ptrs);
        release(p);
        release(s);
    }

    // ---- decoder step ops ---------------------------------------------------------------------------------

    private static CudaStep step(StepBatch s) {
        if (s instanceof CudaStep c) return c;
        throw new IllegalArgumentException("step batch " + s + " was not prepared by the CUDA backend");
    }

    private static CudaKvCache cache(KvCache c) {
        if (c instanceof CudaKvCache k) {
            if (k.closed) throw new IllegalStateException("KV cache is closed");
            return k;
        }
        throw new IllegalArgumentException("KV cache " + c + " was not allocated by the CUDA backend");
    }

    private static int maxTable(BatchLayout l) {
        int m = 1;
        for (int[] t : l.blockTables()) m = Math.max(m, t.length);
        return m;
    }

    /** A step stays valid until {@value #KEEP_STEPS} more are prepared (its buffers then return to the pool). */
    @Override
    public synchronized StepBatch prepare(BatchLayout layout) {
        dev.makeCurrent();
        CudaStep s = new CudaStep(dev, pool, layout, maxTable(layout), false);
        if (!capturing) {
            recentSteps.addLast(s);
            while (recentSteps.size() > KEEP_STEPS) recentSteps.removeFirst().release();
        }
        return s;
    }

    @Override
    public synchronized void embed(Tensor out, Tensor table, StepBatch step) {
        dev.makeCurrent();
        CudaTensor o = bf16(act(out, "embed"), "embed"), t = bf16(table, "embed table");
        CudaStep s = step(step);
        int[] ids = s.layout.tokenIds();
        for (int id : ids) if (id < 0 || id >= t.rows) throw new IllegalArgumentException("token id " + id + " outside the vocabulary of " + t.rows);
        if (o.rows != ids.length || o.cols != t.cols) throw new IllegalArgumentException("embed: " + o + " for " + ids.length + " ids of " + t);
        s.vocab = t.rows;
        if (ids.length > 0) rows.embed(o.address(), t.address(), s.tokenIds, ids.length, t.cols);
    }

    /** RoPE's inverse frequencies, uploaded once per (theta, head_dim). */
    private long invFreq(float theta, int headDim) {
        return invFreqTables.computeIfAbsent(theta + "/" + headDim, k -> {
            float[] f = RopeKernels.invFreq(theta, headDim);
            CudaDevice.DevPtr p = weightAlloc(f.length * 4L, "RoPE inv_freq");
            dev.upload(p, Pointer.to(f), f.length * 4L);
            return p.address();
        });
    }

    @Override
    public synchronized void rope(Tensor x, int headDim, float theta, StepBatch step) {
        dev.makeCurrent();
        CudaTensor t = bf16(act(x, "rope"), "rope");
        CudaStep s = step(step);
        if (t.cols % headDim != 0 || t.rows != s.layout.numTokens()) throw new IllegalArgumentException("rope: " + t + " with head_dim " + headDim);
        if (t.rows > 0) ropes.rope(t.address(), s.positions, invFreq(theta, headDim), t.rows, t.cols / headDim, headDim);
    }

    @Override
    public synchronized KvCache allocateKvCache(KvCacheSpec spec) {
        dev.makeCurrent();
        long perLayer = (long) spec.numSlots() * spec.numKvHeads() * spec.headDim() * 2;
        CudaDevice.DevPtr k = dev.alloc(perLayer * spec.numLayers(), "KV cache K");
        CudaDevice.DevPtr v;
        try {
            v = dev.alloc(perLayer * spec.numLayers(), "KV cache V");
        } catch (CudaException e) {
            dev.free(k);
            throw e;
        }
        return new CudaKvCache(this, spec, k, v, perLayer);
    }

    private synchronized void releaseCache(CudaKvCache c) {
        if (closed) return;
        dev.makeCurrent();
        // Graphs recorded over this cache can never replay again.
        for (Iterator<Map.Entry<GraphKey, DecodeGraph>> it = decodeGraphs.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<GraphKey, DecodeGraph> e = it.next();
            if (e.getKey().owner() instanceof List<?> l && l.contains(c)) {
                destroy(e.getValue());
                it.remove();
            }
        }
        dev.synchronize();
        dev.free(c.k);
        dev.free(c.v);
    }

    private void checkKv(CudaKvCache c, int layer, int width) {
        if (layer < 0 || layer >= c.spec.numLayers()) throw new IndexOutOfBoundsException("KV cache layer " + layer + " of " + c.spec.numLayers());
        if (width != c.spec.numKvHeads() * c.spec.headDim()) {
            throw new IllegalArgumentException("KV width " + width + " does not match the cache's " + c.spec.numKvHeads() + " x " + c.spec.headDim());
        }
    }

    @Override
    public synchronized void writeKv(KvCache cache, int layer, Tensor k, Tensor v, StepBatch step) {
        dev.makeCurrent();
        CudaKvCache c = cache(cache);
        CudaTensor K = bf16(act(k, "writeKv"), "writeKv"), V = bf16(act(v, "writeKv"), "writeKv");
        CudaStep s = step(step);
        checkKv(c, layer, K.cols);
        if (K.rows > 0) rows.writeKv(c.k(layer), c.v(layer), K.address(), V.address(), s.slots, K.rows, K.cols);
    }

    /** q/k RMSNorm per head, RoPE and the K/V write in one launch. */
    @Override
    public synchronized void qkNormRopeWriteKv(Tensor q, Tensor k, Tensor v, Tensor qNorm, Tensor kNorm, float eps, int headDim, float theta,
                                               KvCache cache, int layer, StepBatch step) {
        dev.makeCurrent();
        CudaKvCache c = cache(cache);
        CudaTensor Q = bf16(act(q, "qkNormRope"), "qkNormRope"), K = bf16(act(k, "qkNormRope"), "qkNormRope"), V = bf16(act(v, "qkNormRope"), "qkNormRope");
        CudaTensor qn = bf16(qNorm, "q_norm"), kn = bf16(kNorm, "k_norm");
        CudaStep s = step(step);
        checkKv(c, layer, K.cols);
        if (numel(qn) != headDim || numel(kn) != headDim || Q.cols % headDim != 0 || K.cols != V.cols || Q.rows != K.rows || K.rows != V.rows) {
            throw new IllegalArgumentException("qkNormRopeWriteKv: q " + Q + ", k " + K + ", v " + V + ", head_dim " + headDim);
        }
        if (Q.rows == 0) return;
        ropes.qkNormRopeKv(Q.address(), K.address(), V.address(), qn.address(), kn.address(), s.positions, s.slots, c.k(layer), c.v(layer),
                invFreq(theta, headDim), Q.rows, Q.cols / headDim, K.cols / headDim, headDim, eps);
    }

    @Override
    public synchronized void pagedAttention(Tensor out, Tensor q, KvCache cache, int layer, StepBatch step, int numHeads, int numKvHeads,
                                            int headDim) {
        dev.makeCurrent();
        CudaKvCache c = cache(cache);
        CudaTensor o = bf16(act(out, "pagedAttention"), "pagedAttention"), Q = bf16(act(q, "pagedAttention"), "pagedAttention");
        CudaStep s = step(step);
        checkKv(c, layer, numKvHeads * headDim);
        AttentionKernels.checkShape(numHeads, numKvHeads, headDim);
        if (Q.cols != numHeads * headDim || o.cols != Q.cols || Q.rows != s.layout.numTokens() || o.rows != Q.rows) {
            throw new IllegalArgumentException("pagedAttention: q " + Q + ", out " + o + " for " + numHeads + " heads of " + headDim);
        }
        int numSeqs = s.layout.numSeqs();
        if (Q.rows == 0) return;
        if (s.decode) {
            int splits = s.decodeSplits(numSeqs, numKvHeads, dev.multiprocessors);
            DevicePool.Buffer partO = null, partML = null;
            long counters = 0;
            if (splits > 1) {
                partO = temp((long) numSeqs * numHeads * splits * headDim * 4);
                partML = temp((long) numSeqs * numHeads * splits * 2 * 4);
                counters = s.counters(numSeqs * numKvHeads);
            }
            attention.decode(o.address(), Q.address(), c.k(layer), c.v(layer), s.contextLens, s.tables, s.tableStride,
                    partO == null ? 0 : partO.address, partML == null ? 0 : partML.address, counters, numSeqs, numHeads, numKvHeads, headDim,
                    c.spec.blockSize(), splits);
            release(partML);
            release(partO);
        } else {
            attention.prefill(o.address(), Q.address(), c.k(layer), c.v(layer), s.tileSeq, s.tileRow, s.queryStart, s.positions, s.tables,
                    s.tableStride, s.numTiles, numHeads, numKvHeads, headDim, c.spec.blockSize());
        }
    }

    @Override
    public synchronized void gatherLogitRows(Tensor out, Tensor x, StepBatch step) {
        dev.makeCurrent();
        CudaTensor o = bf16(act(out, "gatherLogitRows"), "gatherLogitRows"), in = bf16(act(x, "gatherLogitRows"), "gatherLogitRows");
        CudaStep s = step(step);
        int n = s.layout.logitRows().length;
        if (o.rows != n || o.cols != in.cols) throw new IllegalArgumentException("gatherLogitRows: " + o + " for " + n + " rows of " + in);
        if (n > 0) rows.gather(o.address(), in.address(), s.logitRows, n, in.cols);
    }

    /** Greedy ids on the device: 4 bytes per row come back instead of the logits. */
    @Override
    public synchronized int[] argmax(Tensor logits) {
        dev.makeCurrent();
        CudaTensor l = act(logits, "argmax");
        int[] ids = new int[l.rows];
        if (l.rows == 0) return ids;
        DevicePool.Buffer out = temp(l.rows * 4L);
        sampling.argmax(out.address, l.address(), l.dtype == CudaTensor.Dtype.F32, l.rows, l.cols);
        dev.download(Pointer.to(ids), out.ptr, l.rows * 4L);
        release(out);
        return ids;
    }

    /**
     * Every parameter sampled on the device (sample.cu's sample_full_f32): only ids and the requested log-probs come
     * back, 168 bytes a row. The logits must be float32 ({@link #allocateLogits}); the penalty overwrites them.
     */
    @Override
    public synchronized SampledToken[] sample(Tensor logits, SamplingRow[] rows) {
        dev.makeCurrent();
        CudaTensor l = act(logits, "sample");
        if (l.dtype != CudaTensor.Dtype.F32) throw new IllegalArgumentException("sample: expects float32 logits, got " + l);
        if (l.rows != rows.length) throw new IllegalArgumentException("sample: " + rows.length + " rows of parameters for " + l);
        if (rows.length == 0) return new SampledToken[0];
        int[] hist = new int[Math.max(1, SampleKernels.historyLength(rows))];
        int[] params = SampleKernels.pack(rows, l.cols, hist);
        int[] out = new int[rows.length * SampleKernels.OUT_WORDS];
        DevicePool.Buffer p = temp(params.length * 4L), h = temp(hist.length * 4L), scratch = temp(hist.length * 4L), o = temp(out.length * 4L);
        try {
            dev.upload(p.ptr, Pointer.to(params), params.length * 4L);
            dev.upload(h.ptr, Pointer.to(hist), hist.length * 4L);
            sampling.sampleFull(o.address, l.address(), rows.length, l.cols, p.address, h.address, scratch.address);
            dev.download(Pointer.to(out), o.ptr, out.length * 4L);
        } finally {
            release(o);
            release(scratch);
            release(h);
            release(p);
        }
        return SampleKernels.unpack(out, rows);
    }

    // ---- decode graphs ------------------------------------------------------------------------------------

    private static boolean pureDecode(BatchLayout l) {
        int s = l.numSeqs();
        if (l.numTokens() != s || l.logitRows().length != s) return false;
        for (int i = 0; i < s; i++) if (l.queryStart()[i] != i || l.logitRows()[i] != i) return false;
        return l.queryStart()[s] == s;
    }

    private static int bucket(int numSeqs) {
        for (int b : BUCKETS) if (b >= numSeqs) return b;
        throw new IllegalArgumentException("no graph bucket for " + numSeqs);
    }

    /** The layout padded to the bucket: padding rows read token 0 at position 0, write no KV and see no context. */
    private static BatchLayout pad(BatchLayout l, int bucket) {
        int s = l.numSeqs();
        int[] ids = new int[bucket], pos = new int[bucket], slots = new int[bucket], qs = new int[bucket + 1], ctx = new int[bucket], rows = new int[bucket];
        int[][] tables = new int[bucket][];
        for (int i = 0; i < bucket; i++) {
            boolean real = i < s;
            ids[i] = real ? l.tokenIds()[i] : 0;
            pos[i] = real ? l.positions()[i] : 0;
            slots[i] = real ? l.slotMapping()[i] : -1;
            ctx[i] = real ? l.contextLens()[i] : 0;
            tables[i] = real ? l.blockTables()[i] : new int[0];
            qs[i] = i;
            rows[i] = i;
        }
        qs[bucket] = bucket;
        return new BatchLayout(ids, pos, slots, qs, ctx, tables, rows);
    }

    /**
     * Pure decode steps (one token per sequence, every sequence sampled) of up to {@value #MAX_GRAPH_BATCH} sequences
     * are recorded once per (owner, padded batch size, block-table width) and replayed. Recording runs the body
     * twice: once eagerly (loading kernels, choosing cuBLAS algorithms and filling the graph's own memory pool), once
     * under stream capture. The returned logits belong to the graph: valid until its next replay; free is a no-op.
     */
    @Override
    public synchronized Tensor decodeStep(BatchLayout layout, Object owner, Function<StepBatch, Tensor> body) {
        dev.makeCurrent();
        int s = layout.numSeqs();
        if (!graphs || capturing || s == 0 || s > MAX_GRAPH_BATCH || !pureDecode(layout)) return body.apply(prepare(layout));
        int b = bucket(s);
        int width = Integer.highestOneBit(Math.max(1, maxTable(layout)) * 2 - 1);
        GraphKey key = new GraphKey(owner, b, width);
        BatchLayout padded = pad(layout, b);
        DecodeGraph g = decodeGraphs.get(key);
        if (g == null) {
            g = record(padded, width, body);
            decodeGraphs.put(key, g);
        } else {
            for (int id : layout.tokenIds()) {
                if (id < 0 || id >= g.vocab) throw new IllegalArgumentException("token id " + id + " outside the vocabulary of " + g.vocab);
            }
            g.step.write(padded);
        }
        CudaDevice.check(cuGraphLaunch(g.exec, dev.stream), "cuGraphLaunch(decode batch " + b + ")");
        return rowSlice(g.logits, 0, s);
    }

    private DecodeGraph record(BatchLayout padded, int width, Function<StepBatch, Tensor> body) {
        DevicePool graphPool = new DevicePool(dev, "decode graph");
        DevicePool saved = pool;
        pool = graphPool;
        try {
            CudaStep step = new CudaStep(dev, graphPool, padded, width, true);
            free(body.apply(step));
            dev.synchronize();
            capturing = true;
            dev.capturing = true;
            CudaDevice.check(cuStreamBeginCapture(dev.stream, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_RELAXED), "cuStreamBeginCapture");
            Tensor out = null;
            CUgraph graph = new CUgraph();
            try {
                out = body.apply(step);
            } finally {
                int r = cuStreamEndCapture(dev.stream, graph);
                capturing = false;
                dev.capturing = false;
                if (out != null) CudaDevice.check(r, "cuStreamEndCapture");
            }
            CUgraphExec exec = new CUgraphExec();
            CudaDevice.check(cuGraphInstantiate(exec, graph, 0), "cuGraphInstantiate");
            CudaTensor logits = t(out, "decodeStep");
            return new DecodeGraph(step, graph, exec, graphPool, new CudaTensor(logits.rows, logits.cols, logits.dtype, logits.base, logits.offset,
                    null, false), step.vocab);
        } finally {
            pool = saved;
        }
    }

    private void destroy(DecodeGraph g) {
        cuGraphExecDestroy(g.exec);
        cuGraphDestroy(g.graph);
        dev.synchronize();
        g.pool.releaseAll();
    }

    /**
     * For benchmarks: records {@code ops} {@code reps} times into one CUDA graph and returns the mean milliseconds of
     * one repetition over replays, so that short kernels are timed without launch gaps. The ops must not read back.
     */
    public synchronized double timeRecorded(Runnable ops, int reps) {
        dev.makeCurrent();
        ops.run();
        dev.synchronize();
        CUgraph graph = new CUgraph();
        capturing = true;
        dev.capturing = true;
        CudaDevice.check(cuStreamBeginCapture(dev.stream, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_RELAXED), "cuStreamBeginCapture");
        try {
            for (int i = 0; i < reps; i++) ops.run();
        } finally {
            int r = cuStreamEndCapture(dev.stream, graph);
            capturing = false;
            dev.capturing = false;
            CudaDevice.check(r, "cuStreamEndCapture");
        }
        CUgraphExec exec = new CUgraphExec();
        CudaDevice.check(cuGraphInstantiate(exec, graph, 0), "cuGraphInstantiate");
        CudaDevice.check(cuGraphLaunch(exec, dev.stream), "cuGraphLaunch");
        dev.synchronize();
        int launches = 5;
        long t = System.nanoTime();
        for (int i = 0; i < launches; i++) CudaDevice.check(cuGraphLaunch(exec, dev.stream), "cuGraphLaunch");
        dev.synchronize();
        double ms = (System.nanoTime() - t) / 1e6 / launches / reps;
        cuGraphExecDestroy(exec);
        cuGraphDestroy(graph);
        return ms;
    }

    /** Decode graphs recorded so far (for reports). */
    public synchronized int recordedGraphs() {
        return decodeGraphs.size();
    }

    @Override
    public synchronized void synchronize() {
        dev.makeCurrent();
        dev.synchronize();
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        dev.makeCurrent();
        dev.synchronize();
        for (DecodeGraph g : decodeGraphs.values()) destroy(g);
        decodeGraphs.clear();
        recentSteps.clear();
        mainPool.releaseAll();
        for (CudaDevice.DevPtr p : weights) dev.free(p);
        weights.clear();
        blas.close();
        pixelStaging.close();
        closed = true;
        dev.close();
    }

    /** Loads the fatbin packaged beside this class. */
    static final class KernelImage {
        private KernelImage() {
        }

        static byte[] fatbin() {
            try (InputStream in = CudaBackend.class.getResourceAsStream("kernels.fatbin")) {
                if (in == null) throw new CudaException("kernels.fatbin is missing from the vqwen-cuda jar; run scripts/gpu/build-kernels.sh");
                return in.readAllBytes();
            } catch (IOException e) {
                throw new CudaException("cannot read kernels.fatbin: " + e.getMessage(), e);
            }
        }
    }
}
