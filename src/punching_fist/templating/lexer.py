"""Split Go text/template source into literal text and tokenised actions.

The lexer follows Go's rules where they matter to authors (trim markers need a space,
comments must hug the delimiters, ``}}`` inside a quoted string does not end an action)
and extends them in one place: a hyphen inside a field name is part of the key, so
``.steps.agent-investigation.result`` is one path, as our resource names are kebab-case.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from punching_fist.errors import TemplateError

__all__ = ["ActionItem", "Item", "TextItem", "Token", "TokenKind", "lex"]

_OPEN = "{{"
_CLOSE = "}}"
_TRIM_SPACE = " \t\r\n"

KEYWORDS = frozenset(
    {"if", "else", "end", "range", "with", "break", "continue", "define", "template", "block"}
)

# A path segment: word characters, with single hyphens allowed between them.
_SEGMENT = r"\w+(?:-\w+)*"
_PATH = re.compile(rf"(?:\.{_SEGMENT})+")
_VARIABLE = re.compile(rf"\$\w*((?:\.{_SEGMENT})*)")
_IDENT = re.compile(r"[A-Za-z_]\w*")
_NUMBER = re.compile(
    r"[+-]?(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+"
    r"|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?)"
)
_LEGACY_OCTAL = re.compile(r"0[0-7_]+")
_SIMPLE_ESCAPES: Mapping[str, str] = MappingProxyType(
    {
        "a": "\a",
        "b": "\b",
        "f": "\f",
        "n": "\n",
        "r": "\r",
        "t": "\t",
        "v": "\v",
        "\\": "\\",
        '"': '"',
    }
)


class TokenKind(enum.Enum):
    """What a token inside an action is."""

    FIELD = "field"  # .a.b — value is the path tuple
    CHAIN = "chain"  # .a.b glued to a preceding ')' — value is the path tuple
    VARIABLE = "variable"  # $x.a — value is (name, path)
    DOT = "dot"
    STRING = "string"
    NUMBER = "number"
    BOOL = "bool"
    NIL = "nil"
    IDENT = "identifier"  # function names and keywords
    DECLARE = ":="
    ASSIGN = "="
    PIPE = "|"
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","


_PUNCTUATION = MappingProxyType(
    {
        "=": TokenKind.ASSIGN,
        "|": TokenKind.PIPE,
        "(": TokenKind.LPAREN,
        ")": TokenKind.RPAREN,
        ",": TokenKind.COMMA,
    }
)


@dataclass(frozen=True, slots=True)
class Token:
    """One token inside an action; ``line`` is 1-based in the template source."""

    kind: TokenKind
    value: object
    line: int
    text: str


@dataclass(frozen=True, slots=True)
class TextItem:
    """Literal template text, copied to the output untouched."""

    text: str
    line: int


@dataclass(frozen=True, slots=True)
class ActionItem:
    """One ``{{ ... }}`` action (comments are dropped by the lexer)."""

    tokens: tuple[Token, ...]
    line: int


Item = TextItem | ActionItem


def lex(source: str) -> list[Item]:
    """Split ``source`` into text and actions, applying ``{{-``/``-}}`` trimming."""
    return _Lexer(source).run()


def _error(line: int, problem: str) -> TemplateError:
    return TemplateError(f"template line {line}: {problem}")


class _Lexer:
    """Single-use scanner; keeps its position as instance state, not module state."""

    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0
        self.items: list[Item] = []
        self.trim_next_text = False

    def line_at(self, pos: int) -> int:
        return self.src.count("\n", 0, pos) + 1

    def run(self) -> list[Item]:
        while self.pos < len(self.src):
            start = self.src.find(_OPEN, self.pos)
            if start < 0:
                self.add_text(self.src[self.pos :], self.pos)
                break
            left_trim = self.src.startswith("-", start + 2) and (
                start + 3 < len(self.src) and self.src[start + 3] in _TRIM_SPACE
            )
            text = self.src[self.pos : start]
            self.add_text(text.rstrip(_TRIM_SPACE) if left_trim else text, self.pos)
            self.pos = start + (3 if left_trim else 2)
            self.lex_action(start)
        return self.items

    def add_text(self, text: str, pos: int) -> None:
        if self.trim_next_text:
            stripped = text.lstrip(_TRIM_SPACE)
            pos += len(text) - len(stripped)
            text = stripped
            self.trim_next_text = False
        if text:
            self.items.append(TextItem(text, self.line_at(pos)))

    def close_at(self, pos: int) -> int:
        """Length of the closing delimiter (with trim marker) at ``pos``, or 0."""
        if self.src.startswith(_CLOSE, pos):
            return 2
        if self.src.startswith("-" + _CLOSE, pos) and pos > 0 and self.src[pos - 1] in _TRIM_SPACE:
            self.trim_next_text = True
            return 3
        return 0

    def lex_action(self, open_pos: int) -> None:
        line = self.line_at(open_pos)
        self.skip_space()
        if self.src.startswith("/*", self.pos):
            self.lex_comment(line)
            return
        tokens: list[Token] = []
        while True:
            if self.pos >= len(self.src):
                raise _error(line, "unclosed action")
            width = self.close_at(self.pos)
            if width:
                self.pos += width
                self.items.append(ActionItem(tuple(tokens), line))
                return
            tokens.append(self.next_token(tokens))
            self.skip_space()

    def lex_comment(self, line: int) -> None:
        end = self.src.find("*/", self.pos + 2)
        if end < 0:
            raise _error(line, "unclosed comment")
        self.pos = end + 2
        self.skip_space()
        width = self.close_at(self.pos)
        if not width:
            raise _error(self.line_at(end), "comment ends before closing delimiter")
        self.pos += width

    def skip_space(self) -> None:
        while self.pos < len(self.src) and self.src[self.pos] in _TRIM_SPACE:
            self.pos += 1

    def next_token(self, previous: list[Token]) -> Token:
        src, pos = self.src, self.pos
        line = self.line_at(pos)
        char = src[pos]
        glued = bool(previous) and previous[-1].kind is TokenKind.RPAREN and pos > 0
        glued = glued and src[pos - 1] == ")"
        if char == ".":
            match = _PATH.match(src, pos)
            if match:
                path = tuple(match.group()[1:].split("."))
                kind = TokenKind.CHAIN if glued else TokenKind.FIELD
                return self.take(kind, path, match.end(), line)
            if glued:
                raise _error(line, "expected a field name after '.'")
            return self.take(TokenKind.DOT, None, pos + 1, line)
        if char == "$":
            match = _VARIABLE.match(src, pos)
            assert match is not None  # "$" alone always matches
            name = match.group()[: len(match.group()) - len(match.group(1))]
            path = tuple(match.group(1)[1:].split(".")) if match.group(1) else ()
            return self.take(TokenKind.VARIABLE, (name, path), match.end(), line)
        if char == '"':
            return self.quoted(line)
        if char == "`":
            end = src.find("`", pos + 1)
            if end < 0:
                raise _error(line, "unterminated raw quoted string")
            value = src[pos + 1 : end].replace("\r", "")
            return self.take(TokenKind.STRING, value, end + 1, line)
        if char == "'":
            raise _error(line, "single-quoted strings are not supported; use double quotes")
        if char.isdigit() or (
            char in "+-" and pos + 1 < len(src) and src[pos + 1] in "0123456789."
        ):
            return self.number(line)
        if src.startswith(":=", pos):
            return self.take(TokenKind.DECLARE, None, pos + 2, line)
        if char in _PUNCTUATION:
            return self.take(_PUNCTUATION[char], None, pos + 1, line)
        match = _IDENT.match(src, pos)
        if match:
            word = match.group()
            if word in ("true", "false"):
                return self.take(TokenKind.BOOL, word == "true", match.end(), line)
            if word == "nil":
                return self.take(TokenKind.NIL, None, match.end(), line)
            return self.take(TokenKind.IDENT, word, match.end(), line)
        if src.startswith(_OPEN, pos):
            raise _error(line, "unexpected '{{' inside action (unclosed action?)")
        raise _error(line, f"unexpected character {char!r} in action")

    def take(self, kind: TokenKind, value: object, end: int, line: int) -> Token:
        token = Token(kind, value, line, self.src[self.pos : end])
        self.pos = end
        return token

    def number(self, line: int) -> Token:
        match = _NUMBER.match(self.src, self.pos)
        end = match.end() if match else self.pos + 1
        if not match or (end < len(self.src) and (self.src[end].isalnum() or self.src[end] == ".")):
            bad = re.match(r"[^\s|()]+", self.src[self.pos :])
            raise _error(line, f"bad number syntax: {bad.group() if bad else self.src[self.pos]!r}")
        text = match.group()
        try:
            value = _number_value(text)
        except ValueError:
            raise _error(line, f"bad number syntax: {text!r}") from None
        return self.take(TokenKind.NUMBER, value, end, line)

    def quoted(self, line: int) -> Token:
        """A Go interpreted string literal; escapes build bytes, decoded as UTF-8 at the end."""
        src, pos = self.src, self.pos + 1
        out = bytearray()
        while True:
            if pos >= len(src) or src[pos] == "\n":
                raise _error(line, "unterminated quoted string")
            char = src[pos]
            if char == '"':
                break
            if char != "\\":
                out += char.encode("utf-8", "surrogatepass")
                pos += 1
                continue
            escape = src[pos + 1 : pos + 2]
            if escape in _SIMPLE_ESCAPES:
                out += _SIMPLE_ESCAPES[escape].encode()
                pos += 2
            elif escape in ("x", "u", "U"):
                size = {"x": 2, "u": 4, "U": 8}[escape]
                digits = src[pos + 2 : pos + 2 + size]
                if len(digits) != size or not re.fullmatch(r"[0-9a-fA-F]+", digits):
                    raise _error(line, f"bad escape \\{escape}{digits} in quoted string")
                code = int(digits, 16)
                if escape == "x":
                    out.append(code)
                elif code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                    raise _error(line, f"escape \\{escape}{digits} is not a valid character")
                else:
                    out += chr(code).encode()
                pos += 2 + size
            elif (
                re.fullmatch(r"[0-7]{3}", src[pos + 1 : pos + 4])
                and int(src[pos + 1 : pos + 4], 8) < 256
            ):
                out.append(int(src[pos + 1 : pos + 4], 8))
                pos += 4
            else:
                raise _error(line, f"unknown escape sequence \\{escape} in quoted string")
        value = out.decode("utf-8", "replace")
        return self.take(TokenKind.STRING, value, pos + 1, line)


def _number_value(text: str) -> int | float:
    """Go number literal to Python; ``0755`` is octal as in Go, ``1e3`` a float."""
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    if _LEGACY_OCTAL.fullmatch(body):
        return sign * int(body[1:], 8)
    if body[:2].lower() in ("0x", "0b", "0o"):
        return sign * int(body, 0)
    if any(char in body for char in ".eE"):
        return sign * float(body)
    return sign * int(body, 10)
