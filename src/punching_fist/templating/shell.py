"""Render a ``cli`` step command so that no template value can become shell syntax.

Every output action is rendered as a placeholder carrying a per-render random nonce; the
values themselves go into environment variables (``PF_TPL_0``, ``PF_TPL_1``...). A small
POSIX-shell lexer then walks the rendered text (which now holds only the author's literal
text) and swaps each placeholder for a reference quoted for the spot it sits in:

==================  ==========================  ==========================================
context             reference                   why
==================  ==========================  ==========================================
bare word           ``"${PF_TPL_0}"``           quoted: no splitting or globbing
"double quotes"     ``${PF_TPL_0}``             already quoted
'single quotes'     ``'"${PF_TPL_0}"'``         close, expand in double quotes, reopen
$'ansi-c'           ``'"${PF_TPL_0}"$'``        the same, reopening with ``$'``
here-document       ``${PF_TPL_0}``             expanded without quote removal
==================  ==========================  ==========================================

``$(...)``, backticks and subshells start a fresh bare context. Values are refused (a
TemplateError) where the shell would evaluate them as code or where no reference can be
expanded: inside ``$((...))``/``((...))`` arithmetic, ``${...}`` parameter expansion
(array subscripts are arithmetic), quoted here-documents, here-document delimiters, and
straight after a backslash.

The shell only expands the variables, it never parses their contents, so a value such as
``"; rm -rf ~; "`` stays one argument. What this cannot protect is a command that itself
evaluates its arguments as code: ``eval``, ``bash -c``, ``source``, ``let``,
``declare -i`` and ``[[ ... -eq ... ]]`` (arithmetic on the operand). Templates must not
hand values to those.

Environment variables cannot hold NUL characters, so NULs are removed from values (bash
itself drops them when reading command output); NUL in the template's own text is an error.
"""

from __future__ import annotations

import enum
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from punching_fist.errors import TemplateError
from punching_fist.templating.template import compile_template
from punching_fist.templating.values import to_text

__all__ = ["ENV_PREFIX", "ShellScript", "render_shell_script"]

ENV_PREFIX = "PF_TPL_"


@dataclass(frozen=True)
class ShellScript:
    """A script for ``bash -c`` and the variables that carry the template's values."""

    script: str
    env: Mapping[str, str]


def render_shell_script(source: str, context: Mapping[str, Any]) -> ShellScript:
    """Render ``source`` as an injection-proof shell script (see the module docstring)."""
    template = compile_template(source)
    marker = f"\x00PF{secrets.token_hex(8)}:"
    values: list[str] = []

    def emit(value: Any) -> str:
        values.append(to_text(value).replace("\x00", ""))
        return f"{marker}{len(values) - 1}\x00"

    rendered = template.render_with(context, emit)
    script = _Scanner(rendered, marker).run()
    env = {f"{ENV_PREFIX}{index}": value for index, value in enumerate(values)}
    return ShellScript(script, MappingProxyType(env))


class _Kind(enum.Enum):
    COMMAND = "command"  # top level, $( ), ( ) and backticks: a bare word context
    DOUBLE = "double quotes"
    SINGLE = "single quotes"
    ANSI = "$'...' quotes"
    COMMENT = "comment"
    PARAMETER = "${...} parameter expansion"
    ARITHMETIC = "arithmetic expansion"
    HEREDOC = "here-document"


# Placeholders may not appear with one of these anywhere on the stack.
_FORBIDDEN = frozenset({_Kind.PARAMETER, _Kind.ARITHMETIC})

# Runs of characters with no meaning in each context, skipped in one step.
_ORDINARY = {
    _Kind.COMMAND: re.compile(r"[^\\'\"`$()#<>\n \t;&|\x00]+"),
    _Kind.DOUBLE: re.compile(r"[^\\\"`$\x00]+"),
    _Kind.SINGLE: re.compile(r"[^'\x00]+"),
    _Kind.ANSI: re.compile(r"[^\\'\x00]+"),
    _Kind.COMMENT: re.compile(r"[^\n\x00]+"),
    _Kind.PARAMETER: re.compile(r"[^\\'\"`$}\x00]+"),
    _Kind.ARITHMETIC: re.compile(r"[^\\'\"`$()\x00]+"),
    _Kind.HEREDOC: re.compile(r"[^\\`$\n\x00]+"),
}
_WORD_BREAK = frozenset(" \t\n;&|<>()")
_DELIMITER_END = frozenset(" \t\n;&|<>()")


@dataclass(slots=True)
class _Frame:
    kind: _Kind
    closer: str = ""  # ")" or "`" for command contexts that end
    depth: int = 0  # open parentheses inside arithmetic
    delimiter: str = ""  # here-document end line
    quoted: bool = False  # here-document with a quoted delimiter: no expansion
    strip_tabs: bool = False  # <<- here-document
    line_start: bool = True


@dataclass(slots=True)
class _Scanner:
    """Single-use walk over rendered text; state lives here, not at module level."""

    text: str
    marker: str
    pos: int = 0
    copied: int = 0
    out: list[str] = field(default_factory=list)
    stack: list[_Frame] = field(default_factory=lambda: [_Frame(_Kind.COMMAND)])
    word_start: bool = True
    pending: list[_Frame] = field(default_factory=list)
    plain_dollar_at: int = -1

    def run(self) -> str:
        while self.pos < len(self.text):
            if self.text.startswith(self.marker, self.pos):
                self.placeholder()
            elif self.text[self.pos] == "\x00":
                raise TemplateError("shell command template contains a NUL character")
            else:
                self.step(self.stack[-1])
        self.out.append(self.text[self.copied :])
        return "".join(self.out)

    # --- placeholders -----------------------------------------------------------------

    def placeholder(self) -> None:
        end = self.text.index("\x00", self.pos + len(self.marker))
        name = ENV_PREFIX + self.text[self.pos + len(self.marker) : end]
        self.out.append(self.text[self.copied : self.pos])
        self.out.append(self.reference(name))
        self.pos = self.copied = end + 1
        self.word_start = False

    def reference(self, name: str) -> str:
        for frame in self.stack:
            if frame.kind in _FORBIDDEN:
                raise TemplateError(
                    f"a template value cannot be used inside {frame.kind.value} in a shell "
                    "command: the shell would evaluate it; assign it to a variable first"
                )
        frame = self.stack[-1]
        after_dollar = self.plain_dollar_at == self.pos - 1
        if frame.kind is _Kind.HEREDOC:
            if frame.quoted:
                raise TemplateError(
                    "a template value cannot be used in a quoted here-document "
                    f"(<<'{frame.delimiter}'): nothing is expanded there"
                )
            if after_dollar:
                raise TemplateError("a template value cannot follow '$' in a here-document")
            return "${" + name + "}"
        if frame.kind is _Kind.DOUBLE:
            # After a bare "$", "${X}" would read as "$$" (the PID): close and reopen quotes.
            return '""${' + name + '}""' if after_dollar else "${" + name + "}"
        if frame.kind is _Kind.SINGLE:
            return "'\"${" + name + "}\"'"
        if frame.kind is _Kind.ANSI:
            return "'\"${" + name + "}\"$'"
        return '"${' + name + '}"'

    # --- lexing -----------------------------------------------------------------------

    def step(self, frame: _Frame) -> None:
        ordinary = _ORDINARY[frame.kind].match(self.text, self.pos)
        if ordinary and frame.kind is not _Kind.HEREDOC:
            self.pos = ordinary.end()
            if frame.kind is _Kind.COMMAND:
                self.word_start = False
            return
        handler = {
            _Kind.COMMAND: self.command,
            _Kind.DOUBLE: self.double,
            _Kind.SINGLE: self.single,
            _Kind.ANSI: self.ansi,
            _Kind.COMMENT: self.comment,
            _Kind.PARAMETER: self.parameter,
            _Kind.ARITHMETIC: self.arithmetic,
            _Kind.HEREDOC: self.heredoc,
        }[frame.kind]
        handler(frame)

    def push(self, frame: _Frame, width: int) -> None:
        self.stack.append(frame)
        self.pos += width

    def pop(self, width: int) -> None:
        self.stack.pop()
        self.pos += width

    def escape(self) -> None:
        """Skip a backslash and the character it escapes."""
        if self.text.startswith(self.marker, self.pos + 1):
            raise TemplateError("a template value cannot follow a backslash in a shell command")
        self.pos += 2

    def expansion(self) -> bool:
        """Handle ``$`` and backtick openings shared by several contexts; False if none."""
        text, pos = self.text, self.pos
        if text.startswith("$((", pos):
            self.push(_Frame(_Kind.ARITHMETIC), 3)
        elif text.startswith("$(", pos):
            self.push(_Frame(_Kind.COMMAND, closer=")"), 2)
            self.word_start = True
        elif text.startswith("${", pos):
            self.push(_Frame(_Kind.PARAMETER), 2)
        elif text[pos] == "`":
            self.push(_Frame(_Kind.COMMAND, closer="`"), 1)
            self.word_start = True
        elif text[pos] == "$":
            self.plain_dollar_at = pos
            self.pos += 1
        else:
            return False
        return True

    def command(self, frame: _Frame) -> None:
        text, pos = self.text, self.pos
        char = text[pos]
        word_start = self.word_start
        self.word_start = char in _WORD_BREAK
        if char == "\\":
            self.escape()
        elif char == "'":
            self.push(_Frame(_Kind.SINGLE), 1)
        elif char == '"':
            self.push(_Frame(_Kind.DOUBLE), 1)
        elif char == "`" and frame.closer == "`":
            self.pop(1)
        elif text.startswith("$'", pos):
            self.push(_Frame(_Kind.ANSI), 2)
        elif text.startswith('$"', pos):
            self.push(_Frame(_Kind.DOUBLE), 2)
        elif self.expansion():
            pass
        elif text.startswith("((", pos) and word_start:
            self.push(_Frame(_Kind.ARITHMETIC), 2)
        elif char == "(":
            self.push(_Frame(_Kind.COMMAND, closer=")"), 1)
        elif char == ")" and frame.closer == ")":
            self.pop(1)
        elif char == "#" and word_start:
            self.push(_Frame(_Kind.COMMENT), 1)
        elif text.startswith("<<<", pos):
            self.pos += 3
        elif text.startswith("<<", pos):
            self.heredoc_operator()
        elif char == "\n":
            self.pos += 1
            # Here-document bodies start on the next line, in the order they were opened.
            self.stack.extend(reversed(self.pending))
            self.pending.clear()
        else:
            self.pos += 1

    def double(self, frame: _Frame) -> None:
        char = self.text[self.pos]
        if char == "\\":
            self.escape()
        elif char == '"':
            self.pop(1)
        elif not self.expansion():
            self.pos += 1

    def single(self, frame: _Frame) -> None:
        self.pop(1)  # the only special character is the closing quote

    def ansi(self, frame: _Frame) -> None:
        if self.text[self.pos] == "\\":
            self.escape()
        else:
            self.pop(1)

    def comment(self, frame: _Frame) -> None:
        self.stack.pop()  # at the newline, which the enclosing command context handles

    def parameter(self, frame: _Frame) -> None:
        char = self.text[self.pos]
        if char == "\\":
            self.escape()
        elif char == "}":
            self.pop(1)
        elif char == "'":
            self.push(_Frame(_Kind.SINGLE), 1)
        elif char == '"':
            self.push(_Frame(_Kind.DOUBLE), 1)
        elif not self.expansion():
            self.pos += 1

    def arithmetic(self, frame: _Frame) -> None:
        text, pos = self.text, self.pos
        char = text[pos]
        if char == "\\":
            self.escape()
        elif char == "(":
            frame.depth += 1
            self.pos += 1
        elif char == ")" and frame.depth:
            frame.depth -= 1
            self.pos += 1
        elif text.startswith("))", pos):
            self.pop(2)
        elif char == "'":
            self.push(_Frame(_Kind.SINGLE), 1)
        elif char == '"':
            self.push(_Frame(_Kind.DOUBLE), 1)
        elif not self.expansion():
            self.pos += 1

    def heredoc(self, frame: _Frame) -> None:
        text, pos = self.text, self.pos
        if frame.line_start:
            frame.line_start = False
            end = text.find("\n", pos)
            end = len(text) if end < 0 else end
            line = text[pos:end]
            if (line.lstrip("\t") if frame.strip_tabs else line) == frame.delimiter:
                self.pop(end + 1 - pos if end < len(text) else end - pos)
                if self.stack[-1].kind is _Kind.HEREDOC:
                    self.stack[-1].line_start = True
                return
        char = text[pos]
        if char == "\n":
            frame.line_start = True
            self.pos += 1
        elif frame.quoted:
            newline = text.find("\n", pos)
            self.pos = len(text) if newline < 0 else newline
        elif char == "\\":
            self.escape()
        elif not self.expansion():
            ordinary = _ORDINARY[_Kind.HEREDOC].match(text, pos)
            self.pos = ordinary.end() if ordinary else pos + 1

    def heredoc_operator(self) -> None:
        """Read ``<<[-] WORD``; the body is pushed when the line ends."""
        text = self.text
        self.pos += 2
        strip_tabs = text.startswith("-", self.pos)
        self.pos += strip_tabs
        while self.pos < len(text) and text[self.pos] in " \t":
            self.pos += 1
        delimiter: list[str] = []
        quoted = False
        while self.pos < len(text) and text[self.pos] not in _DELIMITER_END:
            if text.startswith(self.marker, self.pos) or text[self.pos] == "\x00":
                raise TemplateError("a template value cannot be a here-document delimiter")
            char = text[self.pos]
            if char in "'\"":
                close = text.find(char, self.pos + 1)
                close = len(text) if close < 0 else close
                if self.marker in text[self.pos : close]:
                    raise TemplateError("a template value cannot be a here-document delimiter")
                delimiter.append(text[self.pos + 1 : close])
                quoted = True
                self.pos = close + 1
            elif char == "\\":
                delimiter.append(text[self.pos + 1 : self.pos + 2])
                quoted = True
                self.pos += 2
            else:
                delimiter.append(char)
                self.pos += 1
        if delimiter:
            self.pending.append(
                _Frame(
                    _Kind.HEREDOC,
                    delimiter="".join(delimiter),
                    quoted=quoted,
                    strip_tabs=strip_tabs,
                )
            )
