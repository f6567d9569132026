package io.vqwen.engine.image;

/**
 * The EXIF orientation tag (0x0112) and {@code PIL.ImageOps.exif_transpose}, which transformers' {@code load_image}
 * applies before anything else. The tag is read from where Pillow reads it: the first APP1 "Exif" segment of a
 * JPEG, the eXIf chunk of a PNG, the EXIF chunk of a WebP. A missing, unreadable or out-of-range tag means 1 (as
 * shot).
 */
final class ExifOrientation {
    private static final int TAG_ORIENTATION = 0x0112;
    private static final byte[] EXIF_HEADER = {'E', 'x', 'i', 'f', 0, 0};

    private ExifOrientation() {
    }

    /** Walks the JPEG markers up to the first scan; Pillow keeps the first "Exif\0\0" APP1. */
    static int fromJpeg(byte[] b) {
        int i = 2;
        while (i + 4 <= b.length) {
            if ((b[i] & 0xFF) != 0xFF) {
                return 1;
            }
            int marker = b[i + 1] & 0xFF;
            if (marker == 0xFF) {
                i++; // fill byte
                continue;
            }
            if (marker == 0xDA || marker == 0xD9) {
                return 1;
            }
            if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
                i += 2; // stand-alone markers
                continue;
            }
            int len = u16be(b, i + 2);
            if (len < 2 || i + 2 + len > b.length) {
                return 1;
            }
            if (marker == 0xE1 && startsWith(b, i + 4, len - 2, EXIF_HEADER)) {
                return fromTiff(b, i + 4 + 6, len - 2 - 6);
            }
            i += 2 + len;
        }
        return 1;
    }

    /** Walks the PNG chunks for eXIf (TIFF data, with or without the "Exif\0\0" prefix some writers add). */
    static int fromPng(byte[] b) {
        int i = 8;
        while (i + 12 <= b.length) {
            long len = u32be(b, i);
            if (len > b.length - i - 12) {
                return 1;
            }
            if (b[i + 4] == 'e' && b[i + 5] == 'X' && b[i + 6] == 'I' && b[i + 7] == 'f') {
                return fromTiffMaybePrefixed(b, i + 8, (int) len);
            }
            if (b[i + 4] == 'I' && b[i + 5] == 'E' && b[i + 6] == 'N' && b[i + 7] == 'D') {
                return 1;
            }
            i += 12 + (int) len;
        }
        return 1;
    }

    /** Walks the RIFF chunks of a WebP for EXIF. */
    static int fromWebp(byte[] b) {
        int i = 12;
        while (i + 8 <= b.length) {
            long len = u32le(b, i + 4);
            if (len > b.length - i - 8) {
                return 1;
            }
            if (b[i] == 'E' && b[i + 1] == 'X' && b[i + 2] == 'I' && b[i + 3] == 'F') {
                return fromTiffMaybePrefixed(b, i + 8, (int) len);
            }
            i += 8 + (int) (len + (len & 1)); // chunks are padded to even length
        }
        return 1;
    }

    private static int fromTiffMaybePrefixed(byte[] b, int off, int len) {
        if (startsWith(b, off, len, EXIF_HEADER)) {
            return fromTiff(b, off + 6, len - 6);
        }
        return fromTiff(b, off, len);
    }

    /** IFD0 of a TIFF structure ("II*\0" or "MM\0*"): the orientation entry, if it is one SHORT or LONG in 1..8. */
    static int fromTiff(byte[] b, int off, int len) {
        if (len < 8 || off < 0 || off + len > b.length) {
            return 1;
        }
        boolean little;
        if (b[off] == 'I' && b[off + 1] == 'I' && b[off + 2] == 42 && b[off + 3] == 0) {
            little = true;
        } else if (b[off] == 'M' && b[off + 1] == 'M' && b[off + 2] == 0 && b[off + 3] == 42) {
            little = false;
        } else {
            return 1;
        }
        long ifd = u32(b, off + 4, little);
        if (ifd < 8 || ifd + 2 > len) {
            return 1;
        }
        int p = off + (int) ifd;
        int count = u16(b, p, little);
        p += 2;
        for (int e = 0; e < count && p + 12 <= off + len; e++, p += 12) {
            if (u16(b, p, little) != TAG_ORIENTATION) {
                continue;
            }
            int type = u16(b, p + 2, little);
            long n = u32(b, p + 4, little);
            if (n != 1) {
                return 1; // Pillow reads a tuple, which exif_transpose does not recognise
            }
            long v = switch (type) {
                case 3 -> u16(b, p + 8, little); // SHORT
                case 4 -> u32(b, p + 8, little); // LONG
                default -> 1;
            };
            return v >= 1 && v <= 8 ? (int) v : 1;
        }
        return 1;
    }

    /**
     * {@code exif_transpose}: orientation n maps to Pillow's transpose method
     * 2 FLIP_LEFT_RIGHT, 3 ROTATE_180, 4 FLIP_TOP_BOTTOM, 5 TRANSPOSE, 6 ROTATE_270, 7 TRANSVERSE, 8 ROTATE_90
     * (Pillow's rotations are counter-clockwise).
     */
    static DecodedImage apply(DecodedImage img, int orientation) {
        if (orientation <= 1 || orientation > 8) {
            return img;
        }
        int w = img.width();
        int h = img.height();
        boolean swap = orientation >= 5;
        int ow = swap ? h : w;
        int oh = swap ? w : h;
        byte[] src = img.rgb();
        byte[] out = new byte[src.length];
        for (int oy = 0; oy < oh; oy++) {
            for (int ox = 0; ox < ow; ox++) {
                int ix;
                int iy;
                switch (orientation) {
                    case 2 -> { ix = w - 1 - ox; iy = oy; }
                    case 3 -> { ix = w - 1 - ox; iy = h - 1 - oy; }
                    case 4 -> { ix = ox; iy = h - 1 - oy; }
                    case 5 -> { ix = oy; iy = ox; }
                    case 6 -> { ix = oy; iy = h - 1 - ox; }
                    case 7 -> { ix = w - 1 - oy; iy = h - 1 - ox; }
                    default -> { ix = w - 1 - oy; iy = ox; } // 8
                }
                System.arraycopy(src, (iy * w + ix) * 3, out, (oy * ow + ox) * 3, 3);
            }
        }
        return new DecodedImage(ow, oh, out);
    }

    private static boolean startsWith(byte[] b, int off, int len, byte[] prefix) {
        if (len < prefix.length || off + prefix.length > b.length) {
            return false;
        }
        for (int i = 0; i < prefix.length; i++) {
            if (b[off + i] != prefix[i]) {
                return false;
            }
        }
        return true;
    }

    static int u16be(byte[] b, int i) {
        return (b[i] & 0xFF) << 8 | (b[i + 1] & 0xFF);
    }

    static long u32be(byte[] b, int i) {
        return (long) (b[i] & 0xFF) << 24 | (b[i + 1] & 0xFF) << 16 | (b[i + 2] & 0xFF) << 8 | (b[i + 3] & 0xFF);
    }

    static long u32le(byte[] b, int i) {
        return (long) (b[i + 3] & 0xFF) << 24 | (b[i + 2] & 0xFF) << 16 | (b[i + 1] & 0xFF) << 8 | (b[i] & 0xFF);
    }

    private static int u16(byte[] b, int i, boolean little) {
        return little ? (b[i + 1] & 0xFF) << 8 | (b[i] & 0xFF) : u16be(b, i);
    }

    private static long u32(byte[] b, int i, boolean little) {
        return little ? u32le(b, i) : u32be(b, i);
    }
}
