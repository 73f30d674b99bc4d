"""Go's fmt for templates: ``printf``, ``print``, ``println`` and ``%q`` quoting.

Only what template authors reach for is implemented: the verbs v s d q t f F e E g G x X
o b c %, with the flags ``-+ 0#``, width and precision. Like Go, a bad verb or argument
shows up in the text (``%!d(string=abc)``) rather than failing the whole render: a
message with a typo is more useful than no message.
"""

from __future__ import annotations

import re
from typing import Any

from punching_fist.templating.values import to_text

__all__ = ["go_quote", "sprint", "sprintf", "sprintln"]

_DIRECTIVE = re.compile(r"%([-+# 0]*)(\d+)?(?:\.(\d*))?(.|$)", re.DOTALL)
_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def go_quote(text: str) -> str:
    """``strconv.Quote``: a double-quoted Go string literal with escapes."""
    out = ['"']
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append('"')
    return "".join(out)


def sprint(*args: Any) -> str:
    """``fmt.Sprint``: spaces go between operands when neither side is a string."""
    out: list[str] = []
    for index, arg in enumerate(args):
        if index and not isinstance(arg, str) and not isinstance(args[index - 1], str):
            out.append(" ")
        out.append(to_text(arg))
    return "".join(out)


def sprintln(*args: Any) -> str:
    """``fmt.Sprintln``: always spaces between operands, and a final newline."""
    return " ".join(to_text(arg) for arg in args) + "\n"


def sprintf(template: str, *args: Any) -> str:
    """``fmt.Sprintf`` for the verbs templates use."""
    out: list[str] = []
    pos = 0
    next_arg = 0
    while True:
        percent = template.find("%", pos)
        if percent < 0:
            out.append(template[pos:])
            break
        out.append(template[pos:percent])
        match = _DIRECTIVE.match(template, percent)
        assert match is not None  # the pattern matches any "%" (the verb may be empty)
        flags, width, precision, verb = match.groups()
        pos = match.end()
        if verb == "%":
            out.append("%")
            continue
        if not verb:
            out.append("%!(NOVERB)")
            break
        if next_arg >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_format_one(args[next_arg], flags, width, precision, verb))
        next_arg += 1
    if next_arg < len(args):
        extra = ", ".join(f"{_type_name(arg)}={to_text(arg)}" for arg in args[next_arg:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _type_name(value: Any) -> str:
    names = {bool: "bool", int: "int", float: "float64", str: "string", type(None): "<nil>"}
    return names.get(type(value), type(value).__name__)


def _bad(verb: str, value: Any) -> str:
    return f"%!{verb}({_type_name(value)}={to_text(value)})"


def _format_one(value: Any, flags: str, width: str | None, precision: str | None, verb: str) -> str:
    body = _convert(value, flags, precision, verb)
    if body is None:
        return _bad(verb, value)
    return _pad(body, flags, width, numeric=verb in "dfFeEgGxXob" and not isinstance(value, str))


def _convert(value: Any, flags: str, precision: str | None, verb: str) -> str | None:
    """The unpadded text of one directive, or None when the value does not fit the verb."""
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if verb in "vs":
        text = to_text(value)
        return text[: int(precision)] if precision else text
    if verb == "q":
        return go_quote(to_text(value))
    if verb == "t":
        return to_text(value) if isinstance(value, bool) else None
    sign = "+" if "+" in flags else (" " if " " in flags else "")
    if verb in "dxXobc":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and verb in "xX":
            text = value.encode().hex()
            return text.upper() if verb == "X" else text
        if not is_number or not isinstance(value, int):
            return None
        if verb == "c":
            return chr(value) if 0 <= value <= 0x10FFFF else None
        alt = "#" if "#" in flags and verb != "d" else ""
        return format(value, f"{sign}{alt}{verb}")
    if verb in "fFeEgG":
        if not is_number:
            return None
        digits = "6" if precision is None else (precision or "0")
        if verb in "gG" and precision is None:
            # Go's %g is the shortest representation, which is what repr() gives.
            text = repr(float(value)).removesuffix(".0")
            text = text.upper() if verb == "G" else text
            return f"{sign}{text}" if sign and not text.startswith("-") else text
        return format(float(value), f"{sign}.{digits}{verb}")
    return None


def _pad(body: str, flags: str, width: str | None, *, numeric: bool) -> str:
    if not width or len(body) >= int(width):
        return body
    size = int(width)
    if "-" in flags:
        return body.ljust(size)
    if "0" in flags and numeric:
        sign = body[0] if body and body[0] in "+- " else ""
        return sign + body[len(sign) :].rjust(size - len(sign), "0")
    return body.rjust(size)
