"""The small expression language of ``triggerCondition``: ``severity == 'critical'``.

A Go template (anything containing ``{{``) is evaluated by the template engine instead, so
both spellings work. The language, parsed by hand (no ``eval``):

::

    expr  := or
    or    := and (("||" | "or") and)*
    and   := not (("&&" | "and") not)*
    not   := ("!" | "not") not | cmp
    cmp   := value [("==" | "!=" | "<" | "<=" | ">" | ">=" | "in") value]
    value := 'text' | "text" | number | true | false | null | [value, ...] | path | (expr)
    path  := name ("." name)*        names may contain "-" (output names do)

A bare name is looked up in the run's outputs first, then in the alert
(``.source.data.alert``: ``severity``, ``alertname``...), then its labels, then the template
context itself (``source.data.alert.labels.team``, ``workflow.status``). Missing values are
null; numbers (and numeric text) compare as numbers, other values as text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from punching_fist.errors import TemplateError
from punching_fist.sinks.summary import alert_of
from punching_fist.templating import evaluate_condition, is_truthy

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
      | (?P<op>==|!=|<=|>=|<|>|&&|\|\||!|\(|\)|\[|\]|,)
      | (?P<name>[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*)
    )""",
    re.VERBOSE,
)
_WORDS = {"and": "&&", "or": "||", "not": "!"}
_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None, "nil": None}
_COMPARE = ("==", "!=", "<", "<=", ">", ">=", "in")


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


def tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(source):
        if source[position:].strip() == "":
            break
        match = _TOKEN.match(source, position)
        if match is None or match.end() == position:
            raise TemplateError(
                f"triggerCondition: unexpected {source[position:].strip()[:20]!r}"
                f" at position {position}"
            )
        kind = match.lastgroup or ""
        text = match.group(kind)
        if kind == "name" and text in _WORDS:
            kind, text = "op", _WORDS[text]
        elif kind == "name" and text == "in":
            kind = "op"
        tokens.append(_Token(kind, text))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[_Token], context: Mapping[str, Any]) -> None:
        self._tokens = tokens
        self._at = 0
        self._context = context

    def parse(self) -> Any:
        value = self._or()
        if self._at != len(self._tokens):
            raise TemplateError(f"triggerCondition: unexpected {self._tokens[self._at].text!r}")
        return value

    def _peek(self) -> str | None:
        return self._tokens[self._at].text if self._at < len(self._tokens) else None

    def _take(self) -> _Token:
        if self._at >= len(self._tokens):
            raise TemplateError("triggerCondition: the expression ends too early")
        token = self._tokens[self._at]
        self._at += 1
        return token

    def _expect(self, text: str) -> None:
        if self._peek() is None:
            raise TemplateError(f"triggerCondition: expected {text!r}, but the expression ends")
        token = self._take()
        if token.text != text:
            raise TemplateError(f"triggerCondition: expected {text!r}, found {token.text!r}")

    def _or(self) -> Any:
        value = self._and()
        while self._peek() == "||":
            self._take()
            right = self._and()
            value = _truthy(value) or _truthy(right)
        return value

    def _and(self) -> Any:
        value = self._not()
        while self._peek() == "&&":
            self._take()
            right = self._not()
            value = _truthy(value) and _truthy(right)
        return value

    def _not(self) -> Any:
        if self._peek() == "!":
            self._take()
            return not _truthy(self._not())
        return self._compare()

    def _compare(self) -> Any:
        left = self._value()
        if self._peek() in _COMPARE:
            operator = self._take().text
            return compare(operator, left, self._value())
        return left

    def _value(self) -> Any:
        token = self._take()
        if token.kind == "string":
            return re.sub(r"\\(.)", r"\1", token.text[1:-1])
        if token.kind == "number":
            return float(token.text)
        if token.text == "(":
            value = self._or()
            self._expect(")")
            return value
        if token.text == "[":
            items: list[Any] = []
            while self._peek() != "]":
                items.append(self._value())
                if self._peek() == ",":
                    self._take()
                elif self._peek() != "]":
                    raise TemplateError("triggerCondition: expected ',' or ']' in a list")
            self._take()
            return items
        if token.kind == "name":
            if token.text in _LITERALS:
                return _LITERALS[token.text]
            return lookup(token.text, self._context)
        raise TemplateError(f"triggerCondition: unexpected {token.text!r}")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def compare(operator: str, left: Any, right: Any) -> bool:
    if operator == "in":
        if isinstance(right, list | tuple | set):
            return any(compare("==", left, item) for item in right)
        if isinstance(right, Mapping):
            return str(left) in right
        return right is not None and left is not None and str(left) in str(right)
    a, b = _number(left), _number(right)
    if a is not None and b is not None:
        pair: tuple[Any, Any] = (a, b)
    elif left is None or right is None:
        if operator in ("==", "!="):
            return (left is None and right is None) == (operator == "==")
        return False
    elif isinstance(left, bool) or isinstance(right, bool):
        pair = (_truthy(left), _truthy(right))
    else:
        pair = (str(left), str(right))
    x, y = pair
    return bool(
        {
            "==": x == y,
            "!=": x != y,
            "<": x < y,
            "<=": x <= y,
            ">": x > y,
            ">=": x >= y,
        }[operator]
    )


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "0", "no")
    return is_truthy(value)


def lookup(path: str, context: Mapping[str, Any]) -> Any:
    """A dotted name, from the outputs, the alert, its labels, then the whole context."""
    head, *rest = path.split(".")
    workflow = context.get("workflow") or {}
    outputs = workflow.get("outputs") or context.get("outputs") or {}
    alert = alert_of(context)
    for scope in (outputs, alert, alert.get("labels") or {}, context):
        if isinstance(scope, Mapping) and head in scope:
            value: Any = scope[head]
            for name in rest:
                if not isinstance(value, Mapping) or name not in value:
                    return None
                value = value[name]
            return value
    return None


def condition_holds(condition: str, context: Mapping[str, Any]) -> bool:
    """Whether ``condition`` (a Go template or the expression language) is true."""
    if "{{" in condition:
        return evaluate_condition(condition, context)
    return _truthy(_Parser(tokenize(condition), context).parse())
