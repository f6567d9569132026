package io.vqwen.engine.template;

import io.vqwen.engine.template.Ast.Expr;
import io.vqwen.engine.template.Ast.Node;
import io.vqwen.engine.template.Ast.Tag;
import io.vqwen.engine.template.Ast.Target;
import io.vqwen.engine.template.Py.PyError;
import io.vqwen.engine.template.Py.Undefined;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Walks the AST. Scoping follows jinja2: a for-loop iteration, macro call, with-block and set-block each get a
 * child scope whose assignments do not leak out (hence namespace()); if-blocks share their enclosing scope.
 */
final class Interpreter {
    private final Source src;
    /** The tag being executed, quoted in runtime errors. */
    private Tag tag;

    private Interpreter(Source src) {
        this.src = src;
    }

    static String render(Source src, List<Node> body, Map<String, Object> vars) {
        Scope globals = new Scope(null);
        globals.vars.putAll(Builtins.globals());
        Scope context = new Scope(globals);
        context.vars.putAll(vars);
        Interpreter in = new Interpreter(src);
        StringBuilder out = new StringBuilder();
        try {
            in.exec(body, new Scope(context), out);
        } catch (TemplateException e) {
            throw e;
        } catch (RuntimeException e) { // a defect here, not in the template: still say where it happened
            Tag t = in.tag == null ? new Tag(0, 0) : in.tag;
            throw src.error(t.start(), "internal error: " + e, src.excerpt(t.start(), t.end()));
        } catch (StackOverflowError e) { // Python would raise RecursionError for a runaway recursive macro
            Tag t = in.tag == null ? new Tag(0, 0) : in.tag;
            throw src.error(t.start(), "maximum recursion depth exceeded", src.excerpt(t.start(), t.end()));
        }
        return out.toString();
    }

    static final class Scope {
        private static final Object MISSING = new Object();
        final Scope parent;
        final Map<String, Object> vars = new HashMap<>();

        Scope(Scope parent) {
            this.parent = parent;
        }

        Object lookup(String name) {
            for (Scope s = this; s != null; s = s.parent) {
                Object v = s.vars.getOrDefault(name, MISSING);
                if (v != MISSING) return v;
            }
            return Undefined.name(name);
        }
    }

    private enum Flow { NEXT, BREAK, CONTINUE }

    // ---- statements

    private Flow exec(List<Node> body, Scope s, StringBuilder out) {
        for (Node n : body) {
            Flow f = exec(n, s, out);
            if (f != Flow.NEXT) return f;
        }
        return Flow.NEXT;
    }

    private Flow exec(Node node, Scope s, StringBuilder out) {
        switch (node) {
            case Ast.Text t -> out.append(t.text());
            case Ast.Output o -> {
                tag = o.tag();
                Object v = eval(o.expr(), s);
                try {
                    out.append(Py.str(v));
                } catch (PyError e) {
                    throw error(o.expr().pos(), e.getMessage());
                }
            }
            case Ast.If f -> {
                for (int i = 0; i < f.tests().size(); i++) {
                    tag = f.tags().get(i);
                    if (Py.truthy(eval(f.tests().get(i), s))) return exec(f.bodies().get(i), s, out);
                }
                return exec(f.orElse(), s, out);
            }
            case Ast.For f -> execFor(f, s, out);
            case Ast.Assign a -> {
                tag = a.tag();
                assign(a.target(), eval(a.value(), s), s);
            }
            case Ast.AssignBlock a -> {
                StringBuilder b = new StringBuilder();
                Flow f = exec(a.body(), new Scope(s), b);
                if (f != Flow.NEXT) return f;
                tag = a.tag();
                assign(a.target(), a.filter() == null ? b.toString() : applyFilters(a.filter(), b.toString(), s), s);
            }
            case Ast.FilterBlock fb -> {
                StringBuilder b = new StringBuilder();
                Flow f = exec(fb.body(), new Scope(s), b);
                if (f != Flow.NEXT) return f;
                tag = fb.tag();
                out.append(Py.str(applyFilters(fb.filter(), b.toString(), s)));
            }
            case Ast.With w -> {
                tag = w.tag();
                List<Object> values = new ArrayList<>();
                for (Expr e : w.values()) values.add(eval(e, s));
                Scope inner = new Scope(s);
                for (int i = 0; i < values.size(); i++) assign(w.targets().get(i), values.get(i), inner);
                return exec(w.body(), inner, out);
            }
            case Ast.MacroDef m -> s.vars.put(m.name(), new Macro(m, s));
            case Ast.LoopControl c -> {
                return c.isBreak() ? Flow.BREAK : Flow.CONTINUE;
            }
            case Ast.Scope sc -> {
                return exec(sc.body(), new Scope(s), out);
            }
        }
        return Flow.NEXT;
    }

    private void execFor(Ast.For f, Scope s, StringBuilder out) {
        tag = f.tag();
        Object iterable = eval(f.iter(), s);
        List<Object> items;
        try {
            items = Py.toList(iterable);
        } catch (PyError e) {
            throw error(f.iter().pos(), e.getMessage());
        }
        if (f.filter() != null) {
            List<Object> kept = new ArrayList<>();
            for (Object item : items) {
                Scope fs = new Scope(s);
                assign(f.target(), item, fs);
                if (Py.truthy(eval(f.filter(), fs))) kept.add(item);
            }
            items = kept;
        }
        if (items.isEmpty()) {
            exec(f.orElse(), new Scope(s), out);
            return;
        }
        Loop loop = new Loop(items);
        for (int i = 0; i < items.size(); i++) {
            Scope ls = new Scope(s);
            tag = f.tag();
            assign(f.target(), items.get(i), ls);
            loop.index0 = i;
            ls.vars.put("loop", loop);
            if (exec(f.body(), ls, out) == Flow.BREAK) break;
        }
    }

    private void assign(Target target, Object value, Scope s) {
        switch (target) {
            case Ast.NameTarget n -> s.vars.put(n.name(), value);
            case Ast.TupleTarget t -> {
                List<Object> values;
                try {
                    values = Py.toList(value);
                } catch (PyError e) {
                    throw error(t.pos(), "cannot unpack non-iterable " + Py.typeName(value) + " object");
                }
                int n = t.items().size();
                if (values.size() != n) {
                    throw error(t.pos(), values.size() > n ? "too many values to unpack (expected " + n + ")"
                            : "not enough values to unpack (expected " + n + ", got " + values.size() + ")");
                }
                for (int i = 0; i < n; i++) assign(t.items().get(i), values.get(i), s);
            }
            case Ast.NsTarget ns -> {
                if (!(s.lookup(ns.name()) instanceof Py.Namespace namespace)) {
                    throw error(ns.pos(), "cannot assign attribute on non-namespace object '" + ns.name() + "'");
                }
                namespace.attrs.put(ns.attr(), value);
            }
        }
    }

    // ---- expressions

    private TemplateException error(int pos, String detail) {
        Tag t = tag == null ? new Tag(pos, pos) : tag;
        return src.error(pos, detail, src.excerpt(t.start(), t.end()));
    }

    private Object eval(Expr e, Scope s) {
        try {
            return evalInner(e, s);
        } catch (PyError err) {
            throw error(e.pos(), err.getMessage());
        } catch (Builtins.Raised r) {
            throw new TemplateException(r.getMessage(), src.line(e.pos()), src.column(e.pos()));
        }
    }

    private Object evalInner(Expr e, Scope s) {
        return switch (e) {
            case Ast.Const c -> c.value();
            case Ast.Name n -> s.lookup(n.name());
            case Ast.GetAttr g -> PyMethods.getattr(eval(g.obj(), s), g.attr());
            case Ast.GetItem g -> {
                Object obj = eval(g.obj(), s);
                if (g.key() instanceof Ast.Slice sl) {
                    yield PyMethods.slice(obj, evalOrNull(sl.start(), s), evalOrNull(sl.stop(), s), evalOrNull(sl.step(), s));
                }
                yield PyMethods.getitem(obj, eval(g.key(), s));
            }
            case Ast.Slice sl -> throw new PyError("a slice is only allowed directly inside [ ]");
            case Ast.Call c -> {
                Object fn = eval(c.fn(), s);
                List<Object> args = new ArrayList<>();
                Map<String, Object> kwargs = new LinkedHashMap<>();
                evalArgs(c.args(), s, args, kwargs);
                if (fn instanceof Undefined u) throw u.error();
                if (!(fn instanceof Py.Callable callable)) throw Py.typeError("'" + Py.typeName(fn) + "' object is not callable");
                yield callable.call(args, kwargs);
            }
            case Ast.Filter f -> applyFilters(f, null, s);
            case Ast.Test t -> {
                Object value = eval(t.value(), s);
                List<Object> args = new ArrayList<>();
                Map<String, Object> kwargs = new LinkedHashMap<>();
                evalArgs(t.args(), s, args, kwargs);
                yield Builtins.test(t.name(), value, args, kwargs);
            }
            case Ast.Binary b -> switch (b.op()) {
                case "and" -> {
                    Object l = eval(b.left(), s);
                    yield Py.truthy(l) ? eval(b.right(), s) : l;
                }
                case "or" -> {
                    Object l = eval(b.left(), s);
                    yield Py.truthy(l) ? l : eval(b.right(), s);
                }
                case "~" -> Py.str(eval(b.left(), s)) + Py.str(eval(b.right(), s));
                default -> Py.binary(b.op(), eval(b.left(), s), eval(b.right(), s));
            };
            case Ast.Unary u -> switch (u.op()) {
                case "not" -> !Py.truthy(eval(u.operand(), s));
                case "-" -> Py.negate(eval(u.operand(), s));
                default -> Py.plus(eval(u.operand(), s));
            };
            case Ast.Compare c -> {
                Object left = eval(c.first(), s);
                for (int i = 0; i < c.ops().size(); i++) {
                    Object right = eval(c.rest().get(i), s);
                    if (!compare(c.ops().get(i), left, right)) yield false;
                    left = right;
                }
                yield true;
            }
            case Ast.CondExpr c -> {
                if (Py.truthy(eval(c.test(), s))) yield eval(c.then(), s);
                if (c.orElse() != null) yield eval(c.orElse(), s);
                yield Undefined.hint("the inline if-expression on line " + src.line(c.pos())
                        + " evaluated to false and no else section was defined.");
            }
            case Ast.ListLit l -> {
                List<Object> out = new ArrayList<>();
                for (Expr x : l.items()) out.add(eval(x, s));
                yield out;
            }
            case Ast.TupleLit t -> {
                List<Object> out = new ArrayList<>();
                for (Expr x : t.items()) out.add(eval(x, s));
                yield Py.tupleOf(out);
            }
            case Ast.DictLit d -> {
                Map<Object, Object> out = new LinkedHashMap<>();
                for (int i = 0; i < d.keys().size(); i++) {
                    Object k = eval(d.keys().get(i), s);
                    if ((k instanceof List<?> && !(k instanceof Py.Seq)) || k instanceof Map<?, ?>) {
                        throw Py.typeError("unhashable type: '" + Py.typeName(k) + "'");
                    }
                    Object existing = Py.findKey(out, k);
                    out.put(existing == Py.NO_KEY ? k : existing, eval(d.values().get(i), s));
                }
                yield out;
            }
        };
    }

    private Object evalOrNull(Expr e, Scope s) {
        return e == null ? null : eval(e, s);
    }

    private static boolean compare(String op, Object left, Object right) {
        return switch (op) {
            case "==" -> Py.eq(left, right);
            case "!=" -> !Py.eq(left, right);
            case "in" -> Py.contains(right, left);
            case "notin" -> !Py.contains(right, left);
            default -> Py.compare(op, left, right);
        };
    }

    private void evalArgs(Ast.Args a, Scope s, List<Object> args, Map<String, Object> kwargs) {
        for (Expr x : a.positional()) args.add(eval(x, s));
        for (int i = 0; i < a.kwNames().size(); i++) kwargs.put(a.kwNames().get(i), eval(a.kwValues().get(i), s));
        if (a.star() != null) args.addAll(Py.toList(eval(a.star(), s)));
        if (a.starStar() != null) {
            if (!(eval(a.starStar(), s) instanceof Map<?, ?> m)) throw Py.typeError("argument after ** must be a mapping");
            for (Map.Entry<?, ?> en : m.entrySet()) {
                if (!(en.getKey() instanceof String k)) throw Py.typeError("keywords must be strings");
                if (kwargs.put(k, en.getValue()) != null) throw Py.typeError("got multiple values for keyword argument '" + k + "'");
            }
        }
    }

    /** A Filter chain; a null innermost value stands for the block body of {% filter %} / {% set x | f %}. */
    private Object applyFilters(Expr chain, Object blockValue, Scope s) {
        Ast.Filter f = (Ast.Filter) chain;
        Object value;
        if (f.value() == null) value = blockValue;
        else if (f.value() instanceof Ast.Filter inner) value = applyFilters(inner, blockValue, s);
        else value = eval(f.value(), s);
        List<Object> args = new ArrayList<>();
        Map<String, Object> kwargs = new LinkedHashMap<>();
        evalArgs(f.args(), s, args, kwargs);
        try {
            return Builtins.filter(f.name(), value, args, kwargs);
        } catch (PyError e) {
            throw error(f.pos(), e.getMessage());
        }
    }

    /** jinja2.runtime.LoopContext without recursion (depth is always 1). */
    private static final class Loop implements Py.HasAttrs {
        private final List<Object> items;
        int index0;
        private Object lastChanged = new Object();

        Loop(List<Object> items) {
            this.items = items;
        }

        @Override
        public Object attr(String name) {
            int n = items.size();
            return switch (name) {
                case "index0" -> (long) index0;
                case "index" -> (long) index0 + 1;
                case "revindex" -> (long) (n - index0);
                case "revindex0" -> (long) (n - index0 - 1);
                case "first" -> index0 == 0;
                case "last" -> index0 == n - 1;
                case "length" -> (long) n;
                case "depth" -> 1L;
                case "depth0" -> 0L;
                case "previtem" -> index0 > 0 ? items.get(index0 - 1) : Undefined.hint("there is no previous item");
                case "nextitem" -> index0 < n - 1 ? items.get(index0 + 1) : Undefined.hint("there is no next item");
                case "cycle" -> new Py.Builtin("loop.cycle", (a, k) -> {
                    if (a.isEmpty()) throw Py.typeError("no items for cycling given");
                    return a.get(index0 % a.size());
                });
                case "changed" -> new Py.Builtin("loop.changed", (a, k) -> {
                    List<Object> now = new ArrayList<>(a);
                    if (lastChanged instanceof List<?> last && Py.eq(last, now)) return false;
                    lastChanged = now;
                    return true;
                });
                default -> Undefined.attr(this, name);
            };
        }

        @Override
        public String typeName() {
            return "LoopContext";
        }

        @Override
        public String text() {
            return "<LoopContext " + (index0 + 1) + "/" + items.size() + ">";
        }
    }

    /** A {% macro %}: called like a function, renders its body in a child of the scope it was defined in. */
    private final class Macro implements Py.Callable, Py.HasAttrs {
        private final Ast.MacroDef def;
        private final Scope closure;

        Macro(Ast.MacroDef def, Scope closure) {
            this.def = def;
            this.closure = closure;
        }

        @Override
        public Object call(List<Object> args, Map<String, Object> kwargs) {
            Scope ms = new Scope(closure);
            Map<String, Object> rest = new LinkedHashMap<>(kwargs);
            List<String> params = def.params();
            int firstDefault = params.size() - def.defaults().size();
            Tag caller = tag;
            tag = def.tag();
            for (int i = 0; i < params.size(); i++) {
                String p = params.get(i);
                if (i < args.size()) ms.vars.put(p, args.get(i));
                else if (rest.containsKey(p)) ms.vars.put(p, rest.remove(p));
                else if (i >= firstDefault) ms.vars.put(p, eval(def.defaults().get(i - firstDefault), ms));
                else ms.vars.put(p, Undefined.hint("parameter '" + p + "' was not provided"));
            }
            tag = caller;
            if (def.catchKwargs()) ms.vars.put("kwargs", rest);
            else if (!rest.isEmpty()) {
                throw new PyError("macro '" + def.name() + "' takes no keyword argument '" + rest.keySet().iterator().next() + "'");
            }
            if (def.catchVarargs()) {
                ms.vars.put("varargs", Py.tupleOf(args.size() > params.size() ? args.subList(params.size(), args.size()) : List.of()));
            } else if (args.size() > params.size()) {
                throw new PyError("macro '" + def.name() + "' takes not more than " + params.size() + " argument(s)");
            }
            StringBuilder out = new StringBuilder();
            exec(def.body(), ms, out);
            tag = caller;
            return out.toString();
        }

        @Override
        public Object attr(String name) {
            return switch (name) {
                case "name" -> def.name();
                case "arguments" -> Py.tupleOf(new ArrayList<>(def.params()));
                case "catch_kwargs" -> def.catchKwargs();
                case "catch_varargs" -> def.catchVarargs();
                default -> Undefined.attr(this, name);
            };
        }

        @Override
        public String typeName() {
            return "Macro";
        }

        @Override
        public String text() {
            return "<Macro " + Py.strRepr(def.name()) + ">";
        }
    }
}
