package io.vqwen.engine.template;

import io.vqwen.engine.template.Py.Builtin;
import io.vqwen.engine.template.Py.HasAttrs;
import io.vqwen.engine.template.Py.PyError;
import io.vqwen.engine.template.Py.Seq;
import io.vqwen.engine.template.Py.Undefined;
import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Attribute and item access as jinja2's ImmutableSandboxedEnvironment does it, and the Python methods of str, dict,
 * list and tuple that templates call ({@code content.startswith(...)}, {@code message.items()}, ...).
 */
final class PyMethods {
    private PyMethods() {
    }

    private static final Set<String> UNSUPPORTED_STR = Set.of("casefold", "encode", "expandtabs", "format_map",
            "isidentifier", "isprintable", "istitle", "maketrans", "translate");
    private static final Set<String> MUTATING_DICT = Set.of("clear", "pop", "popitem", "setdefault", "update");
    private static final Set<String> MUTATING_LIST = Set.of("append", "clear", "extend", "insert", "pop", "remove",
            "reverse", "sort");

    /** Environment.getattr: the Python attribute first, then {@code obj[name]}, else Undefined. */
    static Object getattr(Object obj, String name) {
        if (obj instanceof Undefined u) throw u.error();
        if (name.startsWith("__") && name.endsWith("__")) return unsafe(obj, name);
        Object method = method(obj, name);
        if (method != null) return method;
        if (obj instanceof Map<?, ?> m) {
            Object k = Py.findKey(m, name);
            if (k != Py.NO_KEY) return m.get(k);
        }
        if (obj instanceof HasAttrs h) return h.attr(name);
        return Undefined.attr(obj, name);
    }

    /** Environment.getitem: {@code obj[key]} first, then the attribute named key, else Undefined. */
    static Object getitem(Object obj, Object key) {
        if (obj instanceof Undefined u) throw u.error();
        switch (obj) {
            case String s when Py.isInt(key) -> {
                List<Object> chars = Py.codePointStrings(s);
                int i = index(Py.asLong(key), chars.size());
                if (i >= 0) return chars.get(i);
            }
            case Seq q when Py.isInt(key) && !q.kind.startsWith("dict_") -> {
                int i = index(Py.asLong(key), q.size());
                if (i >= 0) return q.get(i);
            }
            case List<?> l when Py.isInt(key) && !(l instanceof Seq) -> {
                int i = index(Py.asLong(key), l.size());
                if (i >= 0) return l.get(i);
            }
            case Map<?, ?> m when !(key instanceof List<?> && !(key instanceof Seq)) && !(key instanceof Map<?, ?>) -> {
                Object k = Py.findKey(m, key);
                if (k != Py.NO_KEY) return m.get(k);
            }
            default -> {
            }
        }
        if (key instanceof String name) {
            if (name.startsWith("__") && name.endsWith("__")) return unsafe(obj, name);
            Object method = method(obj, name);
            if (method != null) return method;
            if (obj instanceof HasAttrs h) return h.attr(name);
        }
        return Undefined.attr(obj, key);
    }

    private static int index(long i, int size) {
        long j = i < 0 ? i + size : i;
        return j >= 0 && j < size ? (int) j : -1;
    }

    private static Undefined unsafe(Object obj, String name) {
        return Undefined.hint("access to attribute '" + name + "' of '" + Py.typeName(obj) + "' object is unsafe.");
    }

    // ---- slicing

    /**
     * {@code obj[start:stop:step]} on str, list, tuple and range. jinja2 compiles slices to a plain Python subscript
     * (not Environment.getitem), so a failing slice raises instead of giving Undefined.
     */
    static Object slice(Object obj, Object start, Object stop, Object step) {
        if (obj instanceof Undefined u) throw u.error();
        boolean seq = obj instanceof String || (obj instanceof List<?> l && (!(l instanceof Seq q) || !q.kind.startsWith("dict_")));
        if (obj instanceof Map<?, ?>) throw Py.typeError("unhashable type: 'slice'");
        if (!seq) throw Py.typeError("'" + Py.typeName(obj) + "' object is not subscriptable");
        if (!bound(start) || !bound(stop) || !bound(step)) {
            throw Py.typeError("slice indices must be integers or None or have an __index__ method");
        }
        List<Object> items = obj instanceof String s ? Py.codePointStrings(s) : new ArrayList<>((List<?>) obj);
        List<Object> out = new ArrayList<>();
        long[] ix = sliceIndices(start, stop, step, items.size());
        for (long k = 0, i = ix[0]; k < ix[3]; k++, i += ix[2]) out.add(items.get((int) i));
        return switch (obj) {
            case String s -> String.join("", out.stream().map(o -> (String) o).toList());
            case Py.RangeSeq r -> new Py.RangeSeq(r.start + ix[0] * r.step, r.start + ix[1] * r.step, r.step * ix[2],
                    Collections.unmodifiableList(out));
            case Seq q -> Py.tupleOf(out);
            default -> out;
        };
    }

    private static boolean bound(Object v) {
        return v == null || Py.isInt(v);
    }

    /** PySlice_GetIndicesEx: {start, stop, step, length}. */
    static long[] sliceIndices(Object startV, Object stopV, Object stepV, long len) {
        long step = stepV == null ? 1 : Py.asLong(stepV);
        if (step == 0) throw new PyError("slice step cannot be zero");
        long start = startV == null ? (step < 0 ? len - 1 : 0) : adjust(Py.asLong(startV), len, step);
        long stop = stopV == null ? (step < 0 ? -1 : len) : adjust(Py.asLong(stopV), len, step);
        long count;
        if (step < 0) count = stop < start ? (start - stop - 1) / -step + 1 : 0;
        else count = start < stop ? (stop - start - 1) / step + 1 : 0;
        return new long[] {start, stop, step, count};
    }

    private static long adjust(long i, long len, long step) {
        if (i < 0) {
            i += len;
            if (i < 0) i = step < 0 ? -1 : 0;
        } else if (i >= len) {
            i = step < 0 ? len - 1 : len;
        }
        return i;
    }

    // ---- methods

    /** Python getattr only (no item fallback), for the {@code attr} filter. */
    static Object attribute(Object obj, String name) {
        if (obj instanceof Undefined u) throw u.error();
        if (name.startsWith("__") && name.endsWith("__")) return unsafe(obj, name);
        Object method = method(obj, name);
        if (method != null) return method;
        if (obj instanceof HasAttrs h) return h.attr(name);
        return Undefined.attr(obj, name);
    }

    private static Object method(Object obj, String name) {
        return switch (obj) {
            case String s -> strMethod(s, name);
            case Map<?, ?> m -> dictMethod(m, name);
            case Seq q -> q.kind.equals("tuple") ? sequenceMethod(q, name, "tuple") : null;
            case List<?> l -> MUTATING_LIST.contains(name) ? unsafe(l, name) : sequenceMethod(l, name, "list");
            case null, default -> null;
        };
    }

    private static Builtin fn(String owner, String name, Py.Fn fn) {
        return new Builtin(owner + "." + name, fn);
    }

    private static Object dictMethod(Map<?, ?> m, String name) {
        if (MUTATING_DICT.contains(name)) return unsafe(m, name);
        return switch (name) {
            case "keys" -> fn("dict", name, (a, k) -> view("dict_keys", new ArrayList<>(m.keySet()), a, k, name));
            case "values" -> fn("dict", name, (a, k) -> view("dict_values", new ArrayList<>(m.values()), a, k, name));
            case "items" -> fn("dict", name, (a, k) -> {
                List<Object> items = new ArrayList<>();
                m.forEach((key, v) -> items.add(Seq.tuple(key, v)));
                return view("dict_items", items, a, k, name);
            });
            case "get" -> fn("dict", name, (a, k) -> {
                Object[] p = Params.bind("dict.get", a, k, "key", Params.REQUIRED, "default", null);
                Object key = Py.findKey(m, p[0]);
                return key == Py.NO_KEY ? p[1] : m.get(key);
            });
            case "copy" -> fn("dict", name, (a, k) -> {
                Params.noArgs("dict.copy", a, k);
                return new LinkedHashMap<Object, Object>(m);
            });
            case "fromkeys" -> throw new PyError("dict.fromkeys() is not supported by this chat-template engine");
            default -> null;
        };
    }

    private static Seq view(String kind, List<Object> items, List<Object> a, Map<String, Object> k, String name) {
        Params.noArgs("dict." + name, a, k);
        return new Seq(kind, Collections.unmodifiableList(items));
    }

    private static Object sequenceMethod(List<?> l, String name, String owner) {
        return switch (name) {
            case "count" -> fn(owner, name, (a, k) -> {
                Object x = Params.bind(owner + ".count", a, k, "value", Params.REQUIRED)[0];
                return l.stream().filter(o -> Py.eq(o, x)).count();
            });
            case "index" -> fn(owner, name, (a, k) -> {
                Object[] p = Params.bind(owner + ".index", a, k, "value", Params.REQUIRED, "start", 0L, "stop", (long) l.size());
                long[] ix = sliceIndices(p[1], p[2], null, l.size());
                for (long i = ix[0]; i < ix[0] + ix[3]; i++) if (Py.eq(l.get((int) i), p[0])) return i;
                throw new PyError(owner + ".index(x): x not in " + owner);
            });
            case "copy" -> owner.equals("list") ? fn(owner, name, (a, k) -> {
                Params.noArgs("list.copy", a, k);
                return new ArrayList<Object>(l);
            }) : null;
            default -> null;
        };
    }

    private static Object strMethod(String s, String name) {
        if (UNSUPPORTED_STR.contains(name)) {
            throw new PyError("str." + name + "() is not supported by this chat-template engine");
        }
        return switch (name) {
            case "startswith", "endswith" -> fn("str", name, (a, k) -> {
                Object[] p = Params.bind("str." + name, a, k, "prefix", Params.REQUIRED, "start", null, "end", null);
                String sub = p[1] == null && p[2] == null ? s : (String) slice(s, p[1], p[2], null);
                List<?> options = p[0] instanceof Seq t && t.kind.equals("tuple") ? t : Collections.singletonList(p[0]);
                for (Object o : options) {
                    if (!(o instanceof String x)) {
                        throw Py.typeError(name + " first arg must be str or a tuple of str, not " + Py.typeName(p[0]));
                    }
                    if (name.equals("startswith") ? sub.startsWith(x) : sub.endsWith(x)) return true;
                }
                return false;
            });
            case "strip", "lstrip", "rstrip" -> fn("str", name, (a, k) -> {
                Object chars = Params.bind("str." + name, a, k, "chars", null)[0];
                if (chars != null && !(chars instanceof String)) {
                    throw Py.typeError(name + " arg must be None or str");
                }
                return Py.strip(s, (String) chars, !name.equals("rstrip"), !name.equals("lstrip"));
            });
            case "split", "rsplit" -> fn("str", name, (a, k) -> {
                Object[] p = Params.bind("str." + name, a, k, "sep", null, "maxsplit", -1L);
                if (p[0] != null && !(p[0] instanceof String)) {
                    throw Py.typeError("must be str or None, not " + Py.typeName(p[0]));
                }
                long max = Py.intArg(p[1], "maxsplit");
                return name.equals("split") ? split(s, (String) p[0], max) : rsplit(s, (String) p[0], max);
            });
            case "upper" -> fn("str", name, (a, k) -> noArgs(name, a, k, s.toUpperCase(Locale.ROOT)));
            case "lower" -> fn("str", name, (a, k) -> noArgs(name, a, k, s.toLowerCase(Locale.ROOT)));
            case "title" -> fn("str", name, (a, k) -> noArgs(name, a, k, title(s)));
            case "capitalize" -> fn("str", name, (a, k) -> noArgs(name, a, k, capitalize(s)));
            case "swapcase" -> fn("str", name, (a, k) -> noArgs(name, a, k, swapcase(s)));
            case "replace" -> fn("str", name, (a, k) -> {
                Object[] p = Params.bind("str.replace", a, k, "old", Params.REQUIRED, "new", Params.REQUIRED, "count", -1L);
                return replace(s, strArg(p[0], "replace"), strArg(p[1], "replace"), Py.intArg(p[2], "count"));
            });
            case "find", "rfind", "index", "rindex", "count" -> fn("str", name, (a, k) -> {
                Object[] p = Params.bind("str." + name, a, k, "sub", Params.REQUIRED, "start", null, "end", null);
                return find(s, strArg(p[0], name), p[1], p[2], name);
            });
            case "join" -> fn("str", name, (a, k) -> {
                Object it = Params.bind("str.join", a, k, "iterable", Params.REQUIRED)[0];
                StringBuilder b = new StringBuilder();
                int i = 0;
                for (Object o : Py.toList(it)) {
                    if (!(o instanceof String x)) {
                        throw Py.typeError("sequence item " + i + ": expected str instance, " + Py.typeName(o) + " found");
                    }
                    if (i++ > 0) b.append(s);
                    b.append(x);
                }
                return b.toString();
            });
            case "splitlines" -> fn("str", name, (a, k) -> {
                Object keep = Params.bind("str.splitlines", a, k, "keepends", false)[0];
                return splitlines(s, Py.truthy(keep));
            });
            case "partition", "rpartition" -> fn("str", name, (a, k) -> {
                String sep = strArg(Params.bind("str." + name, a, k, "sep", Params.REQUIRED)[0], name);
                if (sep.isEmpty()) throw new PyError("empty separator");
                int i = name.equals("partition") ? s.indexOf(sep) : s.lastIndexOf(sep);
                if (i < 0) return name.equals("partition") ? Seq.tuple(s, "", "") : Seq.tuple("", "", s);
                return Seq.tuple(s.substring(0, i), sep, s.substring(i + sep.length()));
            });
            case "removeprefix" -> fn("str", name, (a, k) -> {
                String x = strArg(Params.bind("str." + name, a, k, "prefix", Params.REQUIRED)[0], name);
                return s.startsWith(x) ? s.substring(x.length()) : s;
            });
            case "removesuffix" -> fn("str", name, (a, k) -> {
                String x = strArg(Params.bind("str." + name, a, k, "suffix", Params.REQUIRED)[0], name);
                return !x.isEmpty() && s.endsWith(x) ? s.substring(0, s.length() - x.length()) : s;
            });
            case "center", "ljust", "rjust" -> fn("str", name, (a, k) -> {
                Object[] p = Params.bind("str." + name, a, k, "width", Params.REQUIRED, "fillchar", " ");
                return pad(s, Py.intArg(p[0], "width"), strArg(p[1], name), name);
            });
            case "zfill" -> fn("str", name, (a, k) -> {
                long width = Py.intArg(Params.bind("str.zfill", a, k, "width", Params.REQUIRED)[0], "width");
                int len = Py.len(s);
                if (len >= width) return s;
                String zeros = "0".repeat((int) (width - len));
                boolean sign = !s.isEmpty() && (s.charAt(0) == '+' || s.charAt(0) == '-');
                return sign ? s.charAt(0) + zeros + s.substring(1) : zeros + s;
            });
            case "format" -> fn("str", name, (a, k) -> format(s, a, k));
            case "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "isnumeric", "isspace", "islower", "isupper" ->
                    fn("str", name, (a, k) -> noArgs(name, a, k, classify(s, name)));
            default -> null;
        };
    }

    private static Object noArgs(String name, List<Object> a, Map<String, Object> k, Object result) {
        Params.noArgs("str." + name, a, k);
        return result;
    }

    private static String strArg(Object v, String fn) {
        if (v instanceof String s) return s;
        throw Py.typeError(fn + "() argument must be str, not " + Py.typeName(v));
    }

    static List<Object> split(String s, String sep, long max) {
        List<Object> out = new ArrayList<>();
        if (sep == null) {
            int i = 0;
            int n = s.length();
            while (true) {
                while (i < n && Py.isSpace(s.charAt(i))) i++;
                if (i >= n) break;
                if (max >= 0 && out.size() == max) {
                    out.add(s.substring(i));
                    break;
                }
                int j = i;
                while (j < n && !Py.isSpace(s.charAt(j))) j++;
                out.add(s.substring(i, j));
                i = j;
            }
            return out;
        }
        if (sep.isEmpty()) throw new PyError("empty separator");
        int i = 0;
        while (max < 0 || out.size() < max) {
            int j = s.indexOf(sep, i);
            if (j < 0) break;
            out.add(s.substring(i, j));
            i = j + sep.length();
        }
        out.add(s.substring(i));
        return out;
    }

    static List<Object> rsplit(String s, String sep, long max) {
        List<Object> out = new ArrayList<>();
        if (sep == null) {
            int j = s.length();
            while (true) {
                while (j > 0 && Py.isSpace(s.charAt(j - 1))) j--;
                if (j <= 0) break;
                if (max >= 0 && out.size() == max) {
                    out.add(s.substring(0, j));
                    break;
                }
                int i = j;
                while (i > 0 && !Py.isSpace(s.charAt(i - 1))) i--;
                out.add(s.substring(i, j));
                j = i;
            }
        } else {
            if (sep.isEmpty()) throw new PyError("empty separator");
            int j = s.length();
            while (max < 0 || out.size() < max) {
                int i = s.lastIndexOf(sep, j - sep.length());
                if (i < 0) break;
                out.add(s.substring(i + sep.length(), j));
                j = i;
            }
            out.add(s.substring(0, j));
        }
        Collections.reverse(out);
        return out;
    }

    private static String replace(String s, String old, String rep, long count) {
        if (count < 0) count = Long.MAX_VALUE;
        StringBuilder b = new StringBuilder();
        if (old.isEmpty()) {
            int[] cps = s.codePoints().toArray();
            long done = 0;
            for (int cp : cps) {
                if (done++ < count) b.append(rep);
                b.appendCodePoint(cp);
            }
            if (done < count) b.append(rep);
            return b.toString();
        }
        int i = 0;
        for (long done = 0; done < count; done++) {
            int j = s.indexOf(old, i);
            if (j < 0) break;
            b.append(s, i, j).append(rep);
            i = j + old.length();
        }
        return b.append(s.substring(i)).toString();
    }

    /** find / rfind / index / rindex / count, with code-point indices and Python's bound adjustment. */
    private static Object find(String s, String sub, Object startV, Object endV, String how) {
        int[] hay = s.codePoints().toArray();
        int[] needle = sub.codePoints().toArray();
        int len = hay.length;
        long start = startV == null ? 0 : Py.intArg(startV, "start");
        long end = endV == null ? len : Py.intArg(endV, "end");
        if (end > len) end = len;
        else if (end < 0) end = Math.max(0, end + len);
        if (start < 0) start = Math.max(0, start + len);
        if (how.equals("count")) {
            if (start > len) return 0L;
            if (needle.length == 0) return start <= end ? end - start + 1 : 0L;
            long n = 0;
            for (long i = start; i + needle.length <= end; ) {
                if (matchesAt(hay, needle, (int) i)) {
                    n++;
                    i += needle.length;
                } else {
                    i++;
                }
            }
            return n;
        }
        long found = -1;
        if (start <= len && end - start >= needle.length) {
            if (how.startsWith("r")) {
                for (long i = end - needle.length; i >= start; i--) if (matchesAt(hay, needle, (int) i)) { found = i; break; }
            } else {
                for (long i = start; i + needle.length <= end; i++) if (matchesAt(hay, needle, (int) i)) { found = i; break; }
            }
        }
        if (found < 0 && how.contains("index")) throw new PyError("substring not found");
        return found;
    }

    private static boolean matchesAt(int[] hay, int[] needle, int at) {
        for (int j = 0; j < needle.length; j++) if (hay[at + j] != needle[j]) return false;
        return true;
    }

    static List<Object> splitlines(String s, boolean keepEnds) {
        List<Object> out = new ArrayList<>();
        int start = 0;
        int i = 0;
        while (i < s.length()) {
            char c = s.charAt(i);
            int eol = i + 1;
            boolean br = switch (c) {
                case '\n', '\u000b', '\u000c', '\u001c', '\u001d', '\u001e', '\u0085', '\u2028', '\u2029' -> true;
                case '\r' -> {
                    if (i + 1 < s.length() && s.charAt(i + 1) == '\n') eol = i + 2;
                    yield true;
                }
                default -> false;
            };
            if (br) {
                out.add(s.substring(start, keepEnds ? eol : i));
                start = eol;
                i = eol;
            } else {
                i++;
            }
        }
        if (start < s.length()) out.add(s.substring(start));
        return out;
    }

    private static boolean cased(int cp) {
        return Character.isUpperCase(cp) || Character.isLowerCase(cp) || Character.isTitleCase(cp);
    }

    static String title(String s) {
        StringBuilder b = new StringBuilder();
        boolean prevCased = false;
        for (int cp : s.codePoints().toArray()) {
            b.appendCodePoint(prevCased ? Character.toLowerCase(cp) : Character.toTitleCase(cp));
            prevCased = cased(cp);
        }
        return b.toString();
    }

    static String capitalize(String s) {
        if (s.isEmpty()) return s;
        int first = s.codePointAt(0);
        return new StringBuilder().appendCodePoint(Character.toTitleCase(first))
                .append(s.substring(Character.charCount(first)).toLowerCase(Locale.ROOT)).toString();
    }

    private static String swapcase(String s) {
        StringBuilder b = new StringBuilder();
        s.codePoints().forEach(cp -> b.appendCodePoint(
                Character.isUpperCase(cp) ? Character.toLowerCase(cp) : Character.isLowerCase(cp) ? Character.toUpperCase(cp) : cp));
        return b.toString();
    }

    private static String pad(String s, long width, String fill, String how) {
        if (fill.codePointCount(0, fill.length()) != 1) {
            throw Py.typeError("The fill character must be exactly one character long");
        }
        long marg = width - Py.len(s);
        if (marg <= 0) return s;
        long left = switch (how) {
            case "ljust" -> 0;
            case "rjust" -> marg;
            default -> marg / 2 + (marg & width & 1); // CPython pad() for center
        };
        return fill.repeat((int) left) + s + fill.repeat((int) (marg - left));
    }

    private static boolean classify(String s, String how) {
        if (s.isEmpty()) return how.equals("isascii");
        int[] cps = s.codePoints().toArray();
        if (how.equals("islower") || how.equals("isupper")) {
            boolean anyCased = false;
            for (int cp : cps) {
                if (Character.isTitleCase(cp) || (how.equals("islower") ? Character.isUpperCase(cp) : Character.isLowerCase(cp))) {
                    return false;
                }
                anyCased |= cased(cp);
            }
            return anyCased;
        }
        for (int cp : cps) {
            int type = Character.getType(cp);
            boolean ok = switch (how) {
                case "isalpha" -> Character.isLetter(cp);
                case "isascii" -> cp < 0x80;
                case "isdecimal", "isdigit" -> type == Character.DECIMAL_DIGIT_NUMBER;
                case "isnumeric" -> type == Character.DECIMAL_DIGIT_NUMBER || type == Character.LETTER_NUMBER
                        || type == Character.OTHER_NUMBER;
                case "isalnum" -> Character.isLetter(cp) || type == Character.DECIMAL_DIGIT_NUMBER
                        || type == Character.LETTER_NUMBER || type == Character.OTHER_NUMBER;
                case "isspace" -> Py.isSpace(cp);
                default -> throw new IllegalStateException(how);
            };
            if (!ok) return false;
        }
        return true;
    }

    /** printf-style {@code fmt % args} (also the {@code format} filter) for the s r a d i f F e E x X o c conversions. */
    static String percentFormat(String fmt, Object arg) {
        Map<?, ?> mapping = arg instanceof Map<?, ?> m ? m : null;
        List<?> args = arg instanceof Seq t && t.kind.equals("tuple") ? t : Collections.singletonList(arg);
        int next = 0;
        StringBuilder b = new StringBuilder();
        Matcher m = SPEC.matcher(fmt);
        int at = 0;
        while (at < fmt.length()) {
            int pct = fmt.indexOf('%', at);
            if (pct < 0) {
                b.append(fmt, at, fmt.length());
                break;
            }
            b.append(fmt, at, pct);
            if (!m.find(pct) || m.start() != pct) throw new PyError("unsupported format character in '" + fmt + "'");
            at = m.end();
            char conv = m.group(5).charAt(0);
            if (conv == '%') {
                b.append('%');
                continue;
            }
            Object v;
            if (m.group(1) != null) {
                if (mapping == null) throw Py.typeError("format requires a mapping");
                Object key = Py.findKey(mapping, m.group(1));
                if (key == Py.NO_KEY) throw new PyError("KeyError: " + Py.strRepr(m.group(1)));
                v = mapping.get(key);
            } else {
                if (next >= args.size()) throw Py.typeError("not enough arguments for format string");
                v = args.get(next++);
            }
            String flags = m.group(2);
            int width = m.group(3).isEmpty() ? 0 : Integer.parseInt(m.group(3));
            int precision = m.group(4) == null ? -1 : m.group(4).isEmpty() ? 0 : Integer.parseInt(m.group(4));
            b.append(formatOne(v, conv, flags, width, precision));
        }
        if (mapping == null && next < args.size()) throw Py.typeError("not all arguments converted during string formatting");
        return b.toString();
    }

    private static final Pattern SPEC = Pattern.compile("%(?:\\(([^)]*)\\))?([-+ 0]*)(\\d*)(?:\\.(\\d*))?[hlL]?([sradifFeExXoc%])");

    private static String formatOne(Object v, char conv, String flags, int width, int precision) {
        String body;
        boolean numeric = "difFeExXo".indexOf(conv) >= 0;
        switch (conv) {
            case 's', 'r', 'a' -> {
                body = conv == 's' ? Py.str(v) : Py.repr(v);
                if (precision >= 0 && precision < Py.len(body)) body = (String) slice(body, null, (long) precision, null);
            }
            case 'c' -> {
                if (v instanceof String s && Py.len(s) == 1) body = s;
                else if (Py.isInt(v)) body = Character.toString((int) Py.asLong(v));
                else throw Py.typeError("%c requires an int or a unicode character, not " + Py.typeName(v));
            }
            case 'd', 'i', 'x', 'X', 'o' -> {
                long n;
                if (Py.isInt(v)) n = Py.asLong(v);
                else if (v instanceof Double d && (conv == 'd' || conv == 'i')) n = (long) (double) d;
                else throw Py.typeError("%" + conv + " format: " + (conv == 'd' || conv == 'i' ? "a real number" : "an integer")
                        + " is required, not " + Py.typeName(v));
                String digits = Long.toString(Math.abs(n), conv == 'o' ? 8 : conv == 'd' || conv == 'i' ? 10 : 16);
                body = (n < 0 ? "-" : "") + (conv == 'X' ? digits.toUpperCase(Locale.ROOT) : digits);
            }
            default -> {
                if (!Py.isNumber(v)) throw Py.typeError("must be real number, not " + Py.typeName(v));
                double d = Py.asDouble(v);
                int p = precision < 0 ? 6 : precision;
                if (Double.isNaN(d) || Double.isInfinite(d)) {
                    body = Double.isNaN(d) ? "nan" : d > 0 ? "inf" : "-inf";
                } else if (conv == 'f' || conv == 'F') {
                    body = new BigDecimal(d).setScale(p, RoundingMode.HALF_EVEN).toPlainString();
                    if (d < 0 && !body.startsWith("-")) body = "-" + body;
                } else {
                    BigDecimal bd = new BigDecimal(d).round(new MathContext(p + 1, RoundingMode.HALF_EVEN));
                    int exp = bd.precision() - bd.scale() - 1;
                    String digits = bd.unscaledValue().abs().toString();
                    digits = (digits + "0".repeat(p + 1)).substring(0, p + 1);
                    if (d == 0) exp = 0;
                    body = (d < 0 || (d == 0 && 1 / d < 0) ? "-" : "") + digits.charAt(0) + (p > 0 ? "." + digits.substring(1) : "")
                            + "e" + (exp < 0 ? "-" : "+") + (Math.abs(exp) < 10 ? "0" : "") + Math.abs(exp);
                }
                if (conv == 'E') body = body.toUpperCase(Locale.ROOT);
            }
        }
        if (numeric && !body.startsWith("-")) {
            if (flags.contains("+")) body = "+" + body;
            else if (flags.contains(" ")) body = " " + body;
        }
        int pad = width - Py.len(body);
        if (pad <= 0) return body;
        if (flags.contains("-")) return body + " ".repeat(pad);
        if (flags.contains("0") && numeric && !body.matches("[-+ ]?(inf|nan|INF|NAN)")) {
            int sign = body.startsWith("-") || body.startsWith("+") || body.startsWith(" ") ? 1 : 0;
            return body.substring(0, sign) + "0".repeat(pad) + body.substring(sign);
        }
        return " ".repeat(pad) + body;
    }

    /** str.format with plain {@code {}}, {@code {0}} and {@code {name}} fields; conversions and specs fail loudly. */
    private static String format(String s, List<Object> args, Map<String, Object> kwargs) {
        StringBuilder b = new StringBuilder();
        int auto = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '{' && i + 1 < s.length() && s.charAt(i + 1) == '{') {
                b.append('{');
                i++;
            } else if (c == '}' && i + 1 < s.length() && s.charAt(i + 1) == '}') {
                b.append('}');
                i++;
            } else if (c == '{') {
                int j = s.indexOf('}', i);
                if (j < 0) throw new PyError("Single '{' encountered in format string");
                String field = s.substring(i + 1, j);
                Object v;
                if (field.isEmpty()) {
                    if (auto >= args.size()) throw new PyError("Replacement index " + auto + " out of range for positional args tuple");
                    v = args.get(auto++);
                } else if (field.chars().allMatch(Character::isDigit)) {
                    int n = Integer.parseInt(field);
                    if (n >= args.size()) throw new PyError("Replacement index " + n + " out of range for positional args tuple");
                    v = args.get(n);
                } else if (field.chars().allMatch(ch -> Character.isLetterOrDigit(ch) || ch == '_')) {
                    if (!kwargs.containsKey(field)) throw new PyError("KeyError: '" + field + "'");
                    v = kwargs.get(field);
                } else {
                    throw new PyError("str.format field '{" + field + "}' (conversion, format spec or lookup) is not supported");
                }
                b.append(Py.str(v));
                i = j;
            } else if (c == '}') {
                throw new PyError("Single '}' encountered in format string");
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }
}
