package io.vqwen.engine.template;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.AbstractList;
import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Python value semantics for the interpreter. Values are: null (None), Boolean, Long (int), Double (float),
 * String (str), List (list), {@link Seq} (tuple, range, dict views), Map (dict), {@link Gen} (generator),
 * {@link Undefined}, {@link HasAttrs} (namespace, loop), {@link Callable} (functions, methods, macros).
 */
final class Py {
    private Py() {
    }

    /** A Python exception raised while evaluating; the interpreter adds the template position. */
    static final class PyError extends RuntimeException {
        PyError(String message) {
            super(message, null, false, false);
        }
    }

    /** jinja2.Undefined: prints as '', is falsy, iterates empty; most other uses raise UndefinedError. */
    static final class Undefined {
        private final String hint;
        private final Object obj;
        private final Object name;
        private final boolean hasObj;

        private Undefined(String hint, Object obj, Object name, boolean hasObj) {
            this.hint = hint;
            this.obj = obj;
            this.name = name;
            this.hasObj = hasObj;
        }

        static Undefined name(String name) {
            return new Undefined(null, null, name, false);
        }

        static Undefined attr(Object obj, Object name) {
            return new Undefined(null, obj, name, true);
        }

        static Undefined hint(String hint) {
            return new Undefined(hint, null, null, false);
        }

        String message() {
            if (hint != null) return hint;
            if (!hasObj) return "'" + name + "' is undefined";
            if (name instanceof String s) return "'" + objectTypeRepr(obj) + "' has no attribute '" + s + "'";
            return "'" + objectTypeRepr(obj) + "' has no element " + repr(name);
        }

        PyError error() {
            return new PyError(message());
        }
    }

    /** Python sequences that are not lists: tuple, range, dict_keys, dict_values, dict_items. */
    static class Seq extends AbstractList<Object> {
        final String kind;
        private final List<Object> items;

        Seq(String kind, List<Object> items) {
            this.kind = kind;
            this.items = items;
        }

        static Seq tuple(Object... items) {
            return tupleOf(java.util.Arrays.asList(items));
        }

        @Override
        public Object get(int index) {
            return items.get(index);
        }

        @Override
        public int size() {
            return items.size();
        }
    }

    static Seq tupleOf(List<Object> items) {
        return new Seq("tuple", Collections.unmodifiableList(new ArrayList<>(items)));
    }

    /** A one-shot iterator, as jinja2's generator-returning filters (map, select, ...) produce. */
    static final class Gen {
        final Iterator<Object> it;
        final String kind;

        Gen(Iterator<Object> it, String kind) {
            this.it = it;
            this.kind = kind;
        }
    }

    interface HasAttrs {
        Object attr(String name);

        String typeName();

        /** Python's str() of the object, or null where Python would print an object address. */
        default String text() {
            return null;
        }
    }

    interface Callable {
        Object call(List<Object> args, Map<String, Object> kwargs);

        String typeName();

        default String text() {
            return null;
        }
    }

    /** A builtin function or bound method. */
    record Builtin(String name, Fn fn) implements Callable {
        @Override
        public Object call(List<Object> args, Map<String, Object> kwargs) {
            return fn.call(args, kwargs);
        }

        @Override
        public String typeName() {
            return "builtin_function_or_method";
        }
    }

    interface Fn {
        Object call(List<Object> args, Map<String, Object> kwargs);
    }

    /** jinja2.utils.Namespace: the only object templates may assign attributes on. */
    static final class Namespace implements HasAttrs {
        final Map<String, Object> attrs = new LinkedHashMap<>();

        @Override
        public Object attr(String name) {
            return attrs.containsKey(name) ? attrs.get(name) : Undefined.attr(this, name);
        }

        @Override
        public String typeName() {
            return "Namespace";
        }
    }

    static PyError typeError(String message) {
        return new PyError(message);
    }

    // ---- conversion of caller data

    /** Deep copy of plain Java data (as Jackson produces it) into interpreter values. */
    static Object fromJava(Object v, String path) {
        return switch (v) {
            case null -> null;
            case String s -> s;
            case Boolean b -> b;
            case Long l -> l;
            case Integer n -> n.longValue();
            case Short n -> n.longValue();
            case Byte n -> n.longValue();
            case Double d -> d;
            case Float f -> f.doubleValue();
            case BigInteger b -> {
                if (b.bitLength() > 63) throw new IllegalArgumentException("integer at " + path + " does not fit in 64 bits");
                yield b.longValue();
            }
            case BigDecimal d -> d.doubleValue();
            case Character c -> String.valueOf(c);
            case Map<?, ?> m -> {
                Map<Object, Object> out = new LinkedHashMap<>();
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    out.put(fromJava(e.getKey(), path), fromJava(e.getValue(), path + "." + e.getKey()));
                }
                yield out;
            }
            case Collection<?> c -> {
                List<Object> out = new ArrayList<>(c.size());
                int i = 0;
                for (Object o : c) out.add(fromJava(o, path + "[" + i++ + "]"));
                yield out;
            }
            case Object[] a -> fromJava(java.util.Arrays.asList(a), path);
            default -> throw new IllegalArgumentException("unsupported value type " + v.getClass().getName() + " at "
                    + path + " (use Map, List, String, Number, Boolean or null)");
        };
    }

    // ---- type names and truth

    static String typeName(Object v) {
        return switch (v) {
            case null -> "NoneType";
            case Boolean b -> "bool";
            case Long l -> "int";
            case Double d -> "float";
            case String s -> "str";
            case Seq s -> s.kind;
            case List<?> l -> "list";
            case Map<?, ?> m -> "dict";
            case Undefined u -> "Undefined";
            case Gen g -> g.kind;
            case HasAttrs h -> h.typeName();
            case Callable c -> c.typeName();
            default -> v.getClass().getSimpleName();
        };
    }

    /** jinja2.utils.object_type_repr, used in undefined-attribute messages. */
    static String objectTypeRepr(Object obj) {
        if (obj == null) return "None";
        return switch (obj) {
            case Namespace n -> "jinja2.utils.Namespace object";
            case HasAttrs h -> "jinja2.runtime." + h.typeName() + " object";
            default -> typeName(obj) + " object";
        };
    }

    static boolean truthy(Object v) {
        return switch (v) {
            case null -> false;
            case Boolean b -> b;
            case Long l -> l != 0;
            case Double d -> d != 0.0;
            case String s -> !s.isEmpty();
            case Collection<?> c -> !c.isEmpty();
            case Map<?, ?> m -> !m.isEmpty();
            case Undefined u -> false;
            default -> true;
        };
    }

    static boolean isInt(Object v) {
        return v instanceof Long || v instanceof Boolean;
    }

    static boolean isNumber(Object v) {
        return v instanceof Long || v instanceof Boolean || v instanceof Double;
    }

    static long asLong(Object v) {
        return v instanceof Boolean b ? (b ? 1 : 0) : (Long) v;
    }

    static double asDouble(Object v) {
        return v instanceof Double d ? d : asLong(v);
    }

    /** An int argument (bool counts, as in Python); anything else is a TypeError naming what was expected. */
    static long intArg(Object v, String what) {
        if (isInt(v)) return asLong(v);
        if (v instanceof Undefined u) throw u.error();
        throw typeError(what + " must be an integer, not '" + typeName(v) + "'");
    }

    // ---- str() and repr()

    static String str(Object v) {
        return switch (v) {
            case null -> "None";
            case String s -> s;
            case Boolean b -> b ? "True" : "False";
            case Long l -> l.toString();
            case Double d -> floatRepr(d);
            case Undefined u -> "";
            case Namespace n -> "<Namespace " + repr(n.attrs) + ">";
            case List<?> l -> repr(l);
            case Map<?, ?> m -> repr(m);
            case HasAttrs h when h.text() != null -> h.text();
            case Callable c when c.text() != null -> c.text();
            default -> throw typeError("cannot convert a " + typeName(v)
                    + " to text here: Python would print an object address");
        };
    }

    static String repr(Object v) {
        return switch (v) {
            case String s -> strRepr(s);
            case Undefined u -> "Undefined";
            case Seq s when s.kind.equals("tuple") ->
                    s.size() == 1 ? "(" + repr(s.get(0)) + ",)" : "(" + joinRepr(s) + ")";
            case Seq s when s.kind.equals("range") -> rangeRepr(s);
            case Seq s -> s.kind + "([" + joinRepr(s) + "])";
            case List<?> l -> "[" + joinRepr(l) + "]";
            case Map<?, ?> m -> {
                StringBuilder b = new StringBuilder("{");
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    if (b.length() > 1) b.append(", ");
                    b.append(repr(e.getKey())).append(": ").append(repr(e.getValue()));
                }
                yield b.append('}').toString();
            }
            case null, default -> str(v);
        };
    }

    private static String joinRepr(List<?> l) {
        StringBuilder b = new StringBuilder();
        for (Object o : l) {
            if (!b.isEmpty()) b.append(", ");
            b.append(repr(o));
        }
        return b.toString();
    }

    private static String rangeRepr(Seq s) {
        RangeSeq r = (RangeSeq) s;
        return "range(" + r.start + ", " + r.stop + (r.step == 1 ? "" : ", " + r.step) + ")";
    }

    /** range(): a Seq that remembers its arguments for repr. */
    static final class RangeSeq extends Seq {
        final long start;
        final long stop;
        final long step;

        RangeSeq(long start, long stop, long step, List<Object> items) {
            super("range", items);
            this.start = start;
            this.stop = stop;
            this.step = step;
        }
    }

    /** Python repr of a str: quote choice and escapes as in unicode_repr. */
    static String strRepr(String s) {
        char quote = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
        StringBuilder b = new StringBuilder().append(quote);
        s.codePoints().forEach(cp -> {
            if (cp == quote || cp == '\\') b.append('\\').appendCodePoint(cp);
            else if (cp == '\t') b.append("\\t");
            else if (cp == '\n') b.append("\\n");
            else if (cp == '\r') b.append("\\r");
            else if (!isPrintable(cp)) {
                if (cp < 0x100) b.append(String.format("\\x%02x", cp));
                else if (cp < 0x10000) b.append(String.format("\\u%04x", cp));
                else b.append(String.format("\\U%08x", cp));
            } else b.appendCodePoint(cp);
        });
        return b.append(quote).toString();
    }

    /** str.isprintable for one code point: not Other (Cc Cf Cs Co Cn) nor Separator except ' '. */
    static boolean isPrintable(int cp) {
        if (cp == ' ') return true;
        return switch (Character.getType(cp)) {
            case Character.CONTROL, Character.FORMAT, Character.SURROGATE, Character.PRIVATE_USE, Character.UNASSIGNED,
                 Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR, Character.SPACE_SEPARATOR -> false;
            default -> true;
        };
    }

    /** float.__repr__: the shortest round-tripping digits, scientific below 1e-4 and from 1e16. */
    static String floatRepr(double d) {
        if (Double.isNaN(d)) return "nan";
        if (Double.isInfinite(d)) return d > 0 ? "inf" : "-inf";
        if (d == 0) return 1 / d < 0 ? "-0.0" : "0.0";
        // Double.toString gives the shortest round-tripping digits (JDK 19+), as Python's repr does
        BigDecimal bd = new BigDecimal(Double.toString(Math.abs(d))).stripTrailingZeros();
        String digits = bd.unscaledValue().toString();
        int exp = digits.length() - 1 - bd.scale();
        String sign = d < 0 ? "-" : "";
        if (exp < -4 || exp >= 16) {
            String mantissa = digits.length() > 1 ? digits.charAt(0) + "." + digits.substring(1) : digits;
            int a = Math.abs(exp);
            return sign + mantissa + "e" + (exp < 0 ? "-" : "+") + (a < 10 ? "0" : "") + a;
        }
        String plain = bd.toPlainString();
        return sign + (plain.indexOf('.') < 0 ? plain + ".0" : plain);
    }

    // ---- equality, ordering, containment

    static boolean eq(Object a, Object b) {
        if (a instanceof Undefined || b instanceof Undefined) return a instanceof Undefined && b instanceof Undefined;
        if (a == null || b == null) return a == b;
        if (isNumber(a) && isNumber(b)) {
            if (isInt(a) && isInt(b)) return asLong(a) == asLong(b);
            return asDouble(a) == asDouble(b);
        }
        if (a instanceof String || b instanceof String) return a.equals(b);
        if (a instanceof Seq x && b instanceof Seq y) return x.kind.equals(y.kind) && listEq(x, y);
        if (a instanceof Seq || b instanceof Seq) return false;
        if (a instanceof List<?> x && b instanceof List<?> y) return listEq(x, y);
        if (a instanceof Map<?, ?> x && b instanceof Map<?, ?> y) {
            if (x.size() != y.size()) return false;
            for (Map.Entry<?, ?> e : x.entrySet()) {
                Object k = findKey(y, e.getKey());
                if (k == NO_KEY || !eq(e.getValue(), y.get(k))) return false;
            }
            return true;
        }
        return a == b;
    }

    private static boolean listEq(List<?> x, List<?> y) {
        if (x.size() != y.size()) return false;
        for (int i = 0; i < x.size(); i++) if (!eq(x.get(i), y.get(i))) return false;
        return true;
    }

    static final Object NO_KEY = new Object();

    /** The key of m equal to key under Python's hash equality (1 == 1.0 == True), or NO_KEY. */
    static Object findKey(Map<?, ?> m, Object key) {
        if ((key instanceof List<?> && !(key instanceof Seq)) || key instanceof Map<?, ?>) {
            throw typeError("unhashable type: '" + typeName(key) + "'");
        }
        if (m.containsKey(key)) return key;
        if (key instanceof String) return NO_KEY;
        for (Object k : m.keySet()) if (!(k instanceof String) && eq(k, key)) return k;
        return NO_KEY;
    }

    /** Python's rich comparison for {@code < <= > >=}. */
    static boolean compare(String op, Object a, Object b) {
        if (a instanceof Undefined u) throw u.error();
        if (b instanceof Undefined u) throw u.error();
        if (isNumber(a) && isNumber(b)) {
            if (isInt(a) && isInt(b)) return holds(op, Long.compare(asLong(a), asLong(b)));
            double x = asDouble(a);
            double y = asDouble(b);
            if (Double.isNaN(x) || Double.isNaN(y)) return false;
            return holds(op, Double.compare(x == 0 ? 0.0 : x, y == 0 ? 0.0 : y));
        }
        if (a instanceof String x && b instanceof String y) return holds(op, compareCodePoints(x, y));
        boolean seqs = (a instanceof Seq x && b instanceof Seq y && x.kind.equals("tuple") && y.kind.equals("tuple"))
                || (a instanceof List<?> && b instanceof List<?> && !(a instanceof Seq) && !(b instanceof Seq));
        if (seqs) {
            List<?> x = (List<?>) a;
            List<?> y = (List<?>) b;
            for (int i = 0; i < Math.min(x.size(), y.size()); i++) {
                if (!eq(x.get(i), y.get(i))) return compare(op, x.get(i), y.get(i));
            }
            return holds(op, Integer.compare(x.size(), y.size()));
        }
        throw typeError("'" + op + "' not supported between instances of '" + typeName(a) + "' and '" + typeName(b) + "'");
    }

    private static boolean holds(String op, int c) {
        return switch (op) {
            case "<" -> c < 0;
            case "<=" -> c <= 0;
            case ">" -> c > 0;
            case ">=" -> c >= 0;
            default -> throw new IllegalStateException(op);
        };
    }

    static int compareCodePoints(String a, String b) {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            int x = a.codePointAt(i);
            int y = b.codePointAt(j);
            if (x != y) return Integer.compare(x, y);
            i += Character.charCount(x);
            j += Character.charCount(y);
        }
        return Integer.compare(a.length() - i, b.length() - j);
    }

    /** Python's {@code item in container}. */
    static boolean contains(Object container, Object item) {
        return switch (container) {
            case Undefined u -> false; // Undefined iterates as empty
            case String s -> {
                if (!(item instanceof String x)) {
                    throw typeError("'in <string>' requires string as left operand, not " + typeName(item));
                }
                yield s.contains(x);
            }
            case Map<?, ?> m -> findKey(m, item) != NO_KEY;
            case List<?> l -> {
                for (Object o : l) if (eq(o, item)) yield true;
                yield false;
            }
            case Gen g -> {
                while (g.it.hasNext()) if (eq(g.it.next(), item)) yield true;
                yield false;
            }
            case null, default -> throw typeError("argument of type '" + typeName(container) + "' is not iterable");
        };
    }

    // ---- iteration and length

    static Iterator<Object> iterate(Object v) {
        return switch (v) {
            case Undefined u -> Collections.emptyIterator();
            case String s -> codePointStrings(s).iterator();
            case List<?> l -> new ArrayList<Object>(l).iterator();
            case Map<?, ?> m -> new ArrayList<Object>(m.keySet()).iterator();
            case Gen g -> g.it;
            case null, default -> throw typeError("'" + typeName(v) + "' object is not iterable");
        };
    }

    static List<Object> toList(Object v) {
        List<Object> out = new ArrayList<>();
        iterate(v).forEachRemaining(out::add);
        return out;
    }

    static List<Object> codePointStrings(String s) {
        List<Object> out = new ArrayList<>(s.length());
        s.codePoints().forEach(cp -> out.add(Character.toString(cp)));
        return out;
    }

    static int len(Object v) {
        return switch (v) {
            case String s -> s.codePointCount(0, s.length());
            case Collection<?> c -> c.size();
            case Map<?, ?> m -> m.size();
            case Undefined u -> 0;
            case null, default -> throw typeError("object of type '" + typeName(v) + "' has no len()");
        };
    }

    // ---- arithmetic

    static Object binary(String op, Object a, Object b) {
        if (op.equals("%") && a instanceof String fmt) return PyMethods.percentFormat(fmt, b);
        if (a instanceof Undefined u) throw u.error();
        if (b instanceof Undefined u) throw u.error();
        try {
            switch (op) {
                case "+" -> {
                    if (isNumber(a) && isNumber(b)) {
                        return isInt(a) && isInt(b) ? (Object) Math.addExact(asLong(a), asLong(b)) : asDouble(a) + asDouble(b);
                    }
                    if (a instanceof String x && b instanceof String y) return x + y;
                    if (sameSeqKind(a, b, "list") || sameSeqKind(a, b, "tuple")) {
                        List<Object> out = new ArrayList<>((List<?>) a);
                        out.addAll((List<?>) b);
                        return a instanceof Seq ? tupleOf(out) : out;
                    }
                    if (a instanceof String) {
                        throw typeError("can only concatenate str (not \"" + typeName(b) + "\") to str");
                    }
                }
                case "-" -> {
                    if (isNumber(a) && isNumber(b)) {
                        return isInt(a) && isInt(b) ? (Object) Math.subtractExact(asLong(a), asLong(b)) : asDouble(a) - asDouble(b);
                    }
                }
                case "*" -> {
                    if (isNumber(a) && isNumber(b)) {
                        return isInt(a) && isInt(b) ? (Object) Math.multiplyExact(asLong(a), asLong(b)) : asDouble(a) * asDouble(b);
                    }
                    if (isInt(b) && (a instanceof String || sameSeqKind(a, a, "list") || sameSeqKind(a, a, "tuple"))) {
                        return repeat(a, asLong(b));
                    }
                    if (isInt(a) && (b instanceof String || sameSeqKind(b, b, "list") || sameSeqKind(b, b, "tuple"))) {
                        return repeat(b, asLong(a));
                    }
                }
                case "/" -> {
                    if (isNumber(a) && isNumber(b)) {
                        if (asDouble(b) == 0) throw new PyError(isInt(a) && isInt(b) ? "division by zero" : "float division by zero");
                        return asDouble(a) / asDouble(b);
                    }
                }
                case "//" -> {
                    if (isNumber(a) && isNumber(b)) {
                        if (asDouble(b) == 0) throw new PyError("integer division or modulo by zero");
                        if (isInt(a) && isInt(b)) return Math.floorDiv(asLong(a), asLong(b));
                        return Math.floor(asDouble(a) / asDouble(b));
                    }
                }
                case "%" -> {
                    if (isNumber(a) && isNumber(b)) {
                        if (asDouble(b) == 0) throw new PyError("integer modulo by zero");
                        if (isInt(a) && isInt(b)) return Math.floorMod(asLong(a), asLong(b));
                        double x = asDouble(a);
                        double y = asDouble(b);
                        double r = x % y;
                        return r != 0 && (r < 0) != (y < 0) ? r + y : r;
                    }
                }
                case "**" -> {
                    if (isNumber(a) && isNumber(b)) return pow(a, b);
                }
                default -> throw new IllegalStateException(op);
            }
        } catch (ArithmeticException e) {
            throw new PyError("integer overflow in '" + op + "' (Python ints are unbounded, this engine uses 64 bits)");
        }
        throw typeError("unsupported operand type(s) for " + op + ": '" + typeName(a) + "' and '" + typeName(b) + "'");
    }

    private static boolean sameSeqKind(Object a, Object b, String kind) {
        if (kind.equals("list")) return a instanceof List<?> && b instanceof List<?> && !(a instanceof Seq) && !(b instanceof Seq);
        return a instanceof Seq x && b instanceof Seq y && x.kind.equals(kind) && y.kind.equals(kind);
    }

    private static Object repeat(Object seq, long times) {
        if (seq instanceof String s) return times <= 0 ? "" : s.repeat(Math.toIntExact(times));
        List<Object> out = new ArrayList<>();
        for (long i = 0; i < times; i++) out.addAll((List<?>) seq);
        return seq instanceof Seq ? tupleOf(out) : out;
    }

    private static Object pow(Object a, Object b) {
        if (isInt(a) && isInt(b) && asLong(b) >= 0) {
            BigInteger r = BigInteger.valueOf(asLong(a)).pow(Math.toIntExact(asLong(b)));
            if (r.bitLength() > 63) throw new ArithmeticException();
            return r.longValue();
        }
        double x = asDouble(a);
        double y = asDouble(b);
        if (x == 0 && y < 0) throw new PyError("0.0 cannot be raised to a negative power");
        if (x < 0 && y != Math.rint(y)) throw new PyError("complex results of '**' are not supported");
        return Math.pow(x, y);
    }

    static Object negate(Object v) {
        if (v instanceof Undefined u) throw u.error();
        if (isInt(v)) return Math.negateExact(asLong(v));
        if (v instanceof Double d) return -d;
        throw typeError("bad operand type for unary -: '" + typeName(v) + "'");
    }

    static Object plus(Object v) {
        if (v instanceof Undefined u) throw u.error();
        if (isInt(v)) return asLong(v);
        if (v instanceof Double) return v;
        throw typeError("bad operand type for unary +: '" + typeName(v) + "'");
    }

    // ---- whitespace (str.isspace) and strip

    static boolean isSpace(int c) {
        return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680
                || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
    }

    static boolean isAllSpace(String s) {
        for (int i = 0; i < s.length(); i++) if (!isSpace(s.charAt(i))) return false;
        return true;
    }

    static String rstripSpace(String s) {
        int e = s.length();
        while (e > 0 && isSpace(s.charAt(e - 1))) e--;
        return s.substring(0, e);
    }

    /** str.strip / lstrip / rstrip: chars null strips whitespace, otherwise any of the given code points. */
    static String strip(String s, String chars, boolean left, boolean right) {
        int[] cps = s.codePoints().toArray();
        int[] set = chars == null ? null : chars.codePoints().toArray();
        int b = 0;
        int e = cps.length;
        if (left) while (b < e && stripped(cps[b], set)) b++;
        if (right) while (e > b && stripped(cps[e - 1], set)) e--;
        return new String(cps, b, e - b);
    }

    private static boolean stripped(int cp, int[] set) {
        if (set == null) return isSpace(cp);
        for (int c : set) if (c == cp) return true;
        return false;
    }

    // ---- json.dumps

    record JsonStyle(String indent, String itemSep, String keySep, boolean sortKeys, boolean ensureAscii) {
        /** json.dumps(x, ensure_ascii=False) as transformers' tojson filter calls it by default. */
        static final JsonStyle DEFAULT = new JsonStyle(null, ", ", ": ", false, false);
    }

    static String toJson(Object v, JsonStyle style) {
        StringBuilder b = new StringBuilder();
        json(b, v, style, 0);
        return b.toString();
    }

    private static void json(StringBuilder b, Object v, JsonStyle st, int level) {
        switch (v) {
            case null -> b.append("null");
            case Boolean x -> b.append(x ? "true" : "false");
            case Long x -> b.append(x);
            case Double d -> b.append(Double.isNaN(d) ? "NaN" : Double.isInfinite(d) ? (d > 0 ? "Infinity" : "-Infinity") : floatRepr(d));
            case String s -> jsonString(b, s, st.ensureAscii);
            case List<?> l when !(l instanceof Seq s) || s.kind.equals("tuple") -> {
                if (l.isEmpty()) {
                    b.append("[]");
                    return;
                }
                b.append('[');
                for (int i = 0; i < l.size(); i++) {
                    b.append(i == 0 ? "" : st.itemSep);
                    newline(b, st, level + 1);
                    json(b, l.get(i), st, level + 1);
                }
                newline(b, st, level);
                b.append(']');
            }
            case Map<?, ?> m -> {
                if (m.isEmpty()) {
                    b.append("{}");
                    return;
                }
                List<Map.Entry<String, Object>> entries = new ArrayList<>();
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    entries.add(new AbstractMap.SimpleImmutableEntry<>(jsonKey(e.getKey()), e.getValue()));
                }
                if (st.sortKeys) entries.sort((x, y) -> compareCodePoints(x.getKey(), y.getKey()));
                b.append('{');
                for (int i = 0; i < entries.size(); i++) {
                    b.append(i == 0 ? "" : st.itemSep);
                    newline(b, st, level + 1);
                    jsonString(b, entries.get(i).getKey(), st.ensureAscii);
                    b.append(st.keySep);
                    json(b, entries.get(i).getValue(), st, level + 1);
                }
                newline(b, st, level);
                b.append('}');
            }
            default -> throw typeError("Object of type " + typeName(v) + " is not JSON serializable");
        }
    }

    private static void newline(StringBuilder b, JsonStyle st, int level) {
        if (st.indent != null) b.append('\n').append(st.indent.repeat(level));
    }

    private static String jsonKey(Object k) {
        return switch (k) {
            case String s -> s;
            case Boolean x -> x ? "true" : "false";
            case Long x -> x.toString();
            case Double d -> Double.isNaN(d) ? "NaN" : Double.isInfinite(d) ? (d > 0 ? "Infinity" : "-Infinity") : floatRepr(d);
            case null -> "null";
            default -> throw typeError("keys must be str, int, float, bool or None, not " + typeName(k));
        };
    }

    private static void jsonString(StringBuilder b, String s, boolean ensureAscii) {
        b.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                case '\b' -> b.append("\\b");
                case '\f' -> b.append("\\f");
                default -> {
                    if (c < 0x20 || (ensureAscii && c > 0x7e)) b.append(String.format("\\u%04x", (int) c));
                    else b.append(c);
                }
            }
        }
        b.append('"');
    }
}
