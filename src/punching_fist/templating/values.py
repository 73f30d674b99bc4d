"""How template values behave: lookup, truthiness, emptiness and their text form.

One module owns these rules so that ``{{ if }}``, ``not``, ``evaluate_condition`` and
the rendered text can never disagree about what a value means.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
from collections.abc import Callable, Mapping, Sequence, Set
from typing import Any

from pydantic import BaseModel

from punching_fist.errors import TemplateError

__all__ = ["is_empty", "is_truthy", "lookup_path", "to_json", "to_plain", "to_text"]

# Workflow outputs and LLM answers often arrive as text, so these read as false too.
_FALSE_STRINGS = frozenset({"", "false", "no", "0"})

SafeAttribute = Callable[[Any, str, Any], bool]


def is_truthy(value: Any) -> bool:
    """Go's truth (false, 0, nil, empty string or collection are false) plus text falsehoods.

    Strings are compared stripped and case-folded against "false", "no", "0" and "", so
    "FALSE", " no\\n" and a whitespace-only rendering are all false.
    """
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value.strip().casefold() not in _FALSE_STRINGS
    if isinstance(value, Mapping | Sequence | Set | bytes):
        return len(value) > 0
    return True


def is_empty(value: Any) -> bool:
    """Sprig's ``empty``: the zero value of its type. No text rule: "false" is not empty."""
    if value is None:
        return True
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value == 0
    if isinstance(value, str | bytes | Mapping | Sequence | Set):
        return len(value) == 0
    return False


def to_text(value: Any) -> str:
    """The rendered form: missing is "", bools are lower-case, collections are compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, enum.Enum):
        return to_text(value.value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if _is_structured(value):
        return to_json(value)
    return str(value)


def to_json(value: Any, *, indent: int | None = None) -> str:
    """JSON with sorted keys like Go's encoder; compact unless ``indent`` is given."""
    separators = (",", ":") if indent is None else (",", ": ")
    return json.dumps(
        to_plain(value), sort_keys=True, ensure_ascii=False, separators=separators, indent=indent
    )


def to_plain(value: Any) -> Any:
    """Convert models, dataclasses, dates and enums into JSON/YAML-ready builtins."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, enum.Enum):
        return to_plain(value.value)
    if isinstance(value, Mapping):
        return {to_text(key): to_plain(item) for key, item in value.items()}
    if isinstance(value, BaseModel):
        return to_plain(value.model_dump(mode="json", by_alias=True))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Set):
        return sorted((to_plain(item) for item in value), key=to_text)
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        return [to_plain(item) for item in value]
    return to_text(value)


def _is_structured(value: Any) -> bool:
    if isinstance(value, Mapping | Sequence | Set | BaseModel):
        return True
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def lookup_path(value: Any, path: tuple[str, ...], is_safe_attribute: SafeAttribute) -> Any:
    """Follow ``path`` from ``value``; any missing step yields None, never an error.

    Mappings are indexed by key (so ``.labels.items`` is the key "items", not a method),
    sequences by a decimal segment, other objects by data attribute. Methods read as
    missing, and private or sandbox-unsafe attributes raise: the template asked for them.
    """
    for segment in path:
        if value is None:
            return None
        value = _lookup(value, segment, is_safe_attribute)
    return value


def _lookup(value: Any, key: str, is_safe_attribute: SafeAttribute) -> Any:
    if isinstance(value, Mapping):
        return value.get(key)
    if isinstance(value, str | bytes | int | float | bool):
        return None
    if isinstance(value, Sequence):
        if key.isascii() and key.isdigit() and int(key) < len(value):
            return value[int(key)]
        return None
    if key.startswith("_"):
        raise TemplateError(f"template may not access private attribute {key!r}")
    try:
        found = getattr(value, key)
    except AttributeError:
        return _by_alias(value, key)
    if not is_safe_attribute(value, key, found):
        raise TemplateError(f"template may not access attribute {key!r}")
    if callable(found) and not isinstance(found, BaseModel):
        return None
    return found


def _by_alias(value: Any, key: str) -> Any:
    """Let ``.workflow.completedAt`` reach a pydantic field declared with that alias."""
    if not isinstance(value, BaseModel):
        return None
    for name, info in type(value).model_fields.items():
        if key in (info.alias, info.serialization_alias):
            return getattr(value, name)
    return None
