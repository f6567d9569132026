package io.vqwen.engine.image;

/**
 * An image that cannot be turned into pixels: empty, corrupt, of a format we do not decode, or too large. Unchecked,
 * because every caller can do the same thing with it (reject the request and show the message), and the message is
 * written for the person who sent the image.
 */
public final class ImageException extends RuntimeException {
    public ImageException(String message) {
        super(message);
    }

    public ImageException(String message, Throwable cause) {
        super(message, cause);
    }
}
