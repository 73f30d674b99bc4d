"""Compiled templates and the render entry points.

Templates are compiled once per source text (an LRU cache) into a Jinja template running
in Jinja's immutable sandbox; rendering a cached template costs tens of microseconds.
Data is only ever passed to the compiled template as values, so alert labels or LLM
output can never be parsed as a template.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace

from punching_fist.errors import TemplateError
from punching_fist.templating.compiler import compile_nodes
from punching_fist.templating.functions import FUNCTIONS
from punching_fist.templating.parser import parse
from punching_fist.templating.values import is_truthy, lookup_path, to_text

__all__ = [
    "Emitter",
    "Template",
    "compile_template",
    "evaluate_condition",
    "render",
    "render_value",
]

Emitter = Callable[[Any], str]
"""Turns the value of one output action into the text that takes its place."""

_CACHE_SIZE = 1024


@dataclass(frozen=True, eq=False)
class Template:
    """A compiled template; immutable and safe to share between concurrent renders."""

    source: str
    _jinja: jinja2.Template = field(repr=False)
    _single_output: bool = field(repr=False)
    _paths: frozenset[tuple[str, ...]] = field(repr=False)

    def render(self, context: Mapping[str, Any]) -> str:
        """Render to text: missing values are "", bools "true"/"false", collections JSON."""
        return self.render_with(context, to_text)

    def render_value(self, context: Mapping[str, Any]) -> Any:
        """The typed value when the template is a single ``{{ pipeline }}``, else the text.

        This is how ``value: "{{ .x | default false }}"`` yields the bool False and
        ``"{{ .source.data }}"`` a dict rather than its JSON text.
        """
        if not self._single_output:
            return self.render(context)
        captured: list[Any] = []

        def capture(value: Any) -> str:
            captured.append(value)
            return ""

        self.render_with(context, capture)
        return captured[0]

    def referenced_paths(self) -> frozenset[tuple[str, ...]]:
        """Root-anchored field paths the template reads, e.g. ``("steps", "fetch", "result")``.

        Paths through ``with``, ``$`` and variables bound to plain paths are resolved;
        paths read from ``range`` elements are not root-anchored and are left out.
        """
        return self._paths

    def render_with(self, context: Mapping[str, Any], emit: Emitter) -> str:
        """Render with ``emit`` deciding what each output action becomes (see ``shell``)."""
        try:
            return self._jinja.render(root=context, emit=emit)
        except TemplateError:
            raise
        except jinja2.TemplateError as exc:
            raise TemplateError(f"template render failed: {exc}") from exc
        except (TypeError, ValueError, ArithmeticError, LookupError, RecursionError) as exc:
            # A function met data it cannot handle; report it as the template's problem.
            raise TemplateError(f"template render failed: {exc}") from exc


@functools.lru_cache(maxsize=_CACHE_SIZE)
def compile_template(source: str) -> Template:
    """Parse and compile Go-template ``source``; raises TemplateError. Cached by source."""
    parsed = parse(source)
    compiled = compile_nodes(parsed)
    try:
        jinja = _environment().from_string(compiled.jinja, globals=compiled.constants)
    except jinja2.TemplateSyntaxError as exc:  # a compiler bug, not the author's mistake
        raise TemplateError(f"internal error compiling template: {exc}") from exc
    return Template(source, jinja, compiled.single_output, compiled.referenced_paths)


def render(source: str, context: Mapping[str, Any]) -> str:
    """Render ``source`` against ``context`` as text."""
    return compile_template(source).render(context)


def render_value(source: str, context: Mapping[str, Any]) -> Any:
    """Render ``source``, keeping the type when it is a single output action."""
    return compile_template(source).render_value(context)


def evaluate_condition(source: str, context: Mapping[str, Any]) -> bool:
    """Truth of a condition template; an empty source is False (callers treat it as absent).

    The value goes through :func:`is_truthy`, so "false", "no" and "0" are false even when
    they arrive as text.
    """
    if not source.strip():
        return False
    return is_truthy(render_value(source, context))


def _range_pairs(value: Any) -> list[tuple[Any, Any]]:
    """Go's iteration: maps in sorted key order, sequences with their index."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        try:
            keys = sorted(value)
        except TypeError:
            keys = sorted(value, key=to_text)
        return [(key, value[key]) for key in keys]
    if isinstance(value, list | tuple):
        return list(enumerate(value))
    if isinstance(value, set | frozenset):
        return list(enumerate(sorted(value, key=to_text)))
    raise TemplateError(f"range can't iterate over {to_text(value)!r}")


def _cell(value: Any) -> Namespace:
    """A box for a variable that ``$x = ...`` reassigns, so loops can update it."""
    return Namespace(value=value)


@functools.cache
def _environment() -> ImmutableSandboxedEnvironment:
    """The one sandbox all templates share; built lazily, never at import time."""
    env = ImmutableSandboxedEnvironment(
        autoescape=False,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.loopcontrols"],
        cache_size=0,
    )
    env.globals.clear()  # no range(), dict(), lipsum()...: only what the compiler emits
    env.globals.update({f"f_{name}": spec.call for name, spec in FUNCTIONS.items()})
    env.globals.update(
        h_path=functools.partial(lookup_path, is_safe_attribute=env.is_safe_attribute),
        h_truthy=is_truthy,
        h_range=_range_pairs,
        h_cell=_cell,
    )
    return env
