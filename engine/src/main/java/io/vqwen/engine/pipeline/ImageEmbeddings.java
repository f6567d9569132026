package io.vqwen.engine.pipeline;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

/**
 * Image embeddings (or CLIP features) on the host: a (rows, width) row-major matrix in the dtype of the backend
 * that produced it, F32 on the CPU and BF16 on CUDA. It travels between hops as is, so the CPU path stays exact
 * and a bf16 matrix never takes a float32 detour on a host (the decoder uploads the bf16 bytes straight to the
 * device, {@code Backend.upload(ImageEmbeddings)}). Immutable: the arrays are never written after construction.
 */
public final class ImageEmbeddings {
    /** Storage dtype. */
    public enum Dtype {
        F32(4), BF16(2);

        public final int bytes;

        Dtype(int bytes) {
            this.bytes = bytes;
        }
    }

    private final int rows, width;
    private final Dtype dtype;
    private final float[] f32;   // (rows, width) when dtype == F32
    private final short[] bf16;  // (rows, width) bf16 bits when dtype == BF16

    private ImageEmbeddings(int rows, int width, Dtype dtype, float[] f32, short[] bf16) {
        if (rows <= 0 || width <= 0) throw new IllegalArgumentException("image embeddings must be (rows > 0, width > 0), got (" + rows + ", " + width + ")");
        long n = (long) rows * width, have = f32 != null ? f32.length : bf16.length;
        if (n != have) throw new IllegalArgumentException("image embeddings of " + have + " values are not (" + rows + ", " + width + ")");
        this.rows = rows;
        this.width = width;
        this.dtype = dtype;
        this.f32 = f32;
        this.bf16 = bf16;
    }

    /** Wraps (does not copy) a float32 matrix; the caller must not write it afterwards. */
    public static ImageEmbeddings f32(float[] data, int rows, int width) {
        return new ImageEmbeddings(rows, width, Dtype.F32, data, null);
    }

    /** Wraps (does not copy) bf16 bits; the caller must not write them afterwards. */
    public static ImageEmbeddings bf16(short[] bits, int rows, int width) {
        return new ImageEmbeddings(rows, width, Dtype.BF16, null, bits);
    }

    /** From little-endian bytes (the wire format): numel * dtype.bytes of them. */
    public static ImageEmbeddings fromLittleEndian(Dtype dtype, ByteBuffer data, int rows, int width) {
        long want = (long) rows * width * dtype.bytes;
        if (data.remaining() != want) {
            throw new IllegalArgumentException("(" + rows + ", " + width + ") in " + dtype + " needs " + want + " bytes, got " + data.remaining());
        }
        ByteBuffer le = data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        if (dtype == Dtype.F32) {
            float[] out = new float[rows * width];
            le.asFloatBuffer().get(out);
            return f32(out, rows, width);
        }
        short[] out = new short[rows * width];
        le.asShortBuffer().get(out);
        return bf16(out, rows, width);
    }

    public int rows() {
        return rows;
    }

    public int width() {
        return width;
    }

    public Dtype dtype() {
        return dtype;
    }

    public long byteSize() {
        return (long) rows * width * dtype.bytes;
    }

    /** The values as float32: the array itself for F32 (do not write it), an exact widening for BF16. */
    public float[] toF32() {
        if (f32 != null) return f32;
        float[] out = new float[bf16.length];
        for (int i = 0; i < out.length; i++) out[i] = Bf16.toFloat(bf16[i]);
        return out;
    }

    /** The bf16 bits: the array itself for BF16 (do not write it), rounded to nearest even for F32. */
    public short[] toBf16() {
        if (bf16 != null) return bf16;
        short[] out = new short[f32.length];
        for (int i = 0; i < out.length; i++) out[i] = Bf16.fromFloat(f32[i]);
        return out;
    }

    /** The same matrix in {@code to}: F32 -> BF16 rounds, BF16 -> F32 is exact. */
    public ImageEmbeddings as(Dtype to) {
        if (to == dtype) return this;
        return to == Dtype.F32 ? f32(toF32(), rows, width) : bf16(toBf16(), rows, width);
    }

    /** Little-endian bytes, numel * dtype.bytes of them (the wire format; a fresh buffer the caller may keep). */
    public ByteBuffer littleEndian() {
        ByteBuffer out = ByteBuffer.allocate((int) byteSize()).order(ByteOrder.LITTLE_ENDIAN);
        if (f32 != null) out.asFloatBuffer().put(f32);
        else out.asShortBuffer().put(bf16);
        return out;
    }

    /** Rows [start, start + count) as a new matrix (one image out of a batch). */
    public ImageEmbeddings slice(int start, int count) {
        if (start < 0 || count <= 0 || start + count > rows) throw new IndexOutOfBoundsException("rows [" + start + ", " + (start + count) + ") of " + rows);
        if (f32 != null) return f32(java.util.Arrays.copyOfRange(f32, start * width, (start + count) * width), count, width);
        return bf16(java.util.Arrays.copyOfRange(bf16, start * width, (start + count) * width), count, width);
    }

    /**
     * Row {@code srcRows[i]} of {@code sources.get(i)} as row i of one matrix (the decoder gathering a step's image
     * rows from several requests). BF16 when every source is BF16, else F32 (widening bf16 is exact).
     */
    public static ImageEmbeddings gather(List<ImageEmbeddings> sources, int[] srcRows) {
        if (sources.isEmpty() || sources.size() != srcRows.length) throw new IllegalArgumentException("gather: " + sources.size() + " sources for " + srcRows.length + " rows");
        int w = sources.getFirst().width;
        boolean allBf16 = true;
        for (ImageEmbeddings e : sources) {
            if (e.width != w) throw new IllegalArgumentException("gather: widths " + w + " and " + e.width + " differ");
            allBf16 &= e.dtype == Dtype.BF16;
        }
        int n = srcRows.length;
        if (allBf16) {
            short[] out = new short[n * w];
            for (int i = 0; i < n; i++) System.arraycopy(sources.get(i).bf16, srcRows[i] * w, out, i * w, w);
            return bf16(out, n, w);
        }
        float[] out = new float[n * w];
        for (int i = 0; i < n; i++) {
            ImageEmbeddings e = sources.get(i);
            if (e.f32 != null) System.arraycopy(e.f32, srcRows[i] * w, out, i * w, w);
            else for (int j = 0; j < w; j++) out[i * w + j] = Bf16.toFloat(e.bf16[srcRows[i] * w + j]);
        }
        return f32(out, n, w);
    }

    /** Several images' embeddings stacked in order (one request's images); one part is returned as is. */
    public static ImageEmbeddings concat(List<ImageEmbeddings> parts) {
        if (parts.size() == 1) return parts.getFirst();
        int total = 0;
        for (ImageEmbeddings p : parts) total += p.rows;
        int[] rows = new int[total];
        List<ImageEmbeddings> src = new java.util.ArrayList<>(total);
        int k = 0;
        for (ImageEmbeddings p : parts) {
            for (int r = 0; r < p.rows; r++, k++) {
                rows[k] = r;
                src.add(p);
            }
        }
        return gather(src, rows);
    }

    @Override
    public String toString() {
        return "ImageEmbeddings(" + rows + ", " + width + ", " + dtype + ")";
    }
}
