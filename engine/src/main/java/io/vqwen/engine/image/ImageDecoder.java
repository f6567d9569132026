package io.vqwen.engine.image;

import com.twelvemonkeys.imageio.plugins.jpeg.JPEGImageReaderSpi;
import com.twelvemonkeys.imageio.plugins.webp.WebPImageReaderSpi;
import com.twelvemonkeys.imageio.stream.ByteArrayImageInputStream;

import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.metadata.IIOMetadataNode;
import javax.imageio.spi.IIORegistry;
import javax.imageio.spi.ImageReaderSpi;
import javax.imageio.stream.ImageInputStream;

import org.w3c.dom.Node;

/**
 * Encoded bytes to the RGB pixels that transformers' {@code load_image} gives the processor: Pillow's decode,
 * {@code ImageOps.exif_transpose}, then {@code convert("RGB")}.
 *
 * <p>Formats: JPEG and WebP through the TwelveMonkeys readers, PNG, GIF (first frame) and BMP through the JDK's.
 * JPEG is read as its raw component raster and colour-converted the way libjpeg and Pillow do it
 * ({@link JpegPixels}); the others go through {@link PilRgb}. The image size is read from the header and checked
 * against the pixel limit before any pixel data is decoded.
 *
 * <p>Every failure is an {@link ImageException} whose message says what is wrong with the bytes.
 */
public final class ImageDecoder {
    /** The default pixel limit: 40 megapixels, e.g. 8000 x 5000. */
    public static final long DEFAULT_MAX_PIXELS = 40_000_000L;

    /** The containers we recognise by their first bytes. */
    public enum Format { JPEG, PNG, GIF, BMP, WEBP }

    private static final ImageReaderSpi JPEG_SPI = registeredJpegSpi();
    private static final ImageReaderSpi WEBP_SPI = new WebPImageReaderSpi();

    private ImageDecoder() {
    }

    /** {@link #decode(byte[], long)} with {@link #DEFAULT_MAX_PIXELS}. */
    public static DecodedImage decode(byte[] bytes) {
        return decode(bytes, DEFAULT_MAX_PIXELS);
    }

    /**
     * Decodes an encoded image to PIL's RGB pixels after EXIF orientation.
     *
     * @param maxPixels images with more pixels (width * height, as the header states them) are refused before
     *                  their pixel data is read
     * @throws ImageException for empty, unrecognised, corrupt, unsupported or too large images
     */
    public static DecodedImage decode(byte[] bytes, long maxPixels) {
        if (maxPixels <= 0) {
            throw new IllegalArgumentException("maxPixels must be positive, got " + maxPixels);
        }
        if (bytes == null || bytes.length == 0) {
            throw new ImageException("empty image: 0 bytes");
        }
        Format format = sniff(bytes);
        if (format == null) {
            throw new ImageException("not an image: the bytes match no decoder (JPEG, PNG, GIF, BMP, WebP)");
        }
        String name = format.name().equals("WEBP") ? "WebP" : format.name();
        ImageReader reader = null;
        try (ImageInputStream in = new ByteArrayImageInputStream(bytes)) {
            reader = readerFor(format);
            List<String> warnings = new ArrayList<>();
            reader.addIIOReadWarningListener((source, warning) -> warnings.add(warning));
            reader.setInput(in, true, format != Format.GIF); // GIF: the frame's placement is in its metadata

            long width = reader.getWidth(0);
            long height = reader.getHeight(0);
            if (format == Format.GIF) {
                // Pillow's first frame is the logical screen; a frame may be smaller and placed inside it
                width = Math.max(width, u16le(bytes, 6));
                height = Math.max(height, u16le(bytes, 8));
            }
            checkSize(width, height, maxPixels);

            DecodedImage image = switch (format) {
                case JPEG -> decodeJpeg(bytes, reader, warnings);
                case GIF -> decodeGifFirstFrame(bytes, reader);
                case PNG -> fromBufferedImage(reader.read(0), isGray16Png(bytes));
                case BMP, WEBP -> fromBufferedImage(reader.read(0), false);
            };
            int orientation = switch (format) {
                case JPEG -> ExifOrientation.fromJpeg(bytes);
                case PNG -> ExifOrientation.fromPng(bytes);
                case WEBP -> ExifOrientation.fromWebp(bytes);
                case GIF, BMP -> 1;
            };
            return ExifOrientation.apply(image, orientation);
        } catch (ImageException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            throw new ImageException("corrupt " + name + " image: " + describe(e), e);
        } finally {
            if (reader != null) {
                reader.dispose();
            }
        }
    }

    /** The container format by its magic bytes, or null. */
    public static Format sniff(byte[] b) {
        if (b.length >= 3 && (b[0] & 0xFF) == 0xFF && (b[1] & 0xFF) == 0xD8 && (b[2] & 0xFF) == 0xFF) {
            return Format.JPEG;
        }
        if (b.length >= 8 && (b[0] & 0xFF) == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G' && b[4] == '\r'
                && b[5] == '\n' && b[6] == 0x1A && b[7] == '\n') {
            return Format.PNG;
        }
        if (b.length >= 10 && b[0] == 'G' && b[1] == 'I' && b[2] == 'F' && b[3] == '8'
                && (b[4] == '7' || b[4] == '9') && b[5] == 'a') {
            return Format.GIF;
        }
        if (b.length >= 14 && b[0] == 'B' && b[1] == 'M') {
            return Format.BMP;
        }
        if (b.length >= 16 && b[0] == 'R' && b[1] == 'I' && b[2] == 'F' && b[3] == 'F' && b[8] == 'W'
                && b[9] == 'E' && b[10] == 'B' && b[11] == 'P') {
            return Format.WEBP;
        }
        return null;
    }

    /** The pixels of an image someone else decoded, as PIL's {@code convert("RGB")} would take them. */
    public static DecodedImage fromBufferedImage(BufferedImage image) {
        return fromBufferedImage(image, false);
    }

    private static DecodedImage fromBufferedImage(BufferedImage image, boolean gray16Clips) {
        return new DecodedImage(image.getWidth(), image.getHeight(), PilRgb.toRgb(image, gray16Clips));
    }

    static void checkSize(long width, long height, long maxPixels) {
        if (width <= 0 || height <= 0) {
            throw new ImageException("corrupt image: the header gives a size of " + width + "x" + height);
        }
        long pixels = width * height;
        if (pixels > maxPixels) {
            throw new ImageException(String.format(Locale.ROOT,
                    "image is %dx%d = %.3g pixels, over the limit of %d", width, height, (double) pixels, maxPixels));
        }
    }

    private static DecodedImage decodeJpeg(byte[] bytes, ImageReader reader, List<String> warnings)
            throws IOException {
        JpegPixels.Header header = JpegPixels.scanHeader(bytes);
        Raster raw = reader.readRaster(0, null);
        for (String w : warnings) {
            // libjpeg only warns on a truncated stream and fills the rest; Pillow refuses such a file
            if (w.toLowerCase(Locale.ROOT).contains("premature end")) {
                throw new ImageException("corrupt JPEG image: truncated (" + w + ")");
            }
        }
        return new DecodedImage(raw.getWidth(), raw.getHeight(), JpegPixels.toRgb(raw, header));
    }

    /**
     * Pillow's first GIF frame: the logical screen, filled with the frame's transparent index if it has one (else
     * index 0), with the frame's pixels at their offset; then palette to RGB.
     */
    private static DecodedImage decodeGifFirstFrame(byte[] bytes, ImageReader reader) throws IOException {
        BufferedImage frame = reader.read(0);
        int screenW = u16le(bytes, 6);
        int screenH = u16le(bytes, 8);
        IIOMetadata meta = reader.getImageMetadata(0);
        Node root = meta.getAsTree("javax_imageio_gif_image_1.0");
        int left = 0;
        int top = 0;
        int transparent = -1;
        for (Node n = root.getFirstChild(); n != null; n = n.getNextSibling()) {
            IIOMetadataNode node = (IIOMetadataNode) n;
            if (n.getNodeName().equals("ImageDescriptor")) {
                left = Integer.parseInt(node.getAttribute("imageLeftPosition"));
                top = Integer.parseInt(node.getAttribute("imageTopPosition"));
            } else if (n.getNodeName().equals("GraphicControlExtension")
                    && "TRUE".equalsIgnoreCase(node.getAttribute("transparentColorFlag"))) {
                transparent = Integer.parseInt(node.getAttribute("transparentColorIndex"));
            }
        }
        DecodedImage pixels = fromBufferedImage(frame, false);
        if (left == 0 && top == 0 && frame.getWidth() == screenW && frame.getHeight() == screenH) {
            return pixels;
        }
        if (screenW <= 0 || screenH <= 0) {
            return pixels; // no usable logical screen: the frame is the image
        }
        int fill = 0;
        if (frame.getColorModel() instanceof IndexColorModel icm) {
            int idx = transparent >= 0 ? transparent : 0;
            if (idx < icm.getMapSize()) {
                fill = icm.getRGB(idx) & 0xFFFFFF;
            }
        }
        byte[] canvas = new byte[screenW * screenH * 3];
        for (int i = 0; i < screenW * screenH; i++) {
            canvas[3 * i] = (byte) (fill >> 16);
            canvas[3 * i + 1] = (byte) (fill >> 8);
            canvas[3 * i + 2] = (byte) fill;
        }
        for (int y = 0; y < pixels.height(); y++) {
            int cy = y + top;
            if (cy < 0 || cy >= screenH) {
                continue;
            }
            for (int x = 0; x < pixels.width(); x++) {
                int cx = x + left;
                if (cx >= 0 && cx < screenW) {
                    System.arraycopy(pixels.rgb(), (y * pixels.width() + x) * 3, canvas, (cy * screenW + cx) * 3, 3);
                }
            }
        }
        return new DecodedImage(screenW, screenH, canvas);
    }

    /** IHDR: bit depth 16, colour type 0. Pillow opens these as "I;16", whose RGB conversion clips. */
    private static boolean isGray16Png(byte[] b) {
        return b.length >= 26 && b[12] == 'I' && b[13] == 'H' && b[14] == 'D' && b[15] == 'R' && b[24] == 16
                && b[25] == 0;
    }

    private static ImageReader readerFor(Format format) throws IOException {
        return switch (format) {
            case JPEG -> JPEG_SPI.createReaderInstance();
            case WEBP -> WEBP_SPI.createReaderInstance();
            case PNG -> jdkReader("png");
            case GIF -> jdkReader("gif");
            case BMP -> jdkReader("bmp");
        };
    }

    private static ImageReader jdkReader(String formatName) {
        Iterator<ImageReader> it = ImageIO.getImageReadersByFormatName(formatName);
        if (!it.hasNext()) {
            throw new IllegalStateException("no ImageIO reader for " + formatName + " in this JDK");
        }
        return it.next();
    }

    /**
     * The TwelveMonkeys JPEG reader finds the JDK's reader, to which it delegates the entropy decoding, when it is
     * registered; register it ourselves so that this works whatever class loader ImageIO scanned at startup.
     */
    private static ImageReaderSpi registeredJpegSpi() {
        IIORegistry registry = IIORegistry.getDefaultInstance();
        JPEGImageReaderSpi spi = registry.getServiceProviderByClass(JPEGImageReaderSpi.class);
        if (spi == null) {
            spi = new JPEGImageReaderSpi();
            registry.registerServiceProvider(spi, ImageReaderSpi.class);
        }
        return spi;
    }

    private static int u16le(byte[] b, int i) {
        return (b[i] & 0xFF) | (b[i + 1] & 0xFF) << 8;
    }

    private static String describe(Throwable e) {
        String msg = e.getMessage();
        String text = msg == null || msg.isBlank() ? e.getClass().getSimpleName() : msg;
        Throwable cause = e.getCause();
        if (cause != null && cause.getMessage() != null && !text.contains(cause.getMessage())) {
            text += " (" + cause.getMessage() + ")";
        }
        return text;
    }
}
