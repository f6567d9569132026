package io.vqwen.engine.image;

/**
 * Pillow's {@code Image.resize} on 8-bit interleaved images, bit for bit: the separable, antialiased convolution of
 * Pillow's {@code libImaging/Resample.c} (horizontal pass, then vertical pass, each rounding to uint8 with 22-bit
 * fixed-point coefficients), and the affine nearest-neighbour path of {@code Geometry.c} for {@link #NEAREST}.
 *
 * <p>Filter ids are Pillow's {@code Image.Resampling} values, which is what a {@code processor_config.json}
 * "resample" field holds.
 */
public final class PilResample {
    public static final int NEAREST = 0;
    public static final int LANCZOS = 1;
    public static final int BILINEAR = 2;
    public static final int BICUBIC = 3;
    public static final int BOX = 4;
    public static final int HAMMING = 5;

    /** Resample.c: 8 bits for the result, two for overflow of negative lobes and the int sign. */
    private static final int PRECISION_BITS = 32 - 8 - 2;

    private PilResample() {
    }

    /** A name for error messages. */
    public static String filterName(int filter) {
        return switch (filter) {
            case NEAREST -> "NEAREST";
            case LANCZOS -> "LANCZOS";
            case BILINEAR -> "BILINEAR";
            case BICUBIC -> "BICUBIC";
            case BOX -> "BOX";
            case HAMMING -> "HAMMING";
            default -> throw new IllegalArgumentException(
                    "unknown resample filter " + filter + " (Pillow knows 0 NEAREST, 1 LANCZOS, 2 BILINEAR, "
                            + "3 BICUBIC, 4 BOX, 5 HAMMING)");
        };
    }

    /**
     * Resizes {@code src} ({@code height * width * channels} bytes, row-major, channels interleaved) to
     * {@code outWidth x outHeight} as {@code Image.resize((outWidth, outHeight), filter)} does.
     */
    public static byte[] resize(byte[] src, int width, int height, int channels, int outWidth, int outHeight,
                                int filter) {
        filterName(filter);
        if (width <= 0 || height <= 0 || outWidth <= 0 || outHeight <= 0) {
            throw new IllegalArgumentException("cannot resize " + width + "x" + height + " to " + outWidth + "x"
                    + outHeight + ": sizes must be positive");
        }
        if (src.length != (long) width * height * channels) {
            throw new IllegalArgumentException("pixel buffer holds " + src.length + " bytes, a " + width + "x"
                    + height + "x" + channels + " image needs " + (long) width * height * channels);
        }
        if (width == outWidth && height == outHeight) {
            return src.clone(); // Image.resize returns a copy for the same size
        }
        if (filter == NEAREST) {
            return nearest(src, width, height, channels, outWidth, outHeight);
        }

        // ImagingResampleInner: the vertical coefficients come first, since their bounds decide which source rows
        // the horizontal pass needs to produce.
        Coeffs vert = precomputeCoeffs(height, 0f, height, outHeight, filter);
        int yFirst = vert.bounds[0];
        int yLast = vert.bounds[2 * (outHeight - 1)] + vert.bounds[2 * (outHeight - 1) + 1];
        boolean needHorizontal = outWidth != width;
        boolean needVertical = outHeight != height;

        byte[] img = src;
        int imgWidth = width;
        int rowOffset = 0;
        if (needHorizontal) {
            Coeffs horiz = precomputeCoeffs(width, 0f, width, outWidth, filter);
            img = horizontal(src, width, channels, yFirst, yLast - yFirst, outWidth, horiz);
            imgWidth = outWidth;
            rowOffset = yFirst; // vertical bounds are shifted to the rows the horizontal pass kept
        }
        if (needVertical) {
            img = vertical(img, imgWidth, channels, outHeight, vert, rowOffset);
        }
        return img;
    }

    /** Per output pixel: first source index, number of taps, and the fixed-point weights (ksize per pixel). */
    private record Coeffs(int ksize, int[] bounds, int[] kk) {
    }

    private static double filter(int filter, double x) {
        return switch (filter) {
            case BOX -> (x > -0.5 && x <= 0.5) ? 1.0 : 0.0;
            case BILINEAR -> {
                if (x < 0.0) {
                    x = -x;
                }
                yield x < 1.0 ? 1.0 - x : 0.0;
            }
            case HAMMING -> {
                if (x < 0.0) {
                    x = -x;
                }
                if (x == 0.0) {
                    yield 1.0;
                }
                if (x >= 1.0) {
                    yield 0.0;
                }
                x = x * Math.PI;
                // 0.54f/0.46f are float literals in Resample.c
                yield Math.sin(x) / x * ((double) 0.54f + (double) 0.46f * Math.cos(x));
            }
            case BICUBIC -> {
                final double a = -0.5; // Keys' cubic convolution with a = -0.5
                if (x < 0.0) {
                    x = -x;
                }
                if (x < 1.0) {
                    yield ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
                }
                if (x < 2.0) {
                    yield (((x - 5) * x + 8) * x - 4) * a;
                }
                yield 0.0;
            }
            case LANCZOS -> (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3) : 0.0;
            default -> throw new IllegalArgumentException("filter " + filter);
        };
    }

    private static double sinc(double x) {
        if (x == 0.0) {
            return 1.0;
        }
        x = x * Math.PI;
        return Math.sin(x) / x;
    }

    private static double support(int filter) {
        return switch (filter) {
            case BOX -> 0.5;
            case BILINEAR, HAMMING -> 1.0;
            case BICUBIC -> 2.0;
            case LANCZOS -> 3.0;
            default -> throw new IllegalArgumentException("filter " + filter);
        };
    }

    /** Resample.c {@code precompute_coeffs} followed by {@code normalize_coeffs_8bpc}. */
    private static Coeffs precomputeCoeffs(int inSize, float in0, float in1, int outSize, int filter) {
        double scale = (double) (in1 - in0) / outSize;
        double filterscale = Math.max(scale, 1.0); // widen the kernel when downscaling: that is the antialiasing
        double support = support(filter) * filterscale;
        int ksize = (int) Math.ceil(support) * 2 + 1;
        if ((long) outSize * ksize > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("resize to " + outSize + " pixels needs too many coefficients");
        }
        int[] bounds = new int[outSize * 2];
        int[] kk = new int[outSize * ksize];
        double[] k = new double[ksize];
        double ss = 1.0 / filterscale;
        for (int xx = 0; xx < outSize; xx++) {
            double center = in0 + (xx + 0.5) * scale;
            double ww = 0.0;
            int xmin = (int) (center - support + 0.5); // C cast: truncation toward zero, then clamped
            if (xmin < 0) {
                xmin = 0;
            }
            int xmax = (int) (center + support + 0.5);
            if (xmax > inSize) {
                xmax = inSize;
            }
            xmax -= xmin;
            for (int x = 0; x < xmax; x++) {
                double w = filter(filter, (x + xmin - center + 0.5) * ss);
                k[x] = w;
                ww += w;
            }
            for (int x = 0; x < ksize; x++) {
                double v = x < xmax ? (ww != 0.0 ? k[x] / ww : k[x]) : 0.0;
                kk[xx * ksize + x] = v < 0
                        ? (int) (-0.5 + v * (1 << PRECISION_BITS))
                        : (int) (0.5 + v * (1 << PRECISION_BITS));
            }
            bounds[xx * 2] = xmin;
            bounds[xx * 2 + 1] = xmax;
        }
        return new Coeffs(ksize, bounds, kk);
    }

    /** Resample.c {@code clip8}: the accumulator carries 22 fraction bits; shift (floor) and saturate. */
    private static int clip8(int acc) {
        int v = acc >> PRECISION_BITS;
        return v < 0 ? 0 : Math.min(v, 255);
    }

    /** {@code ImagingResampleHorizontal_8bpc} over source rows {@code [rowStart, rowStart + rows)}. */
    private static byte[] horizontal(byte[] src, int width, int channels, int rowStart, int rows, int outWidth,
                                     Coeffs c) {
        byte[] out = new byte[rows * outWidth * channels];
        int[] acc = new int[channels];
        for (int yy = 0; yy < rows; yy++) {
            int srcRow = (yy + rowStart) * width * channels;
            int dstRow = yy * outWidth * channels;
            for (int xx = 0; xx < outWidth; xx++) {
                int xmin = c.bounds[xx * 2];
                int xmax = c.bounds[xx * 2 + 1];
                int kBase = xx * c.ksize;
                java.util.Arrays.fill(acc, 1 << (PRECISION_BITS - 1));
                for (int x = 0; x < xmax; x++) {
                    int w = c.kk[kBase + x];
                    int p = srcRow + (x + xmin) * channels;
                    for (int ch = 0; ch < channels; ch++) {
                        acc[ch] += (src[p + ch] & 0xFF) * w;
                    }
                }
                for (int ch = 0; ch < channels; ch++) {
                    out[dstRow + xx * channels + ch] = (byte) clip8(acc[ch]);
                }
            }
        }
        return out;
    }

    /** {@code ImagingResampleVertical_8bpc}; {@code rowOffset} undoes the rows the horizontal pass skipped. */
    private static byte[] vertical(byte[] src, int width, int channels, int outHeight, Coeffs c, int rowOffset) {
        int stride = width * channels;
        byte[] out = new byte[outHeight * stride];
        for (int yy = 0; yy < outHeight; yy++) {
            int ymin = c.bounds[yy * 2] - rowOffset;
            int ymax = c.bounds[yy * 2 + 1];
            int kBase = yy * c.ksize;
            int dstRow = yy * stride;
            for (int i = 0; i < stride; i++) {
                int acc = 1 << (PRECISION_BITS - 1);
                for (int y = 0; y < ymax; y++) {
                    acc += (src[(y + ymin) * stride + i] & 0xFF) * c.kk[kBase + y];
                }
                out[dstRow + i] = (byte) clip8(acc);
            }
        }
        return out;
    }

    /**
     * _imaging.c {@code _resize} with NEAREST: an affine transform {@code (w/outW, 0, 0, 0, h/outH, 0)} through
     * Geometry.c {@code ImagingScaleAffine}, which walks the source position by repeated addition.
     */
    private static byte[] nearest(byte[] src, int width, int height, int channels, int outWidth, int outHeight) {
        double a0 = (double) width / outWidth;
        double a4 = (double) height / outHeight;
        int[] xin = new int[outWidth];
        double xo = a0 * 0.5;
        for (int x = 0; x < outWidth; x++) {
            xin[x] = coord(xo);
            xo += a0;
        }
        byte[] out = new byte[outWidth * outHeight * channels];
        double yo = a4 * 0.5;
        for (int y = 0; y < outHeight; y++) {
            int yi = coord(yo);
            yo += a4;
            if (yi < 0 || yi >= height) {
                continue; // outside the source: Pillow leaves the (zeroed) background
            }
            for (int x = 0; x < outWidth; x++) {
                if (xin[x] < 0 || xin[x] >= width) {
                    continue;
                }
                System.arraycopy(src, (yi * width + xin[x]) * channels, out, (y * outWidth + x) * channels,
                        channels);
            }
        }
        return out;
    }

    /** Geometry.c {@code COORD}: negative positions map to -1, others truncate. */
    private static int coord(double v) {
        return v < 0.0 ? -1 : (int) v;
    }
}
