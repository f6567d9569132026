package io.vqwen.engine.image;

import java.awt.image.Raster;

/**
 * JPEG pixels as Pillow gets them from libjpeg(-turbo). We take the decoder's raw component raster (no colour
 * management: Pillow ignores embedded ICC profiles in {@code convert("RGB")}) and do libjpeg's own colour
 * conversion on it:
 * <ul>
 *   <li>the colour space is guessed as libjpeg's {@code default_decompress_parms} does (JFIF and Adobe markers,
 *       then component ids);</li>
 *   <li>YCbCr to RGB with libjpeg's 16-bit fixed-point tables ({@code jdcolor.c});</li>
 *   <li>four components: YCCK to CMYK as libjpeg's {@code ycck_cmyk_convert}, then Pillow's "CMYK;I" raw mode
 *       (every 4-component JPEG is inverted, "assume adobe conventions"), then Pillow's {@code cmyk2rgb}.</li>
 * </ul>
 */
final class JpegPixels {
    private static final int SCALEBITS = 16;
    private static final int ONE_HALF = 1 << (SCALEBITS - 1);
    private static final int[] CR_R = new int[256];
    private static final int[] CB_B = new int[256];
    private static final int[] CR_G = new int[256];
    private static final int[] CB_G = new int[256];

    static {
        // jdcolor.c build_ycc_rgb_table
        for (int i = 0; i < 256; i++) {
            int x = i - 128;
            CR_R[i] = (fix(1.40200) * x + ONE_HALF) >> SCALEBITS;
            CB_B[i] = (fix(1.77200) * x + ONE_HALF) >> SCALEBITS;
            CR_G[i] = -fix(0.71414) * x;
            CB_G[i] = -fix(0.34414) * x + ONE_HALF;
        }
    }

    private static int fix(double x) {
        return (int) (x * (1L << SCALEBITS) + 0.5);
    }

    enum ColorSpace { GRAY, YCBCR, RGB, CMYK, YCCK }

    /** What the markers before the first scan say. */
    record Header(int components, int[] componentIds, boolean jfif, int adobeTransform) {
        /** libjpeg {@code default_decompress_parms}. */
        ColorSpace colorSpace() {
            return switch (components) {
                case 1 -> ColorSpace.GRAY;
                case 3 -> {
                    if (jfif) {
                        yield ColorSpace.YCBCR;
                    }
                    if (adobeTransform >= 0) {
                        yield adobeTransform == 0 ? ColorSpace.RGB : ColorSpace.YCBCR;
                    }
                    if (componentIds[0] == 'R' && componentIds[1] == 'G' && componentIds[2] == 'B') {
                        yield ColorSpace.RGB;
                    }
                    yield ColorSpace.YCBCR;
                }
                case 4 -> adobeTransform >= 0 && adobeTransform != 0 ? ColorSpace.YCCK : ColorSpace.CMYK;
                default -> throw new ImageException("unsupported JPEG: " + components
                        + " colour components (PIL reads 1, 3 or 4)");
            };
        }
    }

    private JpegPixels() {
    }

    /** Reads the markers up to the first SOS (an Adobe segment after the frame header still counts in libjpeg). */
    static Header scanHeader(byte[] b) {
        boolean jfif = false;
        int adobe = -1;
        int[] ids = null;
        int i = 2;
        while (i + 4 <= b.length) {
            if ((b[i] & 0xFF) != 0xFF) {
                throw new ImageException("corrupt JPEG: expected a marker at byte " + i);
            }
            int marker = b[i + 1] & 0xFF;
            if (marker == 0xFF) {
                i++; // fill byte
                continue;
            }
            if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
                i += 2; // stand-alone markers
                continue;
            }
            if (marker == 0xD9 || marker == 0xDA) {
                break;
            }
            int len = ExifOrientation.u16be(b, i + 2);
            if (len < 2 || i + 2 + len > b.length) {
                break;
            }
            int data = i + 4;
            int dataLen = len - 2;
            if (marker == 0xE0 && dataLen >= 14 && b[data] == 'J' && b[data + 1] == 'F' && b[data + 2] == 'I'
                    && b[data + 3] == 'F' && b[data + 4] == 0) {
                jfif = true;
            } else if (marker == 0xEE && dataLen >= 12 && b[data] == 'A' && b[data + 1] == 'd'
                    && b[data + 2] == 'o' && b[data + 3] == 'b' && b[data + 4] == 'e') {
                adobe = b[data + 11] & 0xFF;
            } else if (isSof(marker) && ids == null && dataLen >= 6) {
                int n = b[data + 5] & 0xFF;
                if (dataLen < 6 + 3 * n) {
                    throw new ImageException("corrupt JPEG: frame header too short for " + n + " components");
                }
                ids = new int[n];
                for (int c = 0; c < n; c++) {
                    ids[c] = b[data + 6 + 3 * c] & 0xFF;
                }
            }
            i += 2 + len;
        }
        if (ids == null) {
            throw new ImageException("corrupt JPEG: no frame header (SOF) before the image data");
        }
        return new Header(ids.length, ids, jfif, adobe);
    }

    private static boolean isSof(int marker) {
        // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC)
        return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    }

    /** The raw decoded components to PIL's RGB bytes, (height, width, 3). */
    static byte[] toRgb(Raster raw, Header header) {
        int w = raw.getWidth();
        int h = raw.getHeight();
        int bands = raw.getNumBands();
        if (bands != header.components()) {
            throw new ImageException("corrupt JPEG: decoder returned " + bands + " components, the header says "
                    + header.components());
        }
        ColorSpace cs = header.colorSpace();
        byte[] out = new byte[w * h * 3];
        int[] row = new int[w * bands];
        int o = 0;
        for (int y = 0; y < h; y++) {
            raw.getPixels(raw.getMinX(), raw.getMinY() + y, w, 1, row);
            for (int x = 0; x < w; x++) {
                int p = x * bands;
                int r;
                int g;
                int b;
                switch (cs) {
                    case GRAY -> {
                        r = g = b = row[p];
                    }
                    case RGB -> {
                        r = row[p];
                        g = row[p + 1];
                        b = row[p + 2];
                    }
                    case YCBCR -> {
                        int yy = row[p];
                        int cb = row[p + 1];
                        int cr = row[p + 2];
                        r = clamp(yy + CR_R[cr]);
                        g = clamp(yy + ((CB_G[cb] + CR_G[cr]) >> SCALEBITS));
                        b = clamp(yy + CB_B[cb]);
                    }
                    default -> {
                        int c;
                        int m;
                        int ye;
                        int k = row[p + 3];
                        if (cs == ColorSpace.YCCK) {
                            int yy = row[p];
                            int cb = row[p + 1];
                            int cr = row[p + 2];
                            c = clamp(255 - (yy + CR_R[cr]));
                            m = clamp(255 - (yy + ((CB_G[cb] + CR_G[cr]) >> SCALEBITS)));
                            ye = clamp(255 - (yy + CB_B[cb]));
                        } else {
                            c = row[p];
                            m = row[p + 1];
                            ye = row[p + 2];
                        }
                        // Pillow "CMYK;I": all four inverted
                        c = 255 - c;
                        m = 255 - m;
                        ye = 255 - ye;
                        k = 255 - k;
                        r = cmykChannel(c, k);
                        g = cmykChannel(m, k);
                        b = cmykChannel(ye, k);
                    }
                }
                out[o++] = (byte) r;
                out[o++] = (byte) g;
                out[o++] = (byte) b;
            }
        }
        return out;
    }

    /** Pillow Convert.c {@code cmyk2rgb}: {@code CLIP8(nk - MULDIV255(c, nk))} with {@code nk = 255 - k}. */
    static int cmykChannel(int c, int k) {
        int nk = 255 - k;
        int tmp = c * nk + 128;
        return clamp(nk - (((tmp >> 8) + tmp) >> 8));
    }

    private static int clamp(int v) {
        return v < 0 ? 0 : Math.min(v, 255);
    }
}
