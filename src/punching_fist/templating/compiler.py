"""Compile parsed Go-template nodes into Jinja2 source for the sandboxed environment.

The generated source holds no template text at all: literal text, strings, numbers and
paths live in a constants table and are referenced by name (``k3``), so nothing an
author writes can be read as Jinja syntax. Every value flows through helpers:

* ``h_path(value, path)`` looks a path up (missing → None),
* ``h_truthy`` is the one truthiness rule, ``h_range`` the Go iteration order,
* ``f_<name>`` are the template functions, and ``emit(value)`` prints an output action;
  ``emit`` is passed per render, which is how plain, typed and shell rendering share
  one compiled template.

Go's ``and``/``or`` short-circuit, so ``and .x (gt .x.count 5)`` never compares a missing
count; when an argument can fail, they compile to ``set``/``if`` statements that stop
early instead of one eager call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from punching_fist.templating.nodes import (
    Break,
    Chain,
    Command,
    Const,
    Continue,
    Dot,
    Field,
    If,
    Node,
    Operand,
    Output,
    Pipeline,
    Range,
    SubPipeline,
    Text,
    Var,
    VarRef,
    With,
)
from punching_fist.templating.parser import ParsedTemplate

__all__ = ["CompiledSource", "compile_nodes"]

Path = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CompiledSource:
    """Jinja source plus the constants it refers to and facts about the template."""

    jinja: str
    constants: dict[str, Any]
    single_output: bool
    referenced_paths: frozenset[Path]


@dataclass(frozen=True, slots=True)
class _Dot:
    """The Jinja expression holding the dot, and its root path when statically known."""

    code: str
    origin: Path | None


@dataclass(frozen=True, slots=True)
class _Expr:
    """Statements to run first, then an expression; ``may_fail`` if it calls a function."""

    code: str
    stmts: tuple[str, ...] = ()
    may_fail: bool = False
    origin: Path | None = field(default=None)


def compile_nodes(parsed: ParsedTemplate) -> CompiledSource:
    """Compile ``parsed`` into Jinja source; raises nothing (the parser checked it all)."""
    compiler = _Compiler(parsed.reassigned)
    compiler.nodes(parsed.nodes, _Dot("root", ()))
    return CompiledSource(
        jinja="".join(compiler.out),
        constants=compiler.constants,
        single_output=_is_single_output(parsed.nodes),
        referenced_paths=frozenset(compiler.paths),
    )


def _is_single_output(nodes: tuple[Node, ...]) -> bool:
    """True if the template is one value-producing ``{{ pipeline }}`` and blank text."""
    significant = [node for node in nodes if not (isinstance(node, Text) and not node.text.strip())]
    return (
        len(significant) == 1
        and isinstance(significant[0], Output)
        and not significant[0].pipeline.decl
    )


def _tag(statement: str) -> str:
    return "{% " + statement + " %}"


class _Compiler:
    """Single-use: accumulates Jinja source, constants and referenced paths."""

    def __init__(self, reassigned: frozenset[int]) -> None:
        self.out: list[str] = []
        self.constants: dict[str, Any] = {}
        self.paths: set[Path] = set()
        self.reassigned = reassigned
        self.origins: dict[int, Path | None] = {0: ()}
        self.counter = 0

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def const(self, value: Any) -> str:
        name = self.fresh("k")
        self.constants[name] = value
        return name

    # --- nodes ------------------------------------------------------------------------

    def nodes(self, nodes: tuple[Node, ...], dot: _Dot) -> None:
        for node in nodes:
            self.node(node, dot)

    def node(self, node: Node, dot: _Dot) -> None:
        if isinstance(node, Text):
            self.out.append("{{ " + self.const(node.text) + " }}")
        elif isinstance(node, Output):
            self.output(node.pipeline, dot)
        elif isinstance(node, If):
            condition = self.control_value(node.pipeline, dot)
            self.out.append(_tag(f"if h_truthy({condition.code})"))
            self.branches(node.body, dot, node.orelse, dot, "endif")
        elif isinstance(node, With):
            value = self.control_value(node.pipeline, dot)
            inner = _Dot(value.code, value.origin)
            self.out.append(_tag(f"if h_truthy({value.code})"))
            self.branches(node.body, inner, node.orelse, dot, "endif")
        elif isinstance(node, Range):
            self.range(node, dot)
        elif isinstance(node, Break):
            self.out.append(_tag("break"))
        elif isinstance(node, Continue):
            self.out.append(_tag("continue"))

    def branches(
        self,
        body: tuple[Node, ...],
        body_dot: _Dot,
        orelse: tuple[Node, ...],
        else_dot: _Dot,
        end: str,
    ) -> None:
        self.nodes(body, body_dot)
        if orelse:
            self.out.append(_tag("else"))
            self.nodes(orelse, else_dot)
        self.out.append(_tag(end))

    def output(self, pipeline: Pipeline, dot: _Dot) -> None:
        value = self.pipeline(pipeline, dot)
        self.out.extend(value.stmts)
        if not pipeline.decl:
            self.out.append("{{ emit(" + value.code + ") }}")
        elif pipeline.assign:
            var = pipeline.decl[0]
            self.origins[var.id] = None
            self.out.append(_tag(f"set v{var.id}.value = {value.code}"))
        else:
            self.declare(pipeline.decl[0], value.code, value.origin)

    def control_value(self, pipeline: Pipeline, dot: _Dot) -> _Expr:
        """Evaluate an if/with pipeline once into a temporary (binding its variable, if any)."""
        value = self.pipeline(pipeline, dot)
        self.out.extend(value.stmts)
        temp = self.fresh("t")
        self.out.append(_tag(f"set {temp} = {value.code}"))
        if pipeline.decl:
            self.declare(pipeline.decl[0], temp, value.origin)
        return _Expr(temp, origin=value.origin)

    def range(self, node: Range, dot: _Dot) -> None:
        value = self.pipeline(node.pipeline, dot)
        self.out.extend(value.stmts)
        key_name, item_name = self.fresh("t"), self.fresh("t")
        self.out.append(_tag(f"for {key_name}, {item_name} in h_range({value.code})"))
        for var, loop_name in ((node.key, key_name), (node.value, item_name)):
            if var is not None:
                self.declare(var, loop_name, None)
        self.branches(node.body, _Dot(item_name, None), node.orelse, dot, "endfor")

    def declare(self, var: Var, code: str, origin: Path | None) -> None:
        if var.id in self.reassigned:
            self.origins[var.id] = None
            self.out.append(_tag(f"set v{var.id} = h_cell({code})"))
        else:
            self.origins[var.id] = origin
            self.out.append(_tag(f"set v{var.id} = {code}"))

    # --- expressions ------------------------------------------------------------------

    def pipeline(self, pipeline: Pipeline, dot: _Dot) -> _Expr:
        value: _Expr | None = None
        for command in pipeline.commands:
            value = self.command(command, value, dot)
        assert value is not None  # the parser rejects empty pipelines
        return value

    def command(self, command: Command, piped: _Expr | None, dot: _Dot) -> _Expr:
        if command.func is None:
            return self.operand(command.args[0], dot)
        args = [self.operand(arg, dot) for arg in command.args]
        if piped is not None:
            args.append(piped)
        if command.func in ("and", "or") and any(arg.may_fail for arg in args[1:]):
            return self.short_circuit(command.func, args)
        stmts = tuple(stmt for arg in args for stmt in arg.stmts)
        code = f"f_{command.func}({', '.join(arg.code for arg in args)})"
        return _Expr(code, stmts, may_fail=True)

    def short_circuit(self, func: str, args: list[_Expr]) -> _Expr:
        temp = self.fresh("t")
        stmts = [*args[0].stmts, _tag(f"set {temp} = {args[0].code}")]
        test = f"if h_truthy({temp})" if func == "and" else f"if not h_truthy({temp})"
        for arg in args[1:]:
            stmts += [_tag(test), *arg.stmts, _tag(f"set {temp} = {arg.code}")]
        stmts += [_tag("endif")] * (len(args) - 1)
        return _Expr(temp, tuple(stmts), may_fail=True)

    def operand(self, operand: Operand, dot: _Dot) -> _Expr:
        if isinstance(operand, Dot):
            return _Expr(dot.code, origin=dot.origin)
        if isinstance(operand, Field):
            return self.lookup(dot.code, dot.origin, operand.path)
        if isinstance(operand, VarRef):
            base = f"v{operand.var.id}.value" if operand.var.id in self.reassigned else None
            base = base or ("root" if operand.var.id == 0 else f"v{operand.var.id}")
            return self.lookup(base, self.origins.get(operand.var.id), operand.path)
        if isinstance(operand, Const):
            return _Expr(self.literal(operand.value))
        if isinstance(operand, SubPipeline):
            return self.pipeline(operand.pipeline, dot)
        if isinstance(operand, Chain):
            inner = self.operand(operand.operand, dot)
            found = self.lookup(inner.code, inner.origin, operand.path)
            return _Expr(found.code, inner.stmts, inner.may_fail, found.origin)
        raise AssertionError(f"unknown operand {operand!r}")

    def lookup(self, base: str, origin: Path | None, path: Path) -> _Expr:
        if not path:
            return _Expr(base, origin=origin)
        full = None if origin is None else origin + path
        if full is not None:
            self.paths.add(full)
        return _Expr(f"h_path({base}, {self.const(path)})", origin=full)

    def literal(self, value: Any) -> str:
        if value is None:
            return "none"
        if value is True:
            return "true"
        if value is False:
            return "false"
        return self.const(value)
