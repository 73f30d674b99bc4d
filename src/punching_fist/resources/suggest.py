"""Suggestions ("did you mean …?") for a field or name the user misspelled.

Rejecting unknown fields turns ``triggerWorkfow`` into an error; naming the field the user
most likely meant turns it into a fix. The fields allowed at an error's location are read
from the models themselves, following pydantic's error location through lists, maps and
unions (whose tags appear in the location: ``spec.webhook.config``).
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if not close:
        lowered = {choice.lower(): choice for choice in choices}
        close = [lowered[word.lower()]] if word.lower() in lowered else []
    return f" (did you mean {close[0]!r}?)" if close else ""


def allowed_fields(model: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """The fields (as written in YAML) of the object at ``loc`` below ``model``; [] if unknown."""
    node: Any = model
    for item in loc:
        node = _step(node, item)
        if node is None:
            return []
    node = _unwrap(node)
    if isinstance(node, type) and issubclass(node, BaseModel):
        return [info.alias or name for name, info in node.model_fields.items()]
    return []


def _step(node: Any, item: int | str) -> Any:
    node = _unwrap(node)
    if isinstance(node, type) and issubclass(node, BaseModel):
        for name, info in node.model_fields.items():
            if item in (name, info.alias):
                return info.annotation
        return None
    origin = get_origin(node)
    args = get_args(node)
    if origin in (list, tuple, set, frozenset) and isinstance(item, int) and args:
        return args[0]
    if origin is dict and isinstance(item, str) and len(args) == 2:
        return args[1]
    if origin in (Union, types.UnionType) and isinstance(item, str):
        return _union_member(args, item)
    return None


def _union_member(members: Sequence[Any], tag: str) -> Any:
    """The member of a union that pydantic names ``tag`` in an error location."""
    for member in members:
        member = _unwrap(member)
        if getattr(member, "__name__", None) == tag:
            return member
        if isinstance(member, type) and issubclass(member, BaseModel):
            field = member.model_fields.get("type")
            annotation = field.annotation if field is not None else None
            if get_origin(annotation) is Literal and tag in get_args(annotation):
                return member
    return None


def _unwrap(node: Any) -> Any:
    """``X`` of ``Annotated[X, ...]`` and of ``X | None``."""
    while True:
        if get_origin(node) is Annotated:
            node = get_args(node)[0]
            continue
        if get_origin(node) in (Union, types.UnionType):
            members = [a for a in get_args(node) if a is not type(None)]
            if len(members) == 1:
                node = members[0]
                continue
        return node
