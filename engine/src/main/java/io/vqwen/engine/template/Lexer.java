package io.vqwen.engine.template;

import java.math.BigInteger;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * jinja2's lexer (jinja2/lexer.py) with the default delimiters, trim_blocks, lstrip_blocks and the {@code -}/{@code +}
 * whitespace-control signs. Comments are dropped here; {@code {% raw %}} becomes plain data.
 */
final class Lexer {
    enum Kind { DATA, VAR_BEGIN, VAR_END, BLOCK_BEGIN, BLOCK_END, NAME, STRING, INT, FLOAT, OP, EOF }

    record Token(Kind kind, String text, Object value, int pos) {
        boolean isName(String name) {
            return kind == Kind.NAME && text.equals(name);
        }

        boolean isOp(String op) {
            return kind == Kind.OP && text.equals(op);
        }

        String describe() {
            return switch (kind) {
                case EOF -> "end of template";
                case VAR_END -> "end of print statement";
                case BLOCK_END -> "end of statement block";
                case DATA -> "template data";
                default -> text;
            };
        }
    }

    private static final int FLAGS = Pattern.UNICODE_CHARACTER_CLASS;
    // jinja2 lexer.float_re / integer_re
    private static final Pattern FLOAT = Pattern.compile(
            "(?<!\\.)(\\d+_)*\\d+((\\.(\\d+_)*\\d+)?[eE][+\\-]?(\\d+_)*\\d+|\\.(\\d+_)*\\d+)");
    private static final Pattern INTEGER = Pattern.compile(
            "0[bB](_?[01])+|0[oO](_?[0-7])+|0[xX](_?[0-9a-fA-F])+|[1-9](_?\\d)*|0(_?0)*");
    private static final Pattern RAW_BEGIN = Pattern.compile("\\{%[-+]?\\s*raw\\s*(?:-%}\\s*|%})", FLAGS);
    private static final Pattern RAW_END = Pattern.compile("\\{%([-+]?)\\s*endraw\\s*(\\+%}|-%}\\s*|%})", FLAGS);

    private final Source src;
    private final String text;
    private final boolean trimBlocks;
    private final boolean lstripBlocks;
    private final List<Token> tokens = new ArrayList<>();

    private Lexer(Source src, boolean trimBlocks, boolean lstripBlocks) {
        this.src = src;
        this.text = src.text;
        this.trimBlocks = trimBlocks;
        this.lstripBlocks = lstripBlocks;
    }

    static List<Token> tokenize(Source src, boolean trimBlocks, boolean lstripBlocks) {
        Lexer lexer = new Lexer(src, trimBlocks, lstripBlocks);
        lexer.run();
        return lexer.tokens;
    }

    private void run() {
        int n = text.length();
        int pos = 0;
        while (pos < n) {
            int tag = nextTagStart(pos);
            if (tag < 0) {
                tokens.add(new Token(Kind.DATA, text.substring(pos), null, pos));
                break;
            }
            char kind = text.charAt(tag + 1);
            int after = tag + 2;
            char sign = after < n && (text.charAt(after) == '-' || text.charAt(after) == '+') ? text.charAt(after) : 0;
            // jinja2: line_starting is whether the previous match ended with a newline (or this is the start)
            addData(text.substring(pos, tag), pos, sign, kind != '{', pos == 0 || text.charAt(pos - 1) == '\n');
            Matcher raw = RAW_BEGIN.matcher(text).region(tag, n);
            if (kind == '%' && raw.lookingAt()) {
                pos = lexRaw(tag, raw.end());
            } else if (kind == '#') {
                pos = skipComment(tag, after + (sign != 0 ? 1 : 0));
            } else {
                boolean variable = kind == '{';
                tokens.add(new Token(variable ? Kind.VAR_BEGIN : Kind.BLOCK_BEGIN, text.substring(tag, after), null, tag));
                pos = lexTag(tag, after + (sign != 0 ? 1 : 0), variable);
            }
        }
        tokens.add(new Token(Kind.EOF, "", null, n));
    }

    private int nextTagStart(int from) {
        for (int i = text.indexOf('{', from); i >= 0 && i + 1 < text.length(); i = text.indexOf('{', i + 1)) {
            char c = text.charAt(i + 1);
            if (c == '{' || c == '%' || c == '#') return i;
        }
        return -1;
    }

    /** Data before a tag, after the tag's whitespace control (jinja2 OptionalLStrip). */
    private void addData(String data, int pos, char sign, boolean blockOrComment, boolean lineStarting) {
        if (sign == '-') {
            data = Py.rstripSpace(data);
        } else if (sign != '+' && lstripBlocks && blockOrComment) {
            int lpos = data.lastIndexOf('\n') + 1;
            if ((lpos > 0 || lineStarting) && lpos < data.length() && Py.isAllSpace(data.substring(lpos))) {
                data = data.substring(0, lpos);
            }
        }
        if (!data.isEmpty()) tokens.add(new Token(Kind.DATA, data, null, pos));
    }

    private int lexRaw(int tag, int contentStart) {
        Matcher end = RAW_END.matcher(text);
        if (!end.find(contentStart)) throw src.error(tag, "missing end of raw directive ({% endraw %})", "{% raw %}");
        addData(text.substring(contentStart, end.start()), contentStart, signOf(end.group(1)), true,
                text.charAt(contentStart - 1) == '\n');
        int pos = end.end();
        if (end.group(2).equals("%}") && trimBlocks && pos < text.length() && text.charAt(pos) == '\n') pos++;
        return pos;
    }

    private static char signOf(String s) {
        return s.isEmpty() ? 0 : s.charAt(0);
    }

    private int skipComment(int tag, int from) {
        for (int i = from; i < text.length(); i++) {
            if (text.startsWith("+#}", i)) return i + 3;
            if (text.startsWith("-#}", i)) return skipSpace(i + 3);
            if (text.startsWith("#}", i)) return trimNewline(i + 2);
        }
        throw src.error(tag, "missing end of comment tag", "{#");
    }

    private int skipSpace(int p) {
        while (p < text.length() && Py.isSpace(text.charAt(p))) p++;
        return p;
    }

    private int trimNewline(int p) {
        return trimBlocks && p < text.length() && text.charAt(p) == '\n' ? p + 1 : p;
    }

    private int lexTag(int tag, int p, boolean variable) {
        Deque<Character> balance = new ArrayDeque<>();
        int n = text.length();
        while (true) {
            if (p >= n) {
                throw src.error(tag, "unexpected end of template: tag opened here is never closed (missing "
                        + (variable ? "'}}'" : "'%}'") + ")", src.excerpt(tag, tag + 40));
            }
            // jinja2 only recognises the end of a tag while brackets are balanced
            if (balance.isEmpty()) {
                if (variable) {
                    if (text.startsWith("-}}", p)) return end(Kind.VAR_END, p, skipSpace(p + 3));
                    if (text.startsWith("}}", p)) return end(Kind.VAR_END, p, p + 2);
                } else {
                    if (text.startsWith("+%}", p)) return end(Kind.BLOCK_END, p, p + 3);
                    if (text.startsWith("-%}", p)) return end(Kind.BLOCK_END, p, skipSpace(p + 3));
                    if (text.startsWith("%}", p)) return end(Kind.BLOCK_END, p, trimNewline(p + 2));
                }
            }
            char c = text.charAt(p);
            if (Py.isSpace(c)) {
                p++;
                continue;
            }
            Matcher m;
            if ((m = match(FLOAT, p)) != null) {
                tokens.add(new Token(Kind.FLOAT, m.group(), Double.parseDouble(m.group().replace("_", "")), p));
                p = m.end();
            } else if ((m = match(INTEGER, p)) != null) {
                tokens.add(new Token(Kind.INT, m.group(), parseInt(m.group(), p), p));
                p = m.end();
            } else if (Character.isLetter(c) || c == '_') {
                int e = p + 1;
                while (e < n && (Character.isLetterOrDigit(text.charAt(e)) || text.charAt(e) == '_')) e++;
                tokens.add(new Token(Kind.NAME, text.substring(p, e), null, p));
                p = e;
            } else if (c == '\'' || c == '"') {
                p = lexString(p, c);
            } else {
                p = lexOperator(p, c, balance);
            }
        }
    }

    private int end(Kind kind, int at, int next) {
        tokens.add(new Token(kind, text.substring(at, next).strip(), null, at));
        return next;
    }

    private Matcher match(Pattern pattern, int p) {
        Matcher m = pattern.matcher(text).region(p, text.length()).useTransparentBounds(true);
        return m.lookingAt() ? m : null;
    }

    private Long parseInt(String literal, int pos) {
        String digits = literal.replace("_", "");
        int radix = 10;
        if (digits.length() > 1 && Character.isLetter(digits.charAt(1))) {
            radix = switch (Character.toLowerCase(digits.charAt(1))) { case 'b' -> 2; case 'o' -> 8; default -> 16; };
            digits = digits.substring(2);
        }
        BigInteger v = new BigInteger(digits, radix);
        if (v.bitLength() > 63) throw src.error(pos, "integer literal does not fit in 64 bits", literal);
        return v.longValue();
    }

    private int lexString(int start, char quote) {
        int n = text.length();
        int p = start + 1;
        while (p < n && text.charAt(p) != quote) p += text.charAt(p) == '\\' ? 2 : 1;
        if (p >= n) throw src.error(start, "unterminated string literal", src.excerpt(start, start + 30));
        tokens.add(new Token(Kind.STRING, text.substring(start, p + 1), unescape(text.substring(start + 1, p), start), start));
        return p + 1;
    }

    /** Python's "unicode-escape" decoding, which jinja2 applies to string literals. */
    private String unescape(String s, int pos) {
        if (s.indexOf('\\') < 0) return s;
        StringBuilder b = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c != '\\' || i + 1 >= s.length()) {
                b.append(c);
                continue;
            }
            char e = s.charAt(++i);
            switch (e) {
                case '\n' -> { }
                case '\\', '\'', '"' -> b.append(e);
                case 'a' -> b.append('\u0007');
                case 'b' -> b.append('\b');
                case 'f' -> b.append('\f');
                case 'n' -> b.append('\n');
                case 'r' -> b.append('\r');
                case 't' -> b.append('\t');
                case 'v' -> b.append('\u000b');
                case 'x', 'u', 'U' -> {
                    int len = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                    if (i + len >= s.length()) {
                        throw src.error(pos, "truncated \\" + e + " escape in string literal", src.excerpt(pos, pos + 30));
                    }
                    String hex = s.substring(i + 1, i + 1 + len);
                    if (!hex.matches("[0-9a-fA-F]+")) {
                        throw src.error(pos, "truncated \\" + e + " escape in string literal", src.excerpt(pos, pos + 30));
                    }
                    b.appendCodePoint(Integer.parseInt(hex, 16));
                    i += len;
                }
                default -> {
                    if (e >= '0' && e <= '7') {
                        int j = i;
                        while (j < s.length() && j < i + 3 && s.charAt(j) >= '0' && s.charAt(j) <= '7') j++;
                        b.appendCodePoint(Integer.parseInt(s.substring(i, j), 8));
                        i = j - 1;
                    } else if (e == 'N') {
                        throw src.error(pos, "\\N{...} escapes are not supported", src.excerpt(pos, pos + 30));
                    } else {
                        b.append('\\').append(e); // Python keeps unknown escapes verbatim
                    }
                }
            }
        }
        return b.toString();
    }

    private int lexOperator(int p, char c, Deque<Character> balance) {
        String two = p + 2 <= text.length() ? text.substring(p, p + 2) : "";
        String op = switch (two) {
            case "//", "**", "==", "!=", ">=", "<=" -> two;
            default -> "+-/*%~[](){}><=.:|,;".indexOf(c) >= 0 ? String.valueOf(c) : null;
        };
        if (op == null) throw src.error(p, "unexpected character '" + c + "'", src.excerpt(p, p + 20));
        switch (c) {
            case '(' -> balance.push(')');
            case '[' -> balance.push(']');
            case '{' -> balance.push('}');
            case ')', ']', '}' -> {
                if (balance.isEmpty()) throw src.error(p, "unexpected '" + c + "'", src.excerpt(p, p + 20));
                char expected = balance.pop();
                if (expected != c) {
                    throw src.error(p, "unexpected '" + c + "', expected '" + expected + "'", src.excerpt(p, p + 20));
                }
            }
            default -> { }
        }
        tokens.add(new Token(Kind.OP, op, null, p));
        return p + op.length();
    }
}
