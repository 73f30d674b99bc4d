"""The functions templates may call: Go's builtins plus the sprig functions we rely on.

Argument order follows sprig: the value being worked on comes last, so it can arrive
through a pipe (``.x | default false`` is ``default false .x``). String functions accept
any value and use its rendered text, so a missing value behaves like "" rather than
failing. The registry is an immutable mapping: adding a function is a code change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import yaml

from punching_fist.errors import TemplateError
from punching_fist.templating.gofmt import go_quote, sprint, sprintf, sprintln
from punching_fist.templating.values import (
    is_empty,
    is_truthy,
    to_json,
    to_plain,
    to_text,
)

__all__ = ["FUNCTIONS", "FunctionSpec"]


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """A callable with its arity, checked when the template is parsed."""

    call: Callable[..., Any]
    min_args: int
    max_args: int | None


# --- logic and comparison -------------------------------------------------------------


def _and(*args: Any) -> Any:
    """Go's ``and``: the first false argument, or the last one."""
    for arg in args[:-1]:
        if not is_truthy(arg):
            return arg
    return args[-1]


def _or(*args: Any) -> Any:
    """Go's ``or``: the first true argument, or the last one."""
    for arg in args[:-1]:
        if is_truthy(arg):
            return arg
    return args[-1]


def _not(value: Any) -> bool:
    return not is_truthy(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(left: Any, right: Any) -> bool:
    # True == 1 in Python but not in Go; numbers compare across int/float, nothing else mixes.
    if _is_number(left) and _is_number(right):
        return bool(left == right)
    if type(left) is not type(right) and (isinstance(left, bool) or isinstance(right, bool)):
        return False
    return bool(left == right)


def _eq(first: Any, *others: Any) -> bool:
    """Go's ``eq``: true when the first argument equals any of the others."""
    return any(_equal(first, other) for other in others)


def _ne(left: Any, right: Any) -> bool:
    return not _equal(left, right)


def _ordered(name: str, left: Any, right: Any) -> tuple[Any, Any]:
    if (_is_number(left) and _is_number(right)) or (
        isinstance(left, str) and isinstance(right, str)
    ):
        return left, right
    raise TemplateError(
        f"{name}: incompatible types for comparison: {to_text(left)!r} and {to_text(right)!r}"
    )


def _lt(left: Any, right: Any) -> bool:
    a, b = _ordered("lt", left, right)
    return bool(a < b)


def _le(left: Any, right: Any) -> bool:
    a, b = _ordered("le", left, right)
    return bool(a <= b)


def _gt(left: Any, right: Any) -> bool:
    a, b = _ordered("gt", left, right)
    return bool(a > b)


def _ge(left: Any, right: Any) -> bool:
    a, b = _ordered("ge", left, right)
    return bool(a >= b)


# --- collections ----------------------------------------------------------------------


def _len(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, str | bytes | Mapping | Sequence | Set):
        return len(value)
    raise TemplateError(f"len: cannot take the length of {type(value).__name__}")


def _index(collection: Any, *keys: Any) -> Any:
    """Go's ``index``, forgiving like paths: a missing key or index gives nil."""
    for key in keys:
        if isinstance(collection, Mapping):
            collection = collection.get(key)
        elif (
            isinstance(collection, Sequence)
            and not isinstance(collection, str | bytes)
            and _is_number(key)
            and int(key) == key
            and 0 <= key < len(collection)
        ):
            collection = collection[int(key)]
        else:
            return None
    return collection


def _default(default: Any, *given: Any) -> Any:
    """Sprig's ``default DEFAULT GIVEN``: GIVEN unless it is empty; DEFAULT keeps its type."""
    if not given or is_empty(given[0]):
        return default
    return given[0]


def _coalesce(*values: Any) -> Any:
    return next((value for value in values if not is_empty(value)), None)


def _ternary(if_true: Any, if_false: Any, condition: Any) -> Any:
    return if_true if is_truthy(condition) else if_false


def _string_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, Sequence | Set) and not isinstance(value, str | bytes):
        return [to_text(item) for item in value if item is not None]
    return [to_text(value)]


def _join(separator: Any, values: Any) -> str:
    return to_text(separator).join(_string_list(values))


def _split(separator: Any, text: Any) -> list[str]:
    # Sprig's split returns a map with keys _0, _1...; a list is what authors expect.
    return to_text(text).split(to_text(separator)) if to_text(separator) else [to_text(text)]


# --- strings --------------------------------------------------------------------------


def _title(value: Any) -> str:
    """Go's ``strings.Title``: upper-case the first letter of each word, keep the rest."""
    out: list[str] = []
    previous = " "
    for char in to_text(value):
        out.append(char.upper() if not (previous.isalnum() or previous == "_") else char)
        previous = char
    return "".join(out)


def _trim_prefix(prefix: Any, value: Any) -> str:
    return to_text(value).removeprefix(to_text(prefix))


def _trim_suffix(suffix: Any, value: Any) -> str:
    return to_text(value).removesuffix(to_text(suffix))


def _contains(needle: Any, haystack: Any) -> bool:
    return to_text(needle) in to_text(haystack)


def _has_prefix(prefix: Any, value: Any) -> bool:
    return to_text(value).startswith(to_text(prefix))


def _has_suffix(suffix: Any, value: Any) -> bool:
    return to_text(value).endswith(to_text(suffix))


def _replace(old: Any, new: Any, value: Any) -> str:
    return to_text(value).replace(to_text(old), to_text(new))


def _quote(*values: Any) -> str:
    return " ".join(go_quote(to_text(value)) for value in values if value is not None)


def _squote(*values: Any) -> str:
    return " ".join(f"'{to_text(value)}'" for value in values if value is not None)


def _count(name: str, value: Any) -> int:
    if not _is_number(value) or int(value) != value or value < 0:
        raise TemplateError(f"{name}: expected a non-negative whole number, got {value!r}")
    return int(value)


def _indent(spaces: Any, value: Any) -> str:
    pad = " " * _count("indent", spaces)
    return pad + to_text(value).replace("\n", "\n" + pad)


def _nindent(spaces: Any, value: Any) -> str:
    return "\n" + _indent(spaces, value)


def _to_yaml(value: Any) -> str:
    dumped = yaml.safe_dump(
        to_plain(value), default_flow_style=False, sort_keys=True, allow_unicode=True
    )
    # Helm's toYaml trims the final newline; so does a bare scalar's "...\n" end marker.
    return dumped.removesuffix("\n").removesuffix("\n...")


def _to_json(value: Any) -> str:
    return to_json(value)


def _to_pretty_json(value: Any) -> str:
    return to_json(value, indent=2)


def _spec(call: Callable[..., Any], min_args: int, max_args: int | None = -1) -> FunctionSpec:
    return FunctionSpec(call, min_args, min_args if max_args == -1 else max_args)


FUNCTIONS: Mapping[str, FunctionSpec] = MappingProxyType(
    {
        # Go builtins
        "and": _spec(_and, 1, None),
        "or": _spec(_or, 1, None),
        "not": _spec(_not, 1),
        "eq": _spec(_eq, 2, None),
        "ne": _spec(_ne, 2),
        "lt": _spec(_lt, 2),
        "le": _spec(_le, 2),
        "gt": _spec(_gt, 2),
        "ge": _spec(_ge, 2),
        "len": _spec(_len, 1),
        "index": _spec(_index, 1, None),
        "printf": _spec(sprintf, 1, None),
        "print": _spec(sprint, 0, None),
        "println": _spec(sprintln, 0, None),
        # sprig
        "default": _spec(_default, 1, 2),
        "empty": _spec(is_empty, 1),
        "coalesce": _spec(_coalesce, 0, None),
        "ternary": _spec(_ternary, 3),
        "toJSON": _spec(_to_json, 1),
        "toJson": _spec(_to_json, 1),
        "toPrettyJson": _spec(_to_pretty_json, 1),
        "toYaml": _spec(_to_yaml, 1),
        "toString": _spec(to_text, 1),
        "upper": _spec(lambda value: to_text(value).upper(), 1),
        "lower": _spec(lambda value: to_text(value).lower(), 1),
        "title": _spec(_title, 1),
        "trim": _spec(lambda value: to_text(value).strip(), 1),
        "trimPrefix": _spec(_trim_prefix, 2),
        "trimSuffix": _spec(_trim_suffix, 2),
        "contains": _spec(_contains, 2),
        "hasPrefix": _spec(_has_prefix, 2),
        "hasSuffix": _spec(_has_suffix, 2),
        "replace": _spec(_replace, 3),
        "join": _spec(_join, 2),
        "split": _spec(_split, 2),
        "splitList": _spec(_split, 2),
        "quote": _spec(_quote, 0, None),
        "squote": _spec(_squote, 0, None),
        "indent": _spec(_indent, 2),
        "nindent": _spec(_nindent, 2),
    }
)
