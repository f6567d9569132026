package io.vqwen.gateway;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Locale;

/** Checks on image bytes the gateway can make without decoding them: size, a known format, the content hash. */
public final class Images {
    private Images() {
    }

    /** The SHA-256 of the bytes in lowercase hex: the embedding-cache key and the {@code sha256:} image id. */
    public static String sha256Hex(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** MIME type from the magic bytes of the formats the vision service decodes, or null. */
    public static String sniff(byte[] b) {
        if (b.length >= 8 && (b[0] & 0xff) == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G') return "image/png";
        if (b.length >= 3 && (b[0] & 0xff) == 0xff && (b[1] & 0xff) == 0xd8 && (b[2] & 0xff) == 0xff) return "image/jpeg";
        if (b.length >= 6 && b[0] == 'G' && b[1] == 'I' && b[2] == 'F' && b[3] == '8') return "image/gif";
        if (b.length >= 14 && b[0] == 'B' && b[1] == 'M') return "image/bmp";
        if (b.length >= 12 && b[0] == 'R' && b[1] == 'I' && b[2] == 'F' && b[3] == 'F'
                && b[8] == 'W' && b[9] == 'E' && b[10] == 'B' && b[11] == 'P') return "image/webp";
        return null;
    }

    /** Throws a 400 naming {@code param} when the bytes are over the limit or not in a known image format. */
    public static String check(String param, byte[] bytes, long maxBytes) {
        if (bytes.length > maxBytes) {
            throw ApiException.invalid(param, param + ": the image is " + describeSize(bytes.length) + ", over this server's limit of "
                    + describeSize(maxBytes) + " (vqwen.gateway.max-image-bytes).");
        }
        if (bytes.length == 0) throw ApiException.invalid(param, param + ": the image is empty.");
        String mime = sniff(bytes);
        if (mime == null) {
            StringBuilder head = new StringBuilder();
            for (int i = 0; i < Math.min(8, bytes.length); i++) head.append(String.format(Locale.ROOT, "%s%02x", i == 0 ? "" : " ", bytes[i] & 0xff));
            throw ApiException.invalid(param, param + ": the data is not an image: expected PNG, JPEG, GIF, BMP or WebP, but it "
                    + "starts with bytes " + head + ".");
        }
        return mime;
    }

    public static String describeSize(long bytes) {
        if (bytes < 1024 * 1024) return bytes + " bytes";
        return String.format(Locale.ROOT, "%.1f MiB (%d bytes)", bytes / (1024.0 * 1024.0), bytes);
    }
}
