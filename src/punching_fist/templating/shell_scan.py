"""A small POSIX/bash lexer that decides how to reference each placeholder in a script.

It walks the rendered script (the author's text plus placeholders, never data) tracking
quotes, escapes, comments, ``$(``/backtick/subshell nesting, here-documents and the
words of the current simple command, and replaces each placeholder with a reference to
its environment variable, quoted for the context (see ``shell``).

Quoting keeps a value from being *parsed* by the shell, but some constructs *evaluate*
a value they are given: arithmetic (``$((..))``, ``((..))``, ``$[..]``, array
subscripts, ``[[ x -eq y ]]``, ``[[ -v x ]]``) expands ``a[$(cmd)]`` and runs ``cmd``,
and builtins such as ``eval``, ``let``, ``read`` or ``declare NAME`` treat their
arguments as code or variable names. Placeholders there are refused with a
TemplateError. Nothing lexical can protect a value the script hands to another
interpreter (``kubectl exec -- sh -c ...``, ``ssh host ...``): that stays the author's
responsibility, and the documented rule is "values are data, never code".
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from types import MappingProxyType

from punching_fist.errors import TemplateError

__all__ = ["quote_placeholders"]


def quote_placeholders(text: str, marker: str, env_prefix: str) -> str:
    """Replace each ``<marker><n>\\0`` in ``text`` with a quoted ``${<env_prefix><n>}``."""
    script = _Scanner(text, marker, env_prefix).run()
    if "\x00" in script:  # a placeholder the lexer skipped would be a bug: never ship it
        raise TemplateError("shell command could not be rendered safely")
    return script


class _Kind(enum.Enum):
    COMMAND = "command"  # top level, $( ), ( ), backticks and [[ ]]: bare words
    DOUBLE = "double quotes"
    SINGLE = "single quotes"
    ANSI = "$'...' quotes"
    COMMENT = "comment"
    PARAMETER = "${...} parameter expansion"
    ARITHMETIC = "arithmetic expansion"
    HEREDOC = "here-document"


# Runs of characters with no meaning in each context, skipped in one step.
_ORDINARY = MappingProxyType(
    {
        _Kind.COMMAND: re.compile(r"[^\\'\"`$()#<>\n \t;&|\[\]\x00]+"),
        _Kind.DOUBLE: re.compile(r"[^\\\"`$\x00]+"),
        _Kind.SINGLE: re.compile(r"[^'\x00]+"),
        _Kind.ANSI: re.compile(r"[^\\'\x00]+"),
        _Kind.COMMENT: re.compile(r"[^\n\x00]+"),
        _Kind.PARAMETER: re.compile(r"[^\\'\"`$}\x00]+"),
        _Kind.ARITHMETIC: re.compile(r"[^\\'\"`$()\[\]\x00]+"),
        _Kind.HEREDOC: re.compile(r"[^\\`$\n\x00]+"),
    }
)
# Inside `...` a backslash or backtick may end any context (see backtick_text).
_ORDINARY_IN_BACKTICKS = MappingProxyType(
    {
        kind: re.compile(pattern.pattern.replace("[^", "[^`\\\\", 1))
        for kind, pattern in _ORDINARY.items()
    }
)
_QUOTED_HEREDOC_LINE = re.compile(r"[^\n\x00]*")  # stops at placeholders, to refuse them
_BLANK = frozenset(" \t")
_SEPARATORS = frozenset("\n;&|()")
_WORD_BREAK = _BLANK | _SEPARATORS | frozenset("<>")

# --- what the command being built may do with a value ---------------------------------

# Words that may precede the command name without being it.
_RESERVED = frozenset({"if", "then", "do", "else", "elif", "while", "until", "!", "{", "}"})
_PREFIXES = frozenset({"command", "builtin", "exec", "nohup", "time", "env", "nice", "sudo"})
# Builtins that run their arguments as code or arithmetic, or take variable names.
_ALWAYS_EVALUATE = frozenset(
    {"eval", "let", "source", ".", "read", "readarray", "mapfile", "unset", "alias", "trap"}
)
# Builtins that take NAME or NAME=VALUE: a value is safe only after a literal "NAME=".
_TAKE_NAMES = frozenset({"declare", "typeset", "local", "readonly", "export"})
# Commands that evaluate their arguments only with a given option.
_SHELLS = ("sh", "bash", "dash", "zsh", "ksh", "su")
_WITH_OPTION = MappingProxyType(
    {"printf": "-v", "test": "-v", "[": "-v"} | dict.fromkeys(_SHELLS, "-c")
)
# declare -i makes assignments arithmetic; -n makes the value a variable name.
_EVALUATING_ATTRIBUTE = re.compile(r"[-+][A-Za-z]*[in]")
_ASSIGNMENT = re.compile(r"[A-Za-z_]\w*(?:\[[^\]]*\])?\+?=")
_SUBSCRIPT_OPEN = re.compile(r"[A-Za-z_]\w*\[[^\]]*$")
_TEST_EVALUATES = re.compile(r"(?:^|\s)-(?:eq|ne|lt|le|gt|ge|v|R)(?=\s|$)")


@dataclass(slots=True)
class _Frame:
    kind: _Kind
    closer: str = ""  # ")", "`", "]]" or "]" for contexts that end with a token
    depth: int = 0  # open parentheses or brackets inside arithmetic
    delimiter: str = ""  # here-document end line
    quoted: bool = False  # here-document with a quoted delimiter: no expansion at all
    strip_tabs: bool = False  # <<- here-document
    line_start: bool = True
    words: list[str] = field(default_factory=list)  # finished words of the simple command
    word_start: int = -1  # where the word being read began, -1 between words
    opened_at: int = 0  # start of a [[ test, to look for arithmetic operators at its end
    values: int = 0  # placeholders seen inside a [[ test


@dataclass(slots=True)
class _Scanner:
    """Single-use walk over rendered text; all state lives here."""

    text: str
    marker: str
    env_prefix: str
    pos: int = 0
    copied: int = 0
    out: list[str] = field(default_factory=list)
    stack: list[_Frame] = field(default_factory=lambda: [_Frame(_Kind.COMMAND)])
    pending: list[_Frame] = field(default_factory=list)
    plain_dollar_at: int = -1

    def run(self) -> str:
        while self.pos < len(self.text):
            frame = self.stack[-1]
            char = self.text[self.pos]
            if frame.kind is _Kind.COMMAND and frame.word_start < 0 and char not in _WORD_BREAK:
                frame.word_start = self.pos
            in_backticks = any(f.closer == "`" for f in self.stack)
            if self.text.startswith(self.marker, self.pos):
                self.placeholder()
            elif char == "\x00":
                raise TemplateError("shell command template contains a NUL character")
            elif in_backticks and char in "`\\":
                self.backtick_text(frame, char)
            else:
                self.step(frame, in_backticks)
        self.out.append(self.text[self.copied :])
        return "".join(self.out)

    def backtick_text(self, frame: _Frame, char: str) -> None:
        """Bash finds the end of `...` before reading quotes inside it: any unescaped
        backtick closes it, even within quotes or a comment."""
        if char == "`":
            while self.stack.pop().closer != "`":
                pass
            self.pos += 1
        elif self.text[self.pos + 1 : self.pos + 2] in ("$", "`", "\\"):
            self.escape()
        elif frame.kind in (_Kind.SINGLE, _Kind.COMMENT):
            self.pos += 1  # a plain backslash there
        else:
            self.step(frame, in_backticks=True)

    # --- placeholders -----------------------------------------------------------------

    def placeholder(self) -> None:
        end = self.text.index("\x00", self.pos + len(self.marker))
        name = self.env_prefix + self.text[self.pos + len(self.marker) : end]
        self.check_allowed()
        self.out.append(self.text[self.copied : self.pos])
        self.out.append(self.reference(name))
        self.pos = self.copied = end + 1
        self.stack[-1].line_start = False

    def check_allowed(self) -> None:
        """Refuse spots where the shell would evaluate the value rather than pass it."""
        if self.stack[-1].kind is _Kind.COMMENT:
            return  # inert text
        for frame in self.stack:
            if frame.kind in (_Kind.PARAMETER, _Kind.ARITHMETIC):
                raise _refuse(f"inside {frame.kind.value}")
            if frame.closer == "]]":
                frame.values += 1
        command = next(f for f in reversed(self.stack) if f.kind is _Kind.COMMAND)
        word = self.text[command.word_start : self.pos] if command.word_start >= 0 else ""
        if _SUBSCRIPT_OPEN.match(word):
            raise _refuse("inside an array subscript (it is evaluated as arithmetic)")
        name, args = _command_name(command.words)
        if name is None:
            return
        if name in _ALWAYS_EVALUATE or _WITH_OPTION.get(name, "\x00") in args:
            raise _refuse(f"as an argument of {name!r}: it evaluates its arguments")
        if name in _TAKE_NAMES:
            if any(_EVALUATING_ATTRIBUTE.match(arg) for arg in args):
                raise _refuse(f"with {name!r} -i or -n: the value would be evaluated")
            if not _ASSIGNMENT.match(word):
                raise _refuse(f"as a name for {name!r}; write NAME={{{{ ... }}}} instead")

    def reference(self, name: str) -> str:
        frame = self.stack[-1]
        after_dollar = self.plain_dollar_at == self.pos - 1
        if frame.kind is _Kind.HEREDOC:
            if frame.quoted:
                raise _refuse(f"in a quoted here-document (<<'{frame.delimiter}')")
            if after_dollar:
                raise _refuse("straight after '$' in a here-document")
            return "${" + name + "}"
        if frame.kind is _Kind.DOUBLE:
            # After a bare "$", "${X}" would read as "$$" (the PID): close and reopen quotes.
            return '""${' + name + '}""' if after_dollar else "${" + name + "}"
        if frame.kind is _Kind.SINGLE:
            return "'\"${" + name + "}\"'"
        if frame.kind is _Kind.ANSI:
            return "'\"${" + name + "}\"$'"
        if after_dollar and frame.kind is not _Kind.COMMENT:
            raise _refuse("straight after a bare '$' (write \\$ or quote it)")
        return '"${' + name + '}"'  # bare words, and comments (where it is inert)

    # --- lexing -----------------------------------------------------------------------

    def step(self, frame: _Frame, in_backticks: bool) -> None:
        if frame.kind is not _Kind.HEREDOC:
            table = _ORDINARY_IN_BACKTICKS if in_backticks else _ORDINARY
            ordinary = table[frame.kind].match(self.text, self.pos)
            if ordinary:
                self.pos = ordinary.end()
                return
        handlers = {
            _Kind.COMMAND: self.command,
            _Kind.DOUBLE: self.double,
            _Kind.SINGLE: self.close,
            _Kind.ANSI: self.ansi,
            _Kind.COMMENT: self.comment,
            _Kind.PARAMETER: self.parameter,
            _Kind.ARITHMETIC: self.arithmetic,
            _Kind.HEREDOC: self.heredoc,
        }
        handlers[frame.kind](frame)

    def push(self, frame: _Frame, width: int) -> None:
        self.stack.append(frame)
        self.pos += width

    def pop(self, width: int) -> None:
        self.stack.pop()
        self.pos += width

    def escape(self) -> None:
        """Skip a backslash and the character it escapes."""
        if self.text.startswith(self.marker, self.pos + 1):
            raise _refuse("straight after a backslash")
        self.pos += 2

    def quote_or_expansion(self) -> bool:
        """Openings shared by bare words, double quotes and ${...}; False if none here."""
        text, pos = self.text, self.pos
        if text.startswith("$((", pos):
            self.push(_Frame(_Kind.ARITHMETIC, closer="))"), 3)
        elif text.startswith("$[", pos):
            self.push(_Frame(_Kind.ARITHMETIC, closer="]"), 2)
        elif text.startswith("$(", pos):
            self.push(_Frame(_Kind.COMMAND, closer=")"), 2)
        elif text.startswith("${", pos):
            self.push(_Frame(_Kind.PARAMETER), 2)
        elif text[pos] == "`":
            self.push(_Frame(_Kind.COMMAND, closer="`"), 1)
        elif text.startswith("$$", pos):
            self.pos += 2  # the shell's PID: the second "$" does not dangle
        elif text[pos] == "$":
            self.plain_dollar_at = pos
            self.pos += 1
        else:
            return False
        return True

    def command(self, frame: _Frame) -> None:
        text, pos = self.text, self.pos
        char = text[pos]
        starts_word = frame.word_start in (-1, pos)
        if char in _WORD_BREAK:
            self.end_word(frame)
        if char == "\\":
            self.escape()
        elif char == "'":
            self.push(_Frame(_Kind.SINGLE), 1)
        elif char == '"':
            self.push(_Frame(_Kind.DOUBLE), 1)
        elif text.startswith("$'", pos):
            self.push(_Frame(_Kind.ANSI), 2)
        elif text.startswith('$"', pos):
            self.push(_Frame(_Kind.DOUBLE), 2)
        elif self.quote_or_expansion():
            pass
        elif starts_word and text.startswith("((", pos):
            self.push(_Frame(_Kind.ARITHMETIC, closer="))"), 2)
        elif starts_word and _at_command(frame) and re.match(r"\[\[\s", text[pos : pos + 3]):
            frame.word_start = -1
            self.push(_Frame(_Kind.COMMAND, closer="]]", opened_at=pos), 2)
        elif (
            frame.closer == "]]"
            and starts_word
            and re.match(r"\]\](\s|;|&|\||\)|$)", text[pos : pos + 3])
        ):
            self.close_test(frame)
        elif char == "(":
            frame.words.clear()
            self.push(_Frame(_Kind.COMMAND, closer=")"), 1)
        elif char == ")" and frame.closer == ")":
            self.pop(1)
        elif char == "#" and starts_word:
            frame.word_start = -1
            self.push(_Frame(_Kind.COMMENT), 1)
        elif text.startswith("<<<", pos):
            self.pos += 3
        elif text.startswith("<<", pos):
            self.heredoc_operator()
        elif char == "\n":
            frame.words.clear()
            self.pos += 1
            # Here-document bodies start on the next line, in the order they were opened.
            self.stack.extend(reversed(self.pending))
            self.pending.clear()
        else:
            if char in _SEPARATORS:
                frame.words.clear()
            self.pos += 1

    def end_word(self, frame: _Frame) -> None:
        if frame.word_start >= 0:
            frame.words.append(re.sub(r"[\\'\"]", "", self.text[frame.word_start : self.pos]))
            frame.word_start = -1

    def close_test(self, frame: _Frame) -> None:
        if frame.values and _TEST_EVALUATES.search(self.text[frame.opened_at : self.pos]):
            raise _refuse("in a [[ ... ]] test with an arithmetic or -v operator")
        self.pop(2)
        self.stack[-1].words.append("[[...]]")

    def double(self, frame: _Frame) -> None:
        char = self.text[self.pos]
        if char == "\\":
            self.escape()
        elif char == '"':
            self.pop(1)
        elif not self.quote_or_expansion():
            self.pos += 1

    def close(self, frame: _Frame) -> None:
        self.pop(1)  # single quotes: the only special character is the closing quote

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
        elif char in "'\"":
            self.push(_Frame(_Kind.SINGLE if char == "'" else _Kind.DOUBLE), 1)
        elif not self.quote_or_expansion():
            self.pos += 1

    def arithmetic(self, frame: _Frame) -> None:
        text, pos = self.text, self.pos
        char = text[pos]
        if char == "\\":
            self.escape()
        elif char in "([":
            frame.depth += 1
            self.pos += 1
        elif not frame.depth and text.startswith(frame.closer, pos):
            self.pop(len(frame.closer))
        elif char in ")]":
            frame.depth = max(frame.depth - 1, 0)
            self.pos += 1
        elif char in "'\"":
            self.push(_Frame(_Kind.SINGLE if char == "'" else _Kind.DOUBLE), 1)
        elif not self.quote_or_expansion():
            self.pos += 1

    def heredoc(self, frame: _Frame) -> None:
        text, pos = self.text, self.pos
        if frame.line_start:
            frame.line_start = False
            end = text.find("\n", pos)
            end = len(text) if end < 0 else end
            line = text[pos:end]
            if (line.lstrip("\t") if frame.strip_tabs else line) == frame.delimiter:
                self.pop(min(end + 1, len(text)) - pos)
                return
        char = text[pos]
        if char == "\n":
            frame.line_start = True
            self.pos += 1
        elif frame.quoted:
            rest = _QUOTED_HEREDOC_LINE.match(text, pos)
            assert rest is not None  # "*" always matches
            self.pos = rest.end()
        elif char == "\\":
            self.escape()
        elif not self.quote_or_expansion():
            ordinary = _ORDINARY[_Kind.HEREDOC].match(text, pos)
            self.pos = ordinary.end() if ordinary else pos + 1

    def heredoc_operator(self) -> None:
        """Read ``<<[-] WORD``; the body is pushed when the line ends."""
        text = self.text
        self.pos += 2
        strip_tabs = text.startswith("-", self.pos)
        self.pos += strip_tabs
        while self.pos < len(text) and text[self.pos] in _BLANK:
            self.pos += 1
        delimiter: list[str] = []
        quoted = False
        while self.pos < len(text) and text[self.pos] not in _WORD_BREAK:
            if text[self.pos] == "\x00":
                raise _refuse("as a here-document delimiter")
            char = text[self.pos]
            if char in "'\"":
                close = text.find(char, self.pos + 1)
                close = len(text) if close < 0 else close
                if "\x00" in text[self.pos : close]:
                    raise _refuse("as a here-document delimiter")
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
            heredoc = _Frame(_Kind.HEREDOC, quoted=quoted, strip_tabs=strip_tabs)
            heredoc.delimiter = "".join(delimiter)
            self.pending.append(heredoc)


def _command_name(words: list[str]) -> tuple[str | None, list[str]]:
    """The command a simple command runs, past reserved words, assignments and wrappers."""
    index = 0
    while index < len(words):
        word = words[index]
        if word in _RESERVED or _ASSIGNMENT.match(word):
            index += 1
        elif word in _PREFIXES:
            index += 1
            while index < len(words) and words[index].startswith("-"):
                index += 1
        else:
            return word, words[index + 1 :]
    return None, []


def _at_command(frame: _Frame) -> bool:
    """True if the next word of ``frame`` is in command position (``if [[`` counts)."""
    return _command_name(frame.words)[0] is None


def _refuse(where: str) -> TemplateError:
    return TemplateError(
        f"a template value cannot be used {where} in a shell command; "
        "assign it to a variable in a plain word first (x={{ ... }})"
    )
