"""The parsed form of a Go template: frozen nodes the compiler walks once.

Variables are resolved by the parser into :class:`Var` symbols with unique ids, so the
compiler never has to reason about Go's scoping rules again: two ``$x`` that Go would
treat as different variables are different symbols here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "Break",
    "Chain",
    "Command",
    "Const",
    "Continue",
    "Dot",
    "Field",
    "If",
    "Node",
    "Operand",
    "Output",
    "Pipeline",
    "Range",
    "SubPipeline",
    "Text",
    "Var",
    "VarRef",
    "With",
]


@dataclass(frozen=True, slots=True)
class Var:
    """A resolved template variable; ``id`` 0 is ``$``, the root of the data."""

    id: int
    name: str


# --- operands -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dot:
    """``.``: the current value (the root, or what ``range``/``with`` rebound it to)."""


@dataclass(frozen=True, slots=True)
class Field:
    """``.a.b``: a path looked up from the dot."""

    path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class VarRef:
    """``$x`` or ``$x.a.b``."""

    var: Var
    path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Const:
    """A literal: string, number, bool or nil."""

    value: Any


@dataclass(frozen=True, slots=True)
class SubPipeline:
    """``( pipeline )``."""

    pipeline: Pipeline


@dataclass(frozen=True, slots=True)
class Chain:
    """``(pipeline).a.b``: a path looked up from a parenthesised value."""

    operand: Operand
    path: tuple[str, ...]


Operand = Dot | Field | VarRef | Const | SubPipeline | Chain


@dataclass(frozen=True, slots=True)
class Command:
    """One stage of a pipeline: a function call, or a single operand when ``func`` is None."""

    func: str | None
    args: tuple[Operand, ...]


@dataclass(frozen=True, slots=True)
class Pipeline:
    """``$a, $b := cmd | cmd``; ``assign`` means ``=`` (reassignment) rather than ``:=``."""

    decl: tuple[Var, ...]
    assign: bool
    commands: tuple[Command, ...]
    line: int


# --- nodes ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Text:
    """Literal text."""

    text: str


@dataclass(frozen=True, slots=True)
class Output:
    """``{{ pipeline }}``; prints nothing when the pipeline declares or assigns a variable."""

    pipeline: Pipeline


@dataclass(frozen=True, slots=True)
class If:
    """``{{ if }} ... {{ else }} ... {{ end }}``; ``else if`` nests another If in ``orelse``."""

    pipeline: Pipeline
    body: tuple[Node, ...]
    orelse: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class With:
    """``{{ with }}``: like if, with the dot rebound to the value in the body."""

    pipeline: Pipeline
    body: tuple[Node, ...]
    orelse: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Range:
    """``{{ range }}``; ``key``/``value`` are the declared variables, if any."""

    pipeline: Pipeline
    key: Var | None
    value: Var | None
    body: tuple[Node, ...]
    orelse: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Break:
    """``{{ break }}``."""


@dataclass(frozen=True, slots=True)
class Continue:
    """``{{ continue }}``."""


Node = Text | Output | If | With | Range | Break | Continue
