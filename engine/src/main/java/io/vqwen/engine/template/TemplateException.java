package io.vqwen.engine.template;

/**
 * A chat template could not be parsed or rendered. Positioned errors carry the template line and column (1-based)
 * and a short excerpt of the tag they occurred in; errors the template raises itself ({@code raise_exception(msg)})
 * carry exactly the template's message, as transformers surfaces them.
 */
public final class TemplateException extends RuntimeException {
    private final int line;
    private final int column;

    TemplateException(String detail, int line, int column, String excerpt) {
        super("template line " + line + ", column " + column + ": " + detail
                + (excerpt == null || excerpt.isEmpty() ? "" : " in `" + excerpt + "`"));
        this.line = line;
        this.column = column;
    }

    /** An error raised by the template itself; the message is the template's own. */
    TemplateException(String templateMessage, int line, int column) {
        super(templateMessage);
        this.line = line;
        this.column = column;
    }

    /** 1-based template line of the failing construct, or 0 when not known. */
    public int line() {
        return line;
    }

    /** 1-based column of the failing construct, or 0 when not known. */
    public int column() {
        return column;
    }
}
