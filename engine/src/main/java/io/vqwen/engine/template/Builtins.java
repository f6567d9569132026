package io.vqwen.engine.template;

import io.vqwen.engine.template.Py.Builtin;
import io.vqwen.engine.template.Py.Gen;
import io.vqwen.engine.template.Py.PyError;
import io.vqwen.engine.template.Py.Seq;
import io.vqwen.engine.template.Py.Undefined;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.time.LocalDateTime;
import java.time.format.TextStyle;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** jinja2's builtin filters and tests (jinja2/filters.py, tests.py) and the globals transformers provides. */
final class Builtins {
    private Builtins() {
    }

    interface Filter {
        Object apply(Object value, List<Object> args, Map<String, Object> kwargs);
    }

    interface Test {
        boolean test(Object value, List<Object> args, Map<String, Object> kwargs);
    }

    /** {@code raise_exception(msg)} from the template: surfaces as a TemplateException carrying exactly msg. */
    static final class Raised extends RuntimeException {
        Raised(String message) {
            super(message, null, false, false);
        }
    }

    private static final Map<String, Filter> FILTERS = new HashMap<>();
    private static final Map<String, Test> TESTS = new HashMap<>();
    /** All jinja2 3.1 builtin filter and test names, to tell "unsupported here" from "does not exist". */
    private static final Set<String> JINJA_FILTERS = Set.of("abs", "attr", "batch", "capitalize", "center", "count",
            "d", "default", "dictsort", "e", "escape", "filesizeformat", "first", "float", "forceescape", "format",
            "groupby", "indent", "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min",
            "pprint", "random", "reject", "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr",
            "slice", "sort", "string", "striptags", "sum", "title", "tojson", "trim", "truncate", "unique", "upper",
            "urlencode", "urlize", "wordcount", "wordwrap", "xmlattr");

    static String checkFilter(String name) {
        if (FILTERS.containsKey(name)) return null;
        if (JINJA_FILTERS.contains(name)) return "filter '" + name + "' is not supported by this chat-template engine";
        return "No filter named '" + name + "'.";
    }

    static String checkTest(String name) {
        return TESTS.containsKey(name) ? null : "No test named '" + name + "'.";
    }

    static Object filter(String name, Object value, List<Object> args, Map<String, Object> kwargs) {
        Filter f = FILTERS.get(name);
        if (f == null) throw new PyError(checkFilter(name));
        return f.apply(value, args, kwargs);
    }

    static boolean test(String name, Object value, List<Object> args, Map<String, Object> kwargs) {
        Test t = TESTS.get(name);
        if (t == null) throw new PyError(checkTest(name));
        return t.test(value, args, kwargs);
    }

    private static Object[] bind(String fn, List<Object> args, Map<String, Object> kwargs, Object... namesAndDefaults) {
        return Params.bind(fn, args, kwargs, namesAndDefaults);
    }

    private static Object req() {
        return Params.REQUIRED;
    }

    private static String soft(Object v) {
        return Py.str(v);
    }

    private static Object callStr(String s, String method, Object... args) {
        return ((Builtin) PyMethods.getattr(s, method)).call(java.util.Arrays.asList(args), Map.of());
    }

    private static Object ignoreCase(Object v) {
        return v instanceof String s ? s.toLowerCase(Locale.ROOT) : v;
    }

    private static Comparator<Object> pythonOrder() {
        return (a, b) -> Py.compare("<", a, b) ? -1 : Py.compare("<", b, a) ? 1 : 0;
    }

    /** jinja2 make_attrgetter: "a.b.0" looks up a, then b, then item 0, each by getitem. */
    static Function<Object, Object> attrGetter(Object attribute, Object dflt, boolean ignoreCase) {
        List<Object> parts = new ArrayList<>();
        if (attribute instanceof String s) {
            for (String p : s.split("\\.", -1)) parts.add(p.chars().allMatch(Character::isDigit) && !p.isEmpty() ? (Object) Long.parseLong(p) : p);
        } else if (attribute != null) {
            parts.add(attribute);
        }
        return item -> {
            for (Object part : parts) {
                item = PyMethods.getitem(item, part);
                if (dflt != null && item instanceof Undefined) item = dflt;
            }
            return ignoreCase ? ignoreCase(item) : item;
        };
    }

    private static Gen lazy(Iterator<Object> it, String kind) {
        return new Gen(it, kind);
    }

    private static Gen mapped(Object value, Function<Object, Object> f) {
        Iterator<Object> src = Py.truthy(value) ? Py.iterate(value) : Collections.emptyIterator();
        return lazy(new Iterator<>() {
            @Override
            public boolean hasNext() {
                return src.hasNext();
            }

            @Override
            public Object next() {
                return f.apply(src.next());
            }
        }, "generator");
    }

    private static Gen filtered(Object value, Predicate<Object> keep) {
        Iterator<Object> src = Py.truthy(value) ? Py.iterate(value) : Collections.emptyIterator();
        return lazy(new Iterator<>() {
            private Object pending;
            private boolean ready;

            @Override
            public boolean hasNext() {
                while (!ready && src.hasNext()) {
                    Object o = src.next();
                    if (keep.test(o)) {
                        pending = o;
                        ready = true;
                    }
                }
                return ready;
            }

            @Override
            public Object next() {
                if (!hasNext()) throw new NoSuchElementException();
                ready = false;
                return pending;
            }
        }, "generator");
    }

    /** jinja2 prepare_select_or_reject: optional attribute, then an optional test name with its arguments. */
    private static Gen selectOrReject(Object value, List<Object> args, Map<String, Object> kwargs, boolean select,
                                      boolean byAttr, String fn) {
        Function<Object, Object> trans = Function.identity();
        int off = 0;
        if (byAttr) {
            if (args.isEmpty()) throw new PyError(fn + ": missing parameter for attribute name");
            trans = attrGetter(args.get(0), null, false);
            off = 1;
        }
        Predicate<Object> test;
        if (args.size() > off) {
            if (!(args.get(off) instanceof String name)) throw new PyError(fn + ": the test name must be a string");
            List<Object> rest = args.subList(off + 1, args.size());
            test = x -> test(name, x, rest, kwargs);
        } else {
            test = Py::truthy;
        }
        Function<Object, Object> t = trans;
        return filtered(value, x -> test.test(t.apply(x)) == select);
    }

    private static Object firstOrUndefined(Iterator<Object> it, String hint) {
        return it.hasNext() ? it.next() : Undefined.hint(hint);
    }

    private static List<Object> reversedList(Object v) {
        if (v instanceof Gen) throw Py.typeError("'generator' object is not reversible");
        List<Object> l = Py.toList(v);
        Collections.reverse(l);
        return l;
    }

    private static final Pattern FLOAT_TEXT = Pattern.compile(
            "[+-]?((\\d(_?\\d)*)?\\.?\\d(_?\\d)*([eE][+-]?\\d(_?\\d)*)?|\\d(_?\\d)*\\.|inf|infinity|nan)",
            Pattern.CASE_INSENSITIVE);
    private static final Pattern INT_TEXT = Pattern.compile("[+-]?\\d(_?\\d)*");

    /** Python float(x); null means it would raise TypeError/ValueError. */
    private static Double pyFloat(Object v) {
        if (v instanceof Undefined u) throw u.error();
        if (Py.isNumber(v)) return Py.asDouble(v);
        if (!(v instanceof String s)) return null;
        String t = Py.strip(s, null, true, true);
        if (!FLOAT_TEXT.matcher(t).matches()) return null;
        String lower = t.toLowerCase(Locale.ROOT).replace("_", "");
        if (lower.endsWith("inf") || lower.endsWith("infinity")) {
            return lower.startsWith("-") ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
        }
        if (lower.endsWith("nan")) return Double.NaN;
        return Double.parseDouble(lower);
    }

    private static Object doInt(Object value, Object dflt, Object base) {
        if (value instanceof Undefined u) throw u.error();
        if (value instanceof String s) {
            String t = Py.strip(s, null, true, true);
            long radix = Py.intArg(base, "base");
            if (radix == 10 && INT_TEXT.matcher(t).matches()) {
                try {
                    return Long.parseLong(t.replace("_", ""));
                } catch (NumberFormatException e) {
                    throw new PyError("integer '" + t + "' does not fit in 64 bits");
                }
            }
            if (radix != 10) {
                String digits = t.replace("_", "").toLowerCase(Locale.ROOT);
                String prefix = radix == 16 ? "0x" : radix == 8 ? "0o" : radix == 2 ? "0b" : null;
                boolean neg = digits.startsWith("-");
                if (neg || digits.startsWith("+")) digits = digits.substring(1);
                if (prefix != null && digits.startsWith(prefix)) digits = digits.substring(2);
                try {
                    long v = Long.parseLong(digits, (int) radix);
                    return neg ? -v : v;
                } catch (NumberFormatException e) {
                    // falls through to int(float(value)) as jinja2 does
                }
            }
        } else if (Py.isInt(value)) {
            return Py.asLong(value);
        } else if (value instanceof Double d) {
            return truncate(d);
        }
        Double f = pyFloat(value);
        return f == null ? dflt : truncate(f);
    }

    private static long truncate(double d) {
        if (Double.isNaN(d) || Double.isInfinite(d)) throw new PyError("cannot convert float " + Py.floatRepr(d) + " to integer");
        if (Math.abs(d) >= 9.2e18) throw new PyError("integer does not fit in 64 bits");
        return (long) d;
    }

    private static Object round(Object value, Object precisionV, Object methodV) {
        if (!"common".equals(methodV) && !"ceil".equals(methodV) && !"floor".equals(methodV)) {
            throw new PyError("method must be common, ceil or floor");
        }
        int precision = (int) Py.intArg(precisionV, "precision");
        if (value instanceof Undefined u) throw u.error();
        if (!Py.isNumber(value)) throw Py.typeError("type " + Py.typeName(value) + " doesn't define __round__ method");
        if (methodV.equals("common")) {
            if (Py.isInt(value)) {
                if (precision >= 0) return Py.asLong(value);
                return new BigDecimal(Py.asLong(value)).setScale(precision, RoundingMode.HALF_EVEN).longValueExact();
            }
            double d = (Double) value;
            if (Double.isNaN(d) || Double.isInfinite(d)) return d;
            return Math.copySign(new BigDecimal(d).setScale(precision, RoundingMode.HALF_EVEN).doubleValue(), d);
        }
        double scale = Math.pow(10, precision);
        double scaled = Py.asDouble(value) * scale;
        double r = (methodV.equals("ceil") ? Math.ceil(scaled) : Math.floor(scaled)) + 0.0; // math.ceil gives an int: no -0.0
        return r / scale;
    }

    private static String indent(Object value, Object width, Object first, Object blank) {
        if (value instanceof Undefined u) throw u.error();
        if (!(value instanceof String s)) throw Py.typeError("unsupported operand type(s) for +=: '" + Py.typeName(value) + "' and 'str'");
        String ind = width instanceof String w ? w : " ".repeat((int) Math.max(0, Py.intArg(width, "width")));
        List<Object> lines = PyMethods.splitlines(s + "\n", false);
        StringBuilder rv = new StringBuilder();
        if (Py.truthy(blank)) {
            for (int i = 0; i < lines.size(); i++) rv.append(i == 0 ? "" : "\n" + ind).append((String) lines.get(i));
        } else {
            rv.append((String) lines.get(0));
            for (int i = 1; i < lines.size(); i++) {
                String line = (String) lines.get(i);
                rv.append('\n').append(line.isEmpty() ? "" : ind).append(line);
            }
        }
        return Py.truthy(first) ? ind + rv : rv.toString();
    }

    private static String title(String s) {
        // jinja2 do_title: split on runs of [-\s({\[<], upper the first char of every piece, lower the rest
        StringBuilder b = new StringBuilder();
        int i = 0;
        while (i < s.length()) {
            int j = i;
            boolean sep = isTitleSep(s.codePointAt(i));
            while (j < s.length() && isTitleSep(s.codePointAt(j)) == sep) j += Character.charCount(s.codePointAt(j));
            String piece = s.substring(i, j);
            int first = piece.codePointAt(0);
            b.append(Character.toString(first).toUpperCase(Locale.ROOT))
                    .append(piece.substring(Character.charCount(first)).toLowerCase(Locale.ROOT));
            i = j;
        }
        return b.toString();
    }

    private static boolean isTitleSep(int cp) {
        return cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || Py.isSpace(cp);
    }

    private static Object toJson(Object value, List<Object> args, Map<String, Object> kwargs) {
        // transformers' tojson: json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)
        Object[] p = bind("tojson", args, kwargs, "ensure_ascii", false, "indent", null, "separators", null, "sort_keys", false);
        String indent = p[1] == null ? null : p[1] instanceof String s ? s : " ".repeat((int) Math.max(0, Py.intArg(p[1], "indent")));
        String itemSep = indent == null ? ", " : ",";
        String keySep = ": ";
        if (p[2] != null) {
            List<Object> seps = Py.toList(p[2]);
            if (seps.size() != 2 || !(seps.get(0) instanceof String a) || !(seps.get(1) instanceof String b)) {
                throw new PyError("tojson separators must be a pair of strings");
            }
            itemSep = a;
            keySep = b;
        }
        return Py.toJson(value, new Py.JsonStyle(indent, itemSep, keySep, Py.truthy(p[3]), Py.truthy(p[0])));
    }

    private static Object minMax(Object value, List<Object> args, Map<String, Object> kwargs, boolean max) {
        String fn = max ? "max" : "min";
        Object[] p = bind(fn, args, kwargs, "case_sensitive", false, "attribute", null);
        Iterator<Object> it = Py.iterate(value);
        if (!it.hasNext()) return Undefined.hint("No aggregated item, sequence was empty.");
        Function<Object, Object> key = attrGetter(p[1], null, !Py.truthy(p[0]));
        Object best = it.next();
        Object bestKey = key.apply(best);
        while (it.hasNext()) {
            Object o = it.next();
            Object k = key.apply(o);
            if (max ? Py.compare(">", k, bestKey) : Py.compare("<", k, bestKey)) {
                best = o;
                bestKey = k;
            }
        }
        return best;
    }

    static {
        FILTERS.put("abs", (v, a, k) -> {
            Params.noArgs("abs", a, k);
            if (Py.isInt(v)) return Math.absExact(Py.asLong(v));
            if (v instanceof Double d) return Math.abs(d);
            if (v instanceof Undefined u) throw u.error();
            throw Py.typeError("bad operand type for abs(): '" + Py.typeName(v) + "'");
        });
        FILTERS.put("attr", (v, a, k) -> PyMethods.attribute(v, soft(bind("attr", a, k, "name", req())[0])));
        FILTERS.put("capitalize", (v, a, k) -> {
            Params.noArgs("capitalize", a, k);
            return PyMethods.capitalize(soft(v));
        });
        FILTERS.put("center", (v, a, k) -> {
            Object width = bind("center", a, k, "width", 80L)[0];
            return callStr(soft(v), "center", width);
        });
        Filter length = (v, a, k) -> {
            Params.noArgs("length", a, k);
            return (long) Py.len(v);
        };
        FILTERS.put("length", length);
        FILTERS.put("count", length);
        Filter dflt = (v, a, k) -> {
            Object[] p = bind("default", a, k, "default_value", "", "boolean", false);
            return v instanceof Undefined || (Py.truthy(p[1]) && !Py.truthy(v)) ? p[0] : v;
        };
        FILTERS.put("default", dflt);
        FILTERS.put("d", dflt);
        FILTERS.put("dictsort", (v, a, k) -> {
            Object[] p = bind("dictsort", a, k, "case_sensitive", false, "by", "key", "reverse", false);
            int pos = switch (String.valueOf(p[1])) {
                case "key" -> 0;
                case "value" -> 1;
                default -> throw new PyError("You can only sort by either \"key\" or \"value\"");
            };
            if (!(v instanceof Map<?, ?> m)) throw Py.typeError("dictsort needs a mapping, got '" + Py.typeName(v) + "'");
            List<Object> items = new ArrayList<>();
            m.forEach((key, val) -> items.add(Seq.tuple(key, val)));
            boolean ci = !Py.truthy(p[0]);
            Comparator<Object> byKey = Comparator.comparing(o -> {
                Object x = ((Seq) o).get(pos);
                return ci ? ignoreCase(x) : x;
            }, pythonOrder());
            items.sort(Py.truthy(p[2]) ? byKey.reversed() : byKey);
            return items;
        });
        FILTERS.put("format", (v, a, k) -> {
            if (!a.isEmpty() && !k.isEmpty()) throw new PyError("can't handle positional and keyword arguments at the same time");
            return PyMethods.percentFormat(soft(v), k.isEmpty() ? Py.tupleOf(a) : new LinkedHashMap<Object, Object>(k));
        });
        FILTERS.put("first", (v, a, k) -> {
            Params.noArgs("first", a, k);
            return firstOrUndefined(Py.iterate(v), "No first item, sequence was empty.");
        });
        FILTERS.put("last", (v, a, k) -> {
            Params.noArgs("last", a, k);
            return firstOrUndefined(reversedList(v).iterator(), "No last item, sequence was empty.");
        });
        FILTERS.put("float", (v, a, k) -> {
            Object d = bind("float", a, k, "default", 0.0)[0];
            Double f = pyFloat(v);
            return f == null ? d : f;
        });
        FILTERS.put("int", (v, a, k) -> {
            Object[] p = bind("int", a, k, "default", 0L, "base", 10L);
            return doInt(v, p[0], p[1]);
        });
        FILTERS.put("indent", (v, a, k) -> {
            Object[] p = bind("indent", a, k, "width", 4L, "first", false, "blank", false);
            return indent(v, p[0], p[1], p[2]);
        });
        FILTERS.put("items", (v, a, k) -> {
            Params.noArgs("items", a, k);
            if (v instanceof Undefined) return lazy(Collections.emptyIterator(), "generator");
            if (!(v instanceof Map<?, ?> m)) throw new PyError("Can only get item pairs from a mapping.");
            List<Object> items = new ArrayList<>();
            m.forEach((key, val) -> items.add(Seq.tuple(key, val)));
            return lazy(items.iterator(), "generator");
        });
        FILTERS.put("join", (v, a, k) -> {
            Object[] p = bind("join", a, k, "d", "", "attribute", null);
            Iterator<Object> it = p[1] == null ? Py.iterate(v) : mapped(v, attrGetter(p[1], null, false)).it;
            StringBuilder b = new StringBuilder();
            boolean firstItem = true;
            while (it.hasNext()) {
                if (!firstItem) b.append(soft(p[0]));
                b.append(soft(it.next()));
                firstItem = false;
            }
            return b.toString();
        });
        FILTERS.put("list", (v, a, k) -> {
            Params.noArgs("list", a, k);
            return Py.toList(v);
        });
        FILTERS.put("lower", (v, a, k) -> {
            Params.noArgs("lower", a, k);
            return soft(v).toLowerCase(Locale.ROOT);
        });
        FILTERS.put("upper", (v, a, k) -> {
            Params.noArgs("upper", a, k);
            return soft(v).toUpperCase(Locale.ROOT);
        });
        FILTERS.put("title", (v, a, k) -> {
            Params.noArgs("title", a, k);
            return title(soft(v));
        });
        FILTERS.put("map", (v, a, k) -> {
            if (a.isEmpty() && k.containsKey("attribute")) {
                Map<String, Object> rest = new LinkedHashMap<>(k);
                Object attribute = rest.remove("attribute");
                Object d = rest.remove("default");
                if (!rest.isEmpty()) throw new PyError("Unexpected keyword argument '" + rest.keySet().iterator().next() + "'");
                return mapped(v, attrGetter(attribute, d, false));
            }
            if (a.isEmpty()) throw new PyError("map requires a filter argument");
            if (!(a.get(0) instanceof String name)) throw new PyError("map: the filter name must be a string");
            List<Object> rest = a.subList(1, a.size());
            return mapped(v, x -> filter(name, x, rest, k));
        });
        FILTERS.put("max", (v, a, k) -> minMax(v, a, k, true));
        FILTERS.put("min", (v, a, k) -> minMax(v, a, k, false));
        FILTERS.put("select", (v, a, k) -> selectOrReject(v, a, k, true, false, "select"));
        FILTERS.put("reject", (v, a, k) -> selectOrReject(v, a, k, false, false, "reject"));
        FILTERS.put("selectattr", (v, a, k) -> selectOrReject(v, a, k, true, true, "selectattr"));
        FILTERS.put("rejectattr", (v, a, k) -> selectOrReject(v, a, k, false, true, "rejectattr"));
        FILTERS.put("replace", (v, a, k) -> {
            Object[] p = bind("replace", a, k, "old", req(), "new", req(), "count", null);
            List<Object> args = new ArrayList<>(List.of(soft(p[0]), soft(p[1])));
            if (p[2] != null) args.add(p[2]);
            return callStr(soft(v), "replace", args.toArray());
        });
        FILTERS.put("reverse", (v, a, k) -> {
            Params.noArgs("reverse", a, k);
            if (v instanceof String s) return new StringBuilder(s).reverse().toString();
            if (v instanceof Gen) { // reversed() refuses generators; jinja2 falls back to a reversed list
                List<Object> l = Py.toList(v);
                Collections.reverse(l);
                return l;
            }
            String kind = v instanceof Map<?, ?> ? "dict_reversekeyiterator" : "list_reverseiterator";
            return lazy(reversedList(v).iterator(), kind);
        });
        FILTERS.put("round", (v, a, k) -> {
            Object[] p = bind("round", a, k, "precision", 0L, "method", "common");
            return round(v, p[0], p[1]);
        });
        FILTERS.put("sort", (v, a, k) -> {
            Object[] p = bind("sort", a, k, "reverse", false, "case_sensitive", false, "attribute", null);
            List<Object> items = Py.toList(v);
            List<Function<Object, Object>> keys = new ArrayList<>();
            if (p[2] instanceof String attrs) {
                for (String part : attrs.split(",")) keys.add(attrGetter(part.strip(), null, !Py.truthy(p[1])));
            } else {
                keys.add(attrGetter(p[2], null, !Py.truthy(p[1])));
            }
            Comparator<Object> order = Comparator.comparing(
                    o -> keys.size() == 1 ? keys.get(0).apply(o) : (Object) keys.stream().map(f -> f.apply(o)).toList(),
                    pythonOrder());
            items.sort(Py.truthy(p[0]) ? order.reversed() : order);
            return items;
        });
        FILTERS.put("string", (v, a, k) -> {
            Params.noArgs("string", a, k);
            return soft(v);
        });
        FILTERS.put("sum", (v, a, k) -> {
            Object[] p = bind("sum", a, k, "attribute", null, "start", 0L);
            Iterator<Object> it = p[0] == null ? Py.iterate(v) : mapped(v, attrGetter(p[0], null, false)).it;
            Object total = p[1];
            while (it.hasNext()) total = Py.binary("+", total, it.next());
            return total;
        });
        FILTERS.put("tojson", Builtins::toJson);
        FILTERS.put("trim", (v, a, k) -> {
            Object chars = bind("trim", a, k, "chars", null)[0];
            return Py.strip(soft(v), chars == null ? null : soft(chars), true, true);
        });
        FILTERS.put("unique", (v, a, k) -> {
            Object[] p = bind("unique", a, k, "case_sensitive", false, "attribute", null);
            Function<Object, Object> key = attrGetter(p[1], null, !Py.truthy(p[0]));
            List<Object> seen = new ArrayList<>();
            return filtered(Py.toList(v), o -> {
                Object kk = key.apply(o);
                if (kk instanceof List<?> && !(kk instanceof Seq) || kk instanceof Map<?, ?>) {
                    throw Py.typeError("unhashable type: '" + Py.typeName(kk) + "'");
                }
                if (seen.stream().anyMatch(x -> Py.eq(x, kk))) return false;
                seen.add(kk);
                return true;
            });
        });
        FILTERS.put("wordcount", (v, a, k) -> {
            Params.noArgs("wordcount", a, k);
            Matcher m = Pattern.compile("\\w+", Pattern.UNICODE_CHARACTER_CLASS).matcher(soft(v));
            long n = 0;
            while (m.find()) n++;
            return n;
        });

        TESTS.put("boolean", (v, a, k) -> v instanceof Boolean);
        TESTS.put("callable", (v, a, k) -> v instanceof Py.Callable || v instanceof Undefined);
        TESTS.put("defined", (v, a, k) -> !(v instanceof Undefined));
        TESTS.put("undefined", (v, a, k) -> v instanceof Undefined);
        TESTS.put("divisibleby", (v, a, k) -> Py.eq(Py.binary("%", v, bind("divisibleby", a, k, "num", req())[0]), 0L));
        Test eq = (v, a, k) -> Py.eq(v, bind("eq", a, k, "other", req())[0]);
        TESTS.put("eq", eq);
        TESTS.put("==", eq);
        TESTS.put("equalto", eq);
        Test ne = (v, a, k) -> !Py.eq(v, bind("ne", a, k, "other", req())[0]);
        TESTS.put("ne", ne);
        TESTS.put("!=", ne);
        for (String[] op : new String[][] {{"lt", "<"}, {"lessthan", "<"}, {"le", "<="}, {"gt", ">"},
                {"greaterthan", ">"}, {"ge", ">="}}) {
            Test t = (v, a, k) -> Py.compare(op[1], v, bind(op[0], a, k, "other", req())[0]);
            TESTS.put(op[0], t);
            TESTS.put(op[1], t);
        }
        TESTS.put("escaped", (v, a, k) -> false); // nothing here is Markup: autoescape is off and |safe is not offered
        TESTS.put("even", (v, a, k) -> Py.eq(Py.binary("%", v, 2L), 0L));
        TESTS.put("odd", (v, a, k) -> Py.eq(Py.binary("%", v, 2L), 1L));
        TESTS.put("false", (v, a, k) -> Boolean.FALSE.equals(v));
        TESTS.put("true", (v, a, k) -> Boolean.TRUE.equals(v));
        TESTS.put("none", (v, a, k) -> v == null);
        TESTS.put("filter", (v, a, k) -> v instanceof String s && FILTERS.containsKey(s));
        TESTS.put("test", (v, a, k) -> v instanceof String s && TESTS.containsKey(s));
        TESTS.put("float", (v, a, k) -> v instanceof Double);
        TESTS.put("integer", (v, a, k) -> v instanceof Long);
        TESTS.put("number", (v, a, k) -> Py.isNumber(v));
        TESTS.put("string", (v, a, k) -> v instanceof String);
        TESTS.put("mapping", (v, a, k) -> v instanceof Map<?, ?>);
        TESTS.put("iterable", (v, a, k) -> v instanceof String || v instanceof List<?> || v instanceof Map<?, ?>
                || v instanceof Gen || v instanceof Undefined);
        TESTS.put("sequence", (v, a, k) -> v instanceof String || v instanceof List<?> || v instanceof Map<?, ?>
                || v instanceof Undefined);
        TESTS.put("in", (v, a, k) -> Py.contains(bind("in", a, k, "seq", req())[0], v));
        TESTS.put("lower", (v, a, k) -> (Boolean) callStr(soft(v), "islower"));
        TESTS.put("upper", (v, a, k) -> (Boolean) callStr(soft(v), "isupper"));
        TESTS.put("sameas", (v, a, k) -> {
            Object other = bind("sameas", a, k, "other", req())[0];
            // Python identity: None/True/False are singletons; otherwise the same object
            if (v instanceof Boolean || other instanceof Boolean) return v != null && v.equals(other);
            return v == other;
        });
    }

    // ---- globals

    /** The globals a chat template sees: jinja2's defaults as the sandbox offers them, plus transformers' additions. */
    static Map<String, Object> globals() {
        Map<String, Object> g = new LinkedHashMap<>();
        g.put("range", new Builtin("range", Builtins::range));
        g.put("dict", new Builtin("dict", (a, k) -> {
            Map<Object, Object> out = new LinkedHashMap<>();
            if (a.size() > 1) throw Py.typeError("dict expected at most 1 argument, got " + a.size());
            if (a.size() == 1) putAll(out, a.get(0));
            out.putAll(k);
            return out;
        }));
        g.put("namespace", new Builtin("namespace", (a, k) -> {
            Py.Namespace ns = new Py.Namespace();
            Map<Object, Object> init = new LinkedHashMap<>();
            if (a.size() > 1) throw Py.typeError("namespace expected at most 1 positional argument, got " + a.size());
            if (a.size() == 1) putAll(init, a.get(0));
            init.putAll(k);
            init.forEach((key, v) -> ns.attrs.put(Py.str(key), v));
            return ns;
        }));
        g.put("raise_exception", new Builtin("raise_exception", (a, k) -> {
            throw new Raised(Py.str(bind("raise_exception", a, k, "message", req())[0]));
        }));
        g.put("strftime_now", new Builtin("strftime_now", (a, k) ->
                strftime(Py.str(bind("strftime_now", a, k, "format", req())[0]), LocalDateTime.now())));
        for (String name : List.of("cycler", "joiner", "lipsum")) {
            g.put(name, new Builtin(name, (a, k) -> {
                throw new PyError("global '" + name + "' is not supported by this chat-template engine");
            }));
        }
        return g;
    }

    private static void putAll(Map<Object, Object> out, Object source) {
        if (source instanceof Map<?, ?> m) {
            out.putAll(m);
            return;
        }
        for (Object pair : Py.toList(source)) {
            List<Object> kv = Py.toList(pair);
            if (kv.size() != 2) throw new PyError("dictionary update sequence element has length " + kv.size() + "; 2 is required");
            out.put(kv.get(0), kv.get(1));
        }
    }

    /** jinja2.sandbox.safe_range: Python range(), refused above MAX_RANGE items. */
    private static Object range(List<Object> a, Map<String, Object> k) {
        if (!k.isEmpty()) throw Py.typeError("range() takes no keyword arguments");
        if (a.isEmpty() || a.size() > 3) throw Py.typeError("range expected 1 to 3 arguments, got " + a.size());
        long[] v = new long[a.size()];
        for (int i = 0; i < v.length; i++) {
            if (!Py.isInt(a.get(i))) throw Py.typeError("'" + Py.typeName(a.get(i)) + "' object cannot be interpreted as an integer");
            v[i] = Py.asLong(a.get(i));
        }
        long start = v.length == 1 ? 0 : v[0];
        long stop = v.length == 1 ? v[0] : v[1];
        long step = v.length == 3 ? v[2] : 1;
        if (step == 0) throw new PyError("range() arg 3 must not be zero");
        long n = step > 0 ? (stop > start ? (stop - start - 1) / step + 1 : 0) : (start > stop ? (start - stop - 1) / -step + 1 : 0);
        if (n > 100_000) throw new PyError("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
        List<Object> items = new ArrayList<>();
        for (long i = 0, x = start; i < n; i++, x += step) items.add(x);
        return new Py.RangeSeq(start, stop, step, Collections.unmodifiableList(items));
    }

    /** datetime.strftime for the C locale directives chat templates use ({@code strftime_now("%d %b %Y")}). */
    static String strftime(String format, LocalDateTime t) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if (c != '%' || i + 1 >= format.length()) {
                b.append(c);
                continue;
            }
            char d = format.charAt(++i);
            boolean noPad = d == '-' && i + 1 < format.length();
            if (noPad) d = format.charAt(++i);
            String two = "%02d";
            String out = switch (d) {
                case 'a' -> t.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.ENGLISH);
                case 'A' -> t.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.ENGLISH);
                case 'w' -> String.valueOf(t.getDayOfWeek().getValue() % 7);
                case 'd' -> String.format(two, t.getDayOfMonth());
                case 'b' -> t.getMonth().getDisplayName(TextStyle.SHORT, Locale.ENGLISH);
                case 'B' -> t.getMonth().getDisplayName(TextStyle.FULL, Locale.ENGLISH);
                case 'm' -> String.format(two, t.getMonthValue());
                case 'y' -> String.format(two, t.getYear() % 100);
                case 'Y' -> String.valueOf(t.getYear());
                case 'H' -> String.format(two, t.getHour());
                case 'I' -> String.format(two, (t.getHour() + 11) % 12 + 1);
                case 'p' -> t.getHour() < 12 ? "AM" : "PM";
                case 'M' -> String.format(two, t.getMinute());
                case 'S' -> String.format(two, t.getSecond());
                case 'f' -> String.format("%06d", t.getNano() / 1000);
                case 'j' -> String.format("%03d", t.getDayOfYear());
                case '%' -> "%";
                default -> throw new PyError("strftime directive '%" + (noPad ? "-" : "") + d + "' is not supported");
            };
            if (noPad && out.length() > 1 && out.charAt(0) == '0') out = out.replaceFirst("^0+(?=.)", "");
            b.append(out);
        }
        return b.toString();
    }
}
