package io.vqwen.engine.template;

import java.util.Arrays;

/** Template text after jinja2's newline normalisation, with offset -> line/column mapping for error messages. */
final class Source {
    final String text;
    private final int[] lineStarts;

    Source(String raw) {
        // jinja2 Lexer.tokeniter: newlines normalised to "\n" and one trailing newline dropped (keep_trailing_newline=False)
        String t = raw.replace("\r\n", "\n").replace('\r', '\n');
        this.text = t.endsWith("\n") ? t.substring(0, t.length() - 1) : t;
        int[] starts = new int[16];
        int count = 0;
        starts[count++] = 0;
        for (int i = 0; i < text.length(); i++) {
            if (text.charAt(i) == '\n') {
                if (count == starts.length) starts = Arrays.copyOf(starts, count * 2);
                starts[count++] = i + 1;
            }
        }
        this.lineStarts = Arrays.copyOf(starts, count);
    }

    int line(int pos) {
        int i = Arrays.binarySearch(lineStarts, pos);
        return (i >= 0 ? i : -i - 2) + 1;
    }

    int column(int pos) {
        return pos - lineStarts[line(pos) - 1] + 1;
    }

    /** The tag text [start, end) on one line, shortened, for the error message. */
    String excerpt(int start, int end) {
        if (start < 0 || end <= start) return "";
        String s = text.substring(start, Math.min(end, text.length())).replaceAll("\\s+", " ").strip();
        return s.length() > 120 ? s.substring(0, 117) + "..." : s;
    }

    TemplateException error(int pos, String detail, String excerpt) {
        return new TemplateException(detail, line(pos), column(pos), excerpt);
    }
}
