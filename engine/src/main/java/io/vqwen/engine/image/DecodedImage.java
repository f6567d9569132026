package io.vqwen.engine.image;

import java.awt.image.BufferedImage;

/**
 * An RGB image as PIL holds it after {@code load_image}: EXIF orientation applied and {@code convert("RGB")} done.
 *
 * @param width  pixels per row
 * @param height rows
 * @param rgb    (height, width, 3) uint8, row-major, R G B interleaved; the same layout as {@code np.asarray(img)}
 */
public record DecodedImage(int width, int height, byte[] rgb) {
    public DecodedImage {
        if (width <= 0 || height <= 0) {
            throw new IllegalArgumentException("image size must be positive, got " + width + "x" + height);
        }
        if (rgb.length != (long) width * height * 3) {
            throw new IllegalArgumentException("a " + width + "x" + height + " RGB image needs "
                    + (long) width * height * 3 + " bytes, got " + rgb.length);
        }
    }

    /** The pixel at (x, y) as 0xRRGGBB. */
    public int rgbAt(int x, int y) {
        int i = (y * width + x) * 3;
        return (rgb[i] & 0xFF) << 16 | (rgb[i + 1] & 0xFF) << 8 | (rgb[i + 2] & 0xFF);
    }

    /** A copy as a TYPE_INT_RGB image, for display or for {@link ClipImageProcessor#preprocess(BufferedImage)}. */
    public BufferedImage toBufferedImage() {
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                img.setRGB(x, y, rgbAt(x, y));
            }
        }
        return img;
    }
}
