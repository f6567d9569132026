package io.vqwen.engine.image;

import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;

/**
 * A decoded {@link BufferedImage} to the bytes of PIL's {@code convert("RGB")}. We read raw samples, never
 * {@code getRGB}: Java 2D colour-converts some images there (8-bit gray goes through a linear-to-sRGB table), while
 * PIL only moves bytes:
 * <ul>
 *   <li>palette ("P", and PNG's 1/2/4-bit gray, which Java hands over as a gray palette): palette lookup, alpha
 *       dropped (PIL's P to RGB ignores transparency);</li>
 *   <li>gray ("L", "LA"): replicated; alpha dropped, no compositing;</li>
 *   <li>RGB / RGBA: alpha dropped;</li>
 *   <li>samples under 8 bits: {@code v * 255 / max}, as Pillow's unpackers scale "L;4" or "BGR;15";</li>
 *   <li>16-bit samples: the high byte, as Pillow's "RGB;16B"/"LA;16B" raw modes; except 16-bit gray PNG, which
 *       Pillow opens as "I;16" and {@code I16_RGB} clips at 255 instead.</li>
 * </ul>
 */
final class PilRgb {
    private PilRgb() {
    }

    /**
     * @param gray16Clips true for a 16-bit grayscale PNG, whose samples Pillow clips to 255 rather than shifting
     */
    static byte[] toRgb(BufferedImage img, boolean gray16Clips) {
        ColorModel cm = img.getColorModel();
        Raster raster = img.getRaster();
        int w = img.getWidth();
        int h = img.getHeight();
        int bands = raster.getNumBands();
        byte[] out = new byte[w * h * 3];
        int[] row = new int[w * bands];
        int o = 0;
        if (cm instanceof IndexColorModel icm) {
            for (int y = 0; y < h; y++) {
                raster.getPixels(raster.getMinX(), raster.getMinY() + y, w, 1, row);
                for (int x = 0; x < w; x++) {
                    int idx = row[x * bands];
                    out[o++] = (byte) icm.getRed(idx);
                    out[o++] = (byte) icm.getGreen(idx);
                    out[o++] = (byte) icm.getBlue(idx);
                }
            }
            return out;
        }
        int colors = cm.getNumColorComponents();
        if (colors != 1 && colors != 3) {
            throw new ImageException("unsupported image: " + colors + " colour components in a "
                    + cm.getColorSpace().getType() + " colour space");
        }
        int[] bits = new int[colors];
        for (int c = 0; c < colors; c++) {
            bits[c] = raster.getSampleModel().getSampleSize(c); // packed (DirectColorModel) rasters unpack per band too
            if (bits[c] > 16) {
                throw new ImageException("unsupported image: " + bits[c] + "-bit samples");
            }
        }
        for (int y = 0; y < h; y++) {
            raster.getPixels(raster.getMinX(), raster.getMinY() + y, w, 1, row);
            for (int x = 0; x < w; x++) {
                int p = x * bands;
                if (colors == 1) {
                    int v = to8(row[p], bits[0], gray16Clips);
                    out[o++] = (byte) v;
                    out[o++] = (byte) v;
                    out[o++] = (byte) v;
                } else {
                    out[o++] = (byte) to8(row[p], bits[0], false);
                    out[o++] = (byte) to8(row[p + 1], bits[1], false);
                    out[o++] = (byte) to8(row[p + 2], bits[2], false);
                }
            }
        }
        return out;
    }

    private static int to8(int v, int bits, boolean clip16) {
        if (bits == 8) {
            return v;
        }
        if (bits == 16) {
            return clip16 ? Math.min(v, 255) : v >>> 8;
        }
        if (bits > 8) {
            return v >>> (bits - 8);
        }
        return v * 255 / ((1 << bits) - 1);
    }
}
