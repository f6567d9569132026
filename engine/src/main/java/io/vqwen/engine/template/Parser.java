package io.vqwen.engine.template;

import io.vqwen.engine.template.Ast.Args;
import io.vqwen.engine.template.Ast.Expr;
import io.vqwen.engine.template.Ast.Node;
import io.vqwen.engine.template.Ast.Tag;
import io.vqwen.engine.template.Ast.Target;
import io.vqwen.engine.template.Lexer.Kind;
import io.vqwen.engine.template.Lexer.Token;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** Recursive-descent parser following jinja2/parser.py method for method, so precedence and quirks match. */
final class Parser {
    private static final Set<String> COMPARE_OPS = Set.of("==", "!=", "<", "<=", ">", ">=");
    /** jinja2 tags (core or common extensions) this engine deliberately does not implement. */
    private static final Set<String> UNSUPPORTED_TAGS =
            Set.of("block", "extends", "include", "import", "from", "call", "autoescape", "do", "trans", "debug");

    private final Source src;
    private final List<Token> tokens;
    private int i;
    private int loopDepth;
    /** Names referenced inside each open macro body, to find out whether it uses varargs/kwargs (as jinja2 does). */
    private final Deque<Set<String>> macroNames = new ArrayDeque<>();
    /** What the innermost open blocks wait for, for error messages. */
    private final Deque<String> openBlocks = new ArrayDeque<>();

    private Parser(Source src, List<Token> tokens) {
        this.src = src;
        this.tokens = tokens;
    }

    static List<Node> parse(Source src, List<Token> tokens) {
        List<Node> body = new Parser(src, tokens).subparse(null);
        new NameCheck(src).body(body, false);
        return body;
    }

    /**
     * jinja2's compile-time check that filters and tests exist. Like jinja2 it is skipped in "soft" frames (directly
     * inside an if-block or inline if), where an unknown name only fails if it is evaluated.
     */
    private record NameCheck(Source src) {
        void body(List<Node> nodes, boolean soft) {
            for (Node n : nodes) node(n, soft);
        }

        void node(Node n, boolean soft) {
            switch (n) {
                case Ast.Text t -> { }
                case Ast.Output o -> expr(o.expr(), soft, o.tag());
                case Ast.If f -> {
                    for (int k = 0; k < f.tests().size(); k++) {
                        expr(f.tests().get(k), true, f.tags().get(k));
                        body(f.bodies().get(k), true);
                    }
                    body(f.orElse(), true);
                }
                case Ast.For f -> { // the iterable is evaluated in the enclosing frame, the rest in inner frames
                    expr(f.iter(), soft, f.tag());
                    if (f.filter() != null) expr(f.filter(), false, f.tag());
                    body(f.body(), false);
                    body(f.orElse(), false);
                }
                case Ast.Assign a -> expr(a.value(), soft, a.tag());
                case Ast.AssignBlock a -> {
                    body(a.body(), false);
                    if (a.filter() != null) expr(a.filter(), false, a.tag());
                }
                case Ast.MacroDef m -> {
                    for (Expr d : m.defaults()) expr(d, false, m.tag());
                    body(m.body(), false);
                }
                case Ast.FilterBlock fb -> {
                    body(fb.body(), false);
                    expr(fb.filter(), false, fb.tag());
                }
                case Ast.With w -> {
                    for (Expr v : w.values()) expr(v, soft, w.tag());
                    body(w.body(), false);
                }
                case Ast.Scope sc -> body(sc.body(), false);
                case Ast.LoopControl c -> { }
            }
        }

        void expr(Expr e, boolean soft, Tag tag) {
            if (e == null) return;
            switch (e) {
                case Ast.Filter f -> {
                    String problem = Builtins.checkFilter(f.name());
                    if (problem != null && !soft) throw src.error(f.pos(), problem, src.excerpt(tag.start(), tag.end()));
                    expr(f.value(), soft, tag);
                    args(f.args(), soft, tag);
                }
                case Ast.Test t -> {
                    String problem = Builtins.checkTest(t.name());
                    if (problem != null && !soft) throw src.error(t.pos(), problem, src.excerpt(tag.start(), tag.end()));
                    expr(t.value(), soft, tag);
                    args(t.args(), soft, tag);
                }
                case Ast.CondExpr c -> {
                    expr(c.test(), true, tag);
                    expr(c.then(), true, tag);
                    expr(c.orElse(), true, tag);
                }
                case Ast.GetAttr g -> expr(g.obj(), soft, tag);
                case Ast.GetItem g -> {
                    expr(g.obj(), soft, tag);
                    expr(g.key(), soft, tag);
                }
                case Ast.Slice sl -> {
                    expr(sl.start(), soft, tag);
                    expr(sl.stop(), soft, tag);
                    expr(sl.step(), soft, tag);
                }
                case Ast.Call c -> {
                    expr(c.fn(), soft, tag);
                    args(c.args(), soft, tag);
                }
                case Ast.Binary b -> {
                    expr(b.left(), soft, tag);
                    expr(b.right(), soft, tag);
                }
                case Ast.Unary u -> expr(u.operand(), soft, tag);
                case Ast.Compare c -> {
                    expr(c.first(), soft, tag);
                    for (Expr x : c.rest()) expr(x, soft, tag);
                }
                case Ast.ListLit l -> l.items().forEach(x -> expr(x, soft, tag));
                case Ast.TupleLit l -> l.items().forEach(x -> expr(x, soft, tag));
                case Ast.DictLit d -> {
                    d.keys().forEach(x -> expr(x, soft, tag));
                    d.values().forEach(x -> expr(x, soft, tag));
                }
                case Ast.Const c -> { }
                case Ast.Name n -> { }
            }
        }

        void args(Args a, boolean soft, Tag tag) {
            a.positional().forEach(x -> expr(x, soft, tag));
            a.kwValues().forEach(x -> expr(x, soft, tag));
            expr(a.star(), soft, tag);
            expr(a.starStar(), soft, tag);
        }
    }

    // ---- token stream

    private Token cur() {
        return tokens.get(i);
    }

    private Token look() {
        return tokens.get(Math.min(i + 1, tokens.size() - 1));
    }

    private Token next() {
        Token t = tokens.get(i);
        if (t.kind() != Kind.EOF) i++;
        return t;
    }

    private boolean skipName(String name) {
        if (!cur().isName(name)) return false;
        next();
        return true;
    }

    private boolean skipOp(String op) {
        if (!cur().isOp(op)) return false;
        next();
        return true;
    }

    private Token expect(Kind kind, String what) {
        if (cur().kind() != kind) throw fail(cur(), "expected " + what + ", got '" + cur().describe() + "'");
        return next();
    }

    private void expectOp(String op) {
        if (!cur().isOp(op)) throw fail(cur(), "expected '" + op + "', got '" + cur().describe() + "'");
        next();
    }

    private void expectName(String name) {
        if (!cur().isName(name)) throw fail(cur(), "expected '" + name + "', got '" + cur().describe() + "'");
        next();
    }

    /** The tag around token index {@code at}: from its opening delimiter to its closing one. */
    private Tag tagAround(int at) {
        int b = at;
        while (b > 0 && tokens.get(b).kind() != Kind.BLOCK_BEGIN && tokens.get(b).kind() != Kind.VAR_BEGIN) b--;
        int e = at;
        while (e < tokens.size() - 1 && tokens.get(e).kind() != Kind.BLOCK_END && tokens.get(e).kind() != Kind.VAR_END) e++;
        Token end = tokens.get(e);
        return new Tag(tokens.get(b).pos(), end.pos() + end.text().length());
    }

    private TemplateException fail(Token at, String detail) {
        Tag tag = tagAround(tokens.indexOf(at) < 0 ? i : tokens.indexOf(at));
        return src.error(at.pos(), detail, src.excerpt(tag.start(), tag.end()));
    }

    // ---- statements

    private List<Node> subparse(Set<String> endTokens) {
        List<Node> body = new ArrayList<>();
        while (true) {
            Token t = cur();
            switch (t.kind()) {
                case DATA -> {
                    next();
                    body.add(new Ast.Text(t.text()));
                }
                case VAR_BEGIN -> {
                    next();
                    int at = i;
                    Expr e = parseTuple(false, true, null, false);
                    expect(Kind.VAR_END, "end of print statement");
                    body.add(new Ast.Output(e, tagAround(at)));
                }
                case BLOCK_BEGIN -> {
                    next();
                    if (endTokens != null && cur().kind() == Kind.NAME && endTokens.contains(cur().text())) return body;
                    body.add(parseStatement());
                    expect(Kind.BLOCK_END, "end of statement block");
                }
                case EOF -> {
                    if (endTokens != null) {
                        throw fail(t, "unexpected end of template: a block is never closed (expected "
                                + openBlocks.peek() + ")");
                    }
                    return body;
                }
                default -> throw fail(t, "unexpected '" + t.describe() + "'");
            }
        }
    }

    /** After a block's opening tag: its body up to one of endTokens (positioned on that name unless dropNeedle). */
    private List<Node> parseStatements(List<String> endTokens, boolean dropNeedle) {
        skipOp(":");
        expect(Kind.BLOCK_END, "end of statement block");
        openBlocks.push(String.join(" or ", endTokens.stream().map(s -> "'{% " + s + " %}'").toList()));
        List<Node> body = subparse(Set.copyOf(endTokens));
        openBlocks.pop();
        if (dropNeedle) next();
        return body;
    }

    private Node parseStatement() {
        Token t = cur();
        if (t.kind() != Kind.NAME) throw fail(t, "tag name expected");
        Tag tag = tagAround(i);
        switch (t.text()) {
            case "for":
                return parseFor(tag);
            case "if":
                return parseIf();
            case "set":
                return parseSet(tag);
            case "macro":
                return parseMacro(tag);
            case "break", "continue": {
                next();
                if (loopDepth == 0) throw fail(t, "'" + t.text() + "' outside of a for loop");
                return new Ast.LoopControl(t.text().equals("break"), tag);
            }
            case "filter": {
                next();
                Expr filter = parseFilter(null, true);
                return new Ast.FilterBlock(filter, parseStatements(List.of("endfilter"), true), tag);
            }
            case "with":
                return parseWith(tag);
            case "print": {
                next();
                return new Ast.Output(parseTuple(false, true, null, false), tag);
            }
            case "generation": {
                next();
                return new Ast.Scope(parseStatements(List.of("endgeneration"), true));
            }
            default: {
                if (UNSUPPORTED_TAGS.contains(t.text())) {
                    throw fail(t, "the '" + t.text() + "' tag is not supported by this chat-template engine");
                }
                String where = openBlocks.isEmpty() ? "" : "; the innermost open block expects " + openBlocks.peek();
                throw fail(t, "unknown tag '" + t.text() + "'" + where);
            }
        }
    }

    private Node parseFor(Tag tag) {
        next();
        Target target = parseAssignTarget(Set.of("in"), false);
        expectName("in");
        Expr iter = parseTuple(false, false, Set.of("recursive"), false);
        Expr filter = skipName("if") ? parseExpression(true) : null;
        if (cur().isName("recursive")) throw fail(cur(), "recursive for loops are not supported");
        loopDepth++;
        List<Node> body = parseStatements(List.of("endfor", "else"), false);
        loopDepth--;
        List<Node> orElse = next().text().equals("endfor") ? List.of() : parseStatements(List.of("endfor"), true);
        return new Ast.For(target, iter, filter, body, orElse, tag);
    }

    private Node parseIf() {
        List<Expr> tests = new ArrayList<>();
        List<List<Node>> bodies = new ArrayList<>();
        List<Tag> tags = new ArrayList<>();
        List<Node> orElse = List.of();
        next();
        while (true) {
            tags.add(tagAround(i));
            tests.add(parseTuple(false, false, null, false));
            bodies.add(parseStatements(List.of("elif", "else", "endif"), false));
            Token t = next();
            if (t.isName("elif")) continue;
            if (t.isName("else")) orElse = parseStatements(List.of("endif"), true);
            break;
        }
        return new Ast.If(tests, bodies, orElse, tags);
    }

    private Node parseSet(Tag tag) {
        next();
        Target target = parseAssignTarget(null, true);
        if (skipOp("=")) return new Ast.Assign(target, parseTuple(false, true, null, false), tag);
        Expr filter = parseFilter(null, false);
        return new Ast.AssignBlock(target, filter, parseStatements(List.of("endset"), true), tag);
    }

    private Node parseMacro(Tag tag) {
        next();
        String name = expect(Kind.NAME, "macro name").text();
        List<String> params = new ArrayList<>();
        List<Expr> defaults = new ArrayList<>();
        expectOp("(");
        while (!cur().isOp(")")) {
            if (!params.isEmpty()) expectOp(",");
            Token param = expect(Kind.NAME, "parameter name");
            if (skipOp("=")) {
                defaults.add(parseExpression(true));
            } else if (!defaults.isEmpty()) {
                throw fail(param, "non-default argument follows default argument");
            }
            params.add(param.text());
        }
        expectOp(")");
        macroNames.push(new HashSet<>());
        int outerLoops = loopDepth;
        loopDepth = 0;
        List<Node> body = parseStatements(List.of("endmacro"), true);
        loopDepth = outerLoops;
        Set<String> used = macroNames.pop();
        return new Ast.MacroDef(name, params, defaults, body, used.contains("varargs") && !params.contains("varargs"),
                used.contains("kwargs") && !params.contains("kwargs"), tag);
    }

    private Node parseWith(Tag tag) {
        next();
        List<Target> targets = new ArrayList<>();
        List<Expr> values = new ArrayList<>();
        while (cur().kind() != Kind.BLOCK_END) {
            if (!targets.isEmpty()) expectOp(",");
            targets.add(parseAssignTarget(null, false));
            expectOp("=");
            values.add(parseExpression(true));
        }
        return new Ast.With(targets, values, parseStatements(List.of("endwith"), true), tag);
    }

    private Target parseAssignTarget(Set<String> extraEnd, boolean withNamespace) {
        Token start = cur();
        if (withNamespace && look().isOp(".")) {
            String name = expect(Kind.NAME, "name").text();
            next();
            return new Ast.NsTarget(name, expect(Kind.NAME, "attribute name").text(), start.pos());
        }
        return toTarget(parseTuple(true, false, extraEnd, false), start);
    }

    private Target toTarget(Expr e, Token start) {
        return switch (e) {
            case Ast.Name n -> new Ast.NameTarget(n.name(), n.pos());
            case Ast.TupleLit t -> new Ast.TupleTarget(t.items().stream().map(x -> toTarget(x, start)).toList(), t.pos());
            default -> throw fail(start, "can't assign to this expression");
        };
    }

    // ---- expressions

    private Expr parseTuple(boolean simplified, boolean withCondexpr, Set<String> extraEnd, boolean explicitParens) {
        int pos = cur().pos();
        List<Expr> items = new ArrayList<>();
        boolean isTuple = false;
        while (true) {
            if (!items.isEmpty()) expectOp(",");
            if (isTupleEnd(extraEnd)) break;
            items.add(simplified ? parsePrimary() : parseExpression(withCondexpr));
            if (cur().isOp(",")) isTuple = true;
            else break;
        }
        if (!isTuple) {
            if (!items.isEmpty()) return items.getFirst();
            if (!explicitParens) throw fail(cur(), "expected an expression, got '" + cur().describe() + "'");
        }
        return new Ast.TupleLit(items, pos);
    }

    private boolean isTupleEnd(Set<String> extraEnd) {
        Token t = cur();
        if (t.kind() == Kind.VAR_END || t.kind() == Kind.BLOCK_END || t.isOp(")")) return true;
        return extraEnd != null && t.kind() == Kind.NAME && extraEnd.contains(t.text());
    }

    private Expr parseExpression(boolean withCondexpr) {
        return withCondexpr ? parseCondexpr() : parseOr();
    }

    private Expr parseCondexpr() {
        int pos = cur().pos();
        Expr expr = parseOr();
        while (skipName("if")) {
            Expr test = parseOr();
            Expr orElse = skipName("else") ? parseCondexpr() : null;
            expr = new Ast.CondExpr(test, expr, orElse, pos);
        }
        return expr;
    }

    private Expr parseOr() {
        Expr left = parseAnd();
        while (cur().isName("or")) {
            int pos = next().pos();
            left = new Ast.Binary("or", left, parseAnd(), pos);
        }
        return left;
    }

    private Expr parseAnd() {
        Expr left = parseNot();
        while (cur().isName("and")) {
            int pos = next().pos();
            left = new Ast.Binary("and", left, parseNot(), pos);
        }
        return left;
    }

    private Expr parseNot() {
        if (cur().isName("not")) {
            int pos = next().pos();
            return new Ast.Unary("not", parseNot(), pos);
        }
        return parseCompare();
    }

    private Expr parseCompare() {
        int pos = cur().pos();
        Expr first = parseMath1();
        List<String> ops = new ArrayList<>();
        List<Expr> rest = new ArrayList<>();
        while (true) {
            if (cur().kind() == Kind.OP && COMPARE_OPS.contains(cur().text())) {
                ops.add(next().text());
            } else if (skipName("in")) {
                ops.add("in");
            } else if (cur().isName("not") && look().isName("in")) {
                next();
                next();
                ops.add("notin");
            } else {
                break;
            }
            rest.add(parseMath1());
        }
        return ops.isEmpty() ? first : new Ast.Compare(first, ops, rest, pos);
    }

    private Expr parseMath1() {
        Expr left = parseConcat();
        while (cur().isOp("+") || cur().isOp("-")) {
            Token op = next();
            left = new Ast.Binary(op.text(), left, parseConcat(), op.pos());
        }
        return left;
    }

    private Expr parseConcat() {
        Expr left = parseMath2();
        while (cur().isOp("~")) {
            Token op = next();
            left = new Ast.Binary("~", left, parseMath2(), op.pos());
        }
        return left;
    }

    private Expr parseMath2() {
        Expr left = parsePow();
        while (cur().isOp("*") || cur().isOp("/") || cur().isOp("//") || cur().isOp("%")) {
            Token op = next();
            left = new Ast.Binary(op.text(), left, parsePow(), op.pos());
        }
        return left;
    }

    private Expr parsePow() {
        Expr left = parseUnary(true);
        while (cur().isOp("**")) {
            Token op = next();
            left = new Ast.Binary("**", left, parseUnary(true), op.pos());
        }
        return left;
    }

    private Expr parseUnary(boolean withFilter) {
        Token t = cur();
        Expr node;
        if (t.isOp("-") || t.isOp("+")) {
            next();
            node = new Ast.Unary(t.text(), parseUnary(false), t.pos());
        } else {
            node = parsePrimary();
        }
        node = parsePostfix(node);
        return withFilter ? parseFilterExpr(node) : node;
    }

    private Expr parsePrimary() {
        Token t = cur();
        switch (t.kind()) {
            case NAME -> {
                next();
                return switch (t.text()) {
                    case "true", "True" -> new Ast.Const(Boolean.TRUE, t.pos());
                    case "false", "False" -> new Ast.Const(Boolean.FALSE, t.pos());
                    case "none", "None" -> new Ast.Const(null, t.pos());
                    default -> {
                        for (Set<String> names : macroNames) names.add(t.text());
                        yield new Ast.Name(t.text(), t.pos());
                    }
                };
            }
            case STRING -> {
                StringBuilder b = new StringBuilder();
                while (cur().kind() == Kind.STRING) b.append((String) next().value());
                return new Ast.Const(b.toString(), t.pos());
            }
            case INT, FLOAT -> {
                next();
                return new Ast.Const(t.value(), t.pos());
            }
            default -> {
                if (t.isOp("(")) {
                    next();
                    Expr e = parseTuple(false, true, null, true);
                    expectOp(")");
                    return e;
                }
                if (t.isOp("[")) return parseList();
                if (t.isOp("{")) return parseDict();
                throw fail(t, "unexpected '" + t.describe() + "'");
            }
        }
    }

    private Expr parseList() {
        int pos = next().pos();
        List<Expr> items = new ArrayList<>();
        while (!cur().isOp("]")) {
            if (!items.isEmpty()) expectOp(",");
            if (cur().isOp("]")) break;
            items.add(parseExpression(true));
        }
        expectOp("]");
        return new Ast.ListLit(items, pos);
    }

    private Expr parseDict() {
        int pos = next().pos();
        List<Expr> keys = new ArrayList<>();
        List<Expr> values = new ArrayList<>();
        while (!cur().isOp("}")) {
            if (!keys.isEmpty()) expectOp(",");
            if (cur().isOp("}")) break;
            keys.add(parseExpression(true));
            expectOp(":");
            values.add(parseExpression(true));
        }
        expectOp("}");
        return new Ast.DictLit(keys, values, pos);
    }

    private Expr parsePostfix(Expr node) {
        while (true) {
            if (cur().isOp(".") || cur().isOp("[")) node = parseSubscript(node);
            else if (cur().isOp("(")) node = new Ast.Call(node, parseCallArgs(), node.pos());
            else return node;
        }
    }

    private Expr parseFilterExpr(Expr node) {
        while (true) {
            if (cur().isOp("|")) node = parseFilter(node, false);
            else if (cur().isName("is")) node = parseTest(node);
            else if (cur().isOp("(")) node = new Ast.Call(node, parseCallArgs(), node.pos());
            else return node;
        }
    }

    private Expr parseSubscript(Expr node) {
        Token t = next();
        if (t.isOp(".")) {
            Token attr = next();
            if (attr.kind() == Kind.NAME) return new Ast.GetAttr(node, attr.text(), attr.pos());
            if (attr.kind() == Kind.INT) return new Ast.GetItem(node, new Ast.Const(attr.value(), attr.pos()), attr.pos());
            throw fail(attr, "expected name or number after '.'");
        }
        List<Expr> args = new ArrayList<>();
        while (!cur().isOp("]")) {
            if (!args.isEmpty()) expectOp(",");
            args.add(parseSubscribed());
        }
        expectOp("]");
        return new Ast.GetItem(node, args.size() == 1 ? args.getFirst() : new Ast.TupleLit(args, t.pos()), t.pos());
    }

    private Expr parseSubscribed() {
        int pos = cur().pos();
        Expr start = null;
        if (!skipOp(":")) {
            Expr e = parseExpression(true);
            if (!skipOp(":")) return e;
            start = e;
        }
        Expr stop = cur().isOp(":") || cur().isOp("]") || cur().isOp(",") ? null : parseExpression(true);
        Expr step = null;
        if (skipOp(":") && !cur().isOp("]") && !cur().isOp(",")) step = parseExpression(true);
        return new Ast.Slice(start, stop, step, pos);
    }

    private Args parseCallArgs() {
        Token open = cur();
        expectOp("(");
        List<Expr> positional = new ArrayList<>();
        List<String> kwNames = new ArrayList<>();
        List<Expr> kwValues = new ArrayList<>();
        Expr star = null;
        Expr starStar = null;
        boolean requireComma = false;
        while (!cur().isOp(")")) {
            if (requireComma) {
                expectOp(",");
                if (cur().isOp(")")) break;
            }
            if (cur().isOp("*")) {
                if (star != null || starStar != null) throw fail(open, "invalid syntax for function call expression");
                next();
                star = parseExpression(true);
            } else if (cur().isOp("**")) {
                if (starStar != null) throw fail(open, "invalid syntax for function call expression");
                next();
                starStar = parseExpression(true);
            } else if (cur().kind() == Kind.NAME && look().isOp("=")) {
                if (starStar != null) throw fail(open, "invalid syntax for function call expression");
                kwNames.add(next().text());
                next();
                kwValues.add(parseExpression(true));
            } else {
                if (star != null || starStar != null || !kwNames.isEmpty()) {
                    throw fail(cur(), "positional argument follows keyword argument");
                }
                positional.add(parseExpression(true));
            }
            requireComma = true;
        }
        expectOp(")");
        return new Args(positional, kwNames, kwValues, star, starStar);
    }

    private Expr parseFilter(Expr node, boolean startInline) {
        while (cur().isOp("|") || startInline) {
            if (!startInline) next();
            Token nameTok = expect(Kind.NAME, "filter name");
            StringBuilder name = new StringBuilder(nameTok.text());
            while (skipOp(".")) name.append('.').append(expect(Kind.NAME, "name").text());
            Args args = cur().isOp("(") ? parseCallArgs() : Args.NONE;
            node = new Ast.Filter(node, name.toString(), args, nameTok.pos());
            startInline = false;
        }
        return node;
    }

    private Expr parseTest(Expr node) {
        Token is = next();
        boolean negated = skipName("not");
        Token nameTok = expect(Kind.NAME, "test name");
        StringBuilder name = new StringBuilder(nameTok.text());
        while (skipOp(".")) name.append('.').append(expect(Kind.NAME, "name").text());
        Token t = cur();
        Args args = Args.NONE;
        if (t.isOp("(")) {
            args = parseCallArgs();
        } else if ((t.kind() == Kind.NAME || t.kind() == Kind.STRING || t.kind() == Kind.INT || t.kind() == Kind.FLOAT
                || t.isOp("[") || t.isOp("{")) && !t.isName("else") && !t.isName("or") && !t.isName("and")) {
            if (t.isName("is")) throw fail(t, "you cannot chain multiple tests with 'is'");
            args = new Args(List.of(parsePostfix(parsePrimary())), List.of(), List.of(), null, null);
        }
        Expr test = new Ast.Test(node, name.toString(), args, nameTok.pos());
        return negated ? new Ast.Unary("not", test, is.pos()) : test;
    }
}
