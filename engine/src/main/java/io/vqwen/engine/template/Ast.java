package io.vqwen.engine.template;

import java.util.List;

/** The parsed template: statement nodes and expression nodes, shaped like jinja2's nodes.py. Positions are offsets. */
final class Ast {
    private Ast() {
    }

    /** Source range of the tag a node came from, quoted in runtime error messages. */
    record Tag(int start, int end) {
    }

    sealed interface Node permits Text, Output, If, For, Assign, AssignBlock, MacroDef, LoopControl, FilterBlock,
            With, Scope {
    }

    record Text(String text) implements Node {
    }

    record Output(Expr expr, Tag tag) implements Node {
    }

    /** if / elif* / else: tests.get(i) guards bodies.get(i); tags.get(i) is the if or elif tag. */
    record If(List<Expr> tests, List<List<Node>> bodies, List<Node> orElse, List<Tag> tags) implements Node {
    }

    record For(Target target, Expr iter, Expr filter, List<Node> body, List<Node> orElse, Tag tag) implements Node {
    }

    record Assign(Target target, Expr value, Tag tag) implements Node {
    }

    /** {@code {% set x | filters %}body{% endset %}}; filter is a chain of Filter nodes over a null value, or null. */
    record AssignBlock(Target target, Expr filter, List<Node> body, Tag tag) implements Node {
    }

    record MacroDef(String name, List<String> params, List<Expr> defaults, List<Node> body, boolean catchVarargs,
                    boolean catchKwargs, Tag tag) implements Node {
    }

    record LoopControl(boolean isBreak, Tag tag) implements Node {
    }

    record FilterBlock(Expr filter, List<Node> body, Tag tag) implements Node {
    }

    record With(List<Target> targets, List<Expr> values, List<Node> body, Tag tag) implements Node {
    }

    /** A body rendered as is; transformers' {@code {% generation %}} block when no assistant mask is requested. */
    record Scope(List<Node> body) implements Node {
    }

    sealed interface Target permits NameTarget, TupleTarget, NsTarget {
    }

    record NameTarget(String name, int pos) implements Target {
    }

    record TupleTarget(List<Target> items, int pos) implements Target {
    }

    /** {@code {% set ns.attr = ... %}}, allowed only on namespace objects. */
    record NsTarget(String name, String attr, int pos) implements Target {
    }

    sealed interface Expr permits Const, Name, GetAttr, GetItem, Slice, Call, Filter, Test, Binary, Unary, Compare,
            CondExpr, ListLit, TupleLit, DictLit {
        int pos();
    }

    record Args(List<Expr> positional, List<String> kwNames, List<Expr> kwValues, Expr star, Expr starStar) {
        static final Args NONE = new Args(List.of(), List.of(), List.of(), null, null);
    }

    record Const(Object value, int pos) implements Expr {
    }

    record Name(String name, int pos) implements Expr {
    }

    record GetAttr(Expr obj, String attr, int pos) implements Expr {
    }

    record GetItem(Expr obj, Expr key, int pos) implements Expr {
    }

    /** Only appears as a GetItem key; null parts are omitted bounds. */
    record Slice(Expr start, Expr stop, Expr step, int pos) implements Expr {
    }

    record Call(Expr fn, Args args, int pos) implements Expr {
    }

    /** value is null for the filters of {@code {% filter %}} and {@code {% set x | f %}} blocks. */
    record Filter(Expr value, String name, Args args, int pos) implements Expr {
    }

    record Test(Expr value, String name, Args args, int pos) implements Expr {
    }

    /** Arithmetic ({@code + - * / // % **}), concatenation ({@code ~}) and the short-circuit {@code and}/{@code or}. */
    record Binary(String op, Expr left, Expr right, int pos) implements Expr {
    }

    /** {@code not}, unary {@code -} and {@code +}. */
    record Unary(String op, Expr operand, int pos) implements Expr {
    }

    /** A chained comparison {@code a < b <= c}; ops are {@code == != < <= > >= in notin}. */
    record Compare(Expr first, List<String> ops, List<Expr> rest, int pos) implements Expr {
    }

    /** {@code then if test else orElse}; a missing else yields Undefined. */
    record CondExpr(Expr test, Expr then, Expr orElse, int pos) implements Expr {
    }

    record ListLit(List<Expr> items, int pos) implements Expr {
    }

    record TupleLit(List<Expr> items, int pos) implements Expr {
    }

    record DictLit(List<Expr> keys, List<Expr> values, int pos) implements Expr {
    }
}
