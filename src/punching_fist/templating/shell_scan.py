"""A small POSIX/bash lexer that decides how to reference each placeholder in a script.

It walks the rendered script (the author's text plus placeholders, never data) tracking
quotes, escapes, comments, ``$(``/backtick/subshell nesting, here-documents and the
words of the current simple command, and replaces each placeholder with a reference to
its environment variable, quoted for the context (see ``shell``).

Placeholders where the shell would *evaluate* the value (arithmetic, subscripts, builtins
such as ``eval`` or ``declare NAME``) are refused with a TemplateError, by the rules in
``shell_policy``. Nothing lexical can protect a value the script hands to another
interpreter (``kubectl exec -- sh -c ...``, ``ssh host ...``): that stays the author's
responsibility, and the documented rule is "values are data, never code".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from punching_fist.errors import TemplateError
from punching_fist.templating.shell_frames import (
    BLANK,
    ORDINARY,
    ORDINARY_IN_BACKTICKS,
    QUOTED_HEREDOC_LINE,
    SEPARATORS,
    WORD_BREAK,
    Frame,
    Kind,
)
from punching_fist.templating.shell_policy import (
    check_word,
    evaluates_operands,
    in_command_position,
    refuse,
)

__all__ = ["quote_placeholders"]


def quote_placeholders(text: str, marker: str, env_prefix: str) -> str:
    """Replace each ``<marker><n>\\0`` in ``text`` with a quoted ``${<env_prefix><n>}``."""
    script = _Scanner(text, marker, env_prefix).run()
    if "\x00" in script:  # a placeholder the lexer skipped would be a bug: never ship it
        raise TemplateError("shell command could not be rendered safely")
    return script


@dataclass(slots=True)
class _Scanner:
    """Single-use walk over rendered text; all state lives here."""

    text: str
    marker: str
    env_prefix: str
    pos: int = 0
    copied: int = 0
    out: list[str] = field(default_factory=list)
    stack: list[Frame] = field(default_factory=lambda: [Frame(Kind.COMMAND)])
    pending: list[Frame] = field(default_factory=list)
    plain_dollar_at: int = -1

    def run(self) -> str:
        while self.pos < len(self.text):
            frame = self.stack[-1]
            char = self.text[self.pos]
            if frame.kind is Kind.COMMAND and frame.word_start < 0 and char not in WORD_BREAK:
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

    def backtick_text(self, frame: Frame, char: str) -> None:
        """Bash finds the end of `...` before reading quotes inside it: any unescaped
        backtick closes it, even within quotes or a comment."""
        if char == "`":
            while self.stack.pop().closer != "`":
                pass
            self.pos += 1
        elif self.text[self.pos + 1 : self.pos + 2] in ("$", "`", "\\"):
            self.escape()
        elif frame.kind in (Kind.SINGLE, Kind.COMMENT):
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
        if self.stack[-1].kind is Kind.COMMENT:
            return  # inert text
        for frame in self.stack:
            if frame.kind in (Kind.PARAMETER, Kind.ARITHMETIC):
                raise refuse(f"inside {frame.kind.value}")
            if frame.closer == "]]":
                frame.values += 1
        command = next(f for f in reversed(self.stack) if f.kind is Kind.COMMAND)
        word = self.text[command.word_start : self.pos] if command.word_start >= 0 else ""
        check_word(command.words, word)

    def reference(self, name: str) -> str:
        frame = self.stack[-1]
        after_dollar = self.plain_dollar_at == self.pos - 1
        if frame.kind is Kind.HEREDOC:
            if frame.quoted:
                raise refuse(f"in a quoted here-document (<<'{frame.delimiter}')")
            if after_dollar:
                raise refuse("straight after '$' in a here-document")
            return "${" + name + "}"
        if frame.kind is Kind.DOUBLE:
            # After a bare "$", "${X}" would read as "$$" (the PID): close and reopen quotes.
            return '""${' + name + '}""' if after_dollar else "${" + name + "}"
        if frame.kind is Kind.SINGLE:
            return "'\"${" + name + "}\"'"
        if frame.kind is Kind.ANSI:
            return "'\"${" + name + "}\"$'"
        if after_dollar and frame.kind is not Kind.COMMENT:
            raise refuse("straight after a bare '$' (write \\$ or quote it)")
        return '"${' + name + '}"'  # bare words, and comments (where it is inert)

    # --- lexing -----------------------------------------------------------------------

    def step(self, frame: Frame, in_backticks: bool) -> None:
        if frame.kind is not Kind.HEREDOC:
            table = ORDINARY_IN_BACKTICKS if in_backticks else ORDINARY
            ordinary = table[frame.kind].match(self.text, self.pos)
            if ordinary:
                self.pos = ordinary.end()
                return
        handlers = {
            Kind.COMMAND: self.command,
            Kind.DOUBLE: self.double,
            Kind.SINGLE: self.close,
            Kind.ANSI: self.ansi,
            Kind.COMMENT: self.comment,
            Kind.PARAMETER: self.parameter,
            Kind.ARITHMETIC: self.arithmetic,
            Kind.HEREDOC: self.heredoc,
        }
        handlers[frame.kind](frame)

    def push(self, frame: Frame, width: int) -> None:
        self.stack.append(frame)
        self.pos += width

    def pop(self, width: int) -> None:
        self.stack.pop()
        self.pos += width

    def escape(self) -> None:
        """Skip a backslash and the character it escapes."""
        if self.text.startswith(self.marker, self.pos + 1):
            raise refuse("straight after a backslash")
        self.pos += 2

    def quote_or_expansion(self) -> bool:
        """Openings shared by bare words, double quotes and ${...}; False if none here."""
        text, pos = self.text, self.pos
        if text.startswith("$((", pos):
            self.push(Frame(Kind.ARITHMETIC, closer="))"), 3)
        elif text.startswith("$[", pos):
            self.push(Frame(Kind.ARITHMETIC, closer="]"), 2)
        elif text.startswith("$(", pos):
            self.push(Frame(Kind.COMMAND, closer=")"), 2)
        elif text.startswith("${", pos):
            self.push(Frame(Kind.PARAMETER), 2)
        elif text[pos] == "`":
            self.push(Frame(Kind.COMMAND, closer="`"), 1)
        elif text.startswith("$$", pos):
            self.pos += 2  # the shell's PID: the second "$" does not dangle
        elif text[pos] == "$":
            self.plain_dollar_at = pos
            self.pos += 1
        else:
            return False
        return True

    def command(self, frame: Frame) -> None:
        text, pos = self.text, self.pos
        char = text[pos]
        starts_word = frame.word_start in (-1, pos)
        if char in WORD_BREAK:
            self.end_word(frame)
        if char == "\\":
            self.escape()
        elif char == "'":
            self.push(Frame(Kind.SINGLE), 1)
        elif char == '"':
            self.push(Frame(Kind.DOUBLE), 1)
        elif text.startswith("$'", pos):
            self.push(Frame(Kind.ANSI), 2)
        elif text.startswith('$"', pos):
            self.push(Frame(Kind.DOUBLE), 2)
        elif self.quote_or_expansion():
            pass
        elif starts_word and text.startswith("((", pos):
            self.push(Frame(Kind.ARITHMETIC, closer="))"), 2)
        elif (
            starts_word
            and in_command_position(frame.words)
            and re.match(r"\[\[\s", text[pos : pos + 3])
        ):
            frame.word_start = -1
            self.push(Frame(Kind.COMMAND, closer="]]", opened_at=pos), 2)
        elif (
            frame.closer == "]]"
            and starts_word
            and re.match(r"\]\](\s|;|&|\||\)|$)", text[pos : pos + 3])
        ):
            self.close_test(frame)
        elif char == "(":
            frame.words.clear()
            self.push(Frame(Kind.COMMAND, closer=")"), 1)
        elif char == ")" and frame.closer == ")":
            self.pop(1)
        elif char == "#" and starts_word:
            frame.word_start = -1
            self.push(Frame(Kind.COMMENT), 1)
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
            if char in SEPARATORS:
                frame.words.clear()
            self.pos += 1

    def end_word(self, frame: Frame) -> None:
        if frame.word_start >= 0:
            frame.words.append(re.sub(r"[\\'\"]", "", self.text[frame.word_start : self.pos]))
            frame.word_start = -1

    def close_test(self, frame: Frame) -> None:
        if frame.values and evaluates_operands(self.text[frame.opened_at : self.pos]):
            raise refuse("in a [[ ... ]] test with an arithmetic or -v operator")
        self.pop(2)
        self.stack[-1].words.append("[[...]]")

    def double(self, frame: Frame) -> None:
        char = self.text[self.pos]
        if char == "\\":
            self.escape()
        elif char == '"':
            self.pop(1)
        elif not self.quote_or_expansion():
            self.pos += 1

    def close(self, frame: Frame) -> None:
        self.pop(1)  # single quotes: the only special character is the closing quote

    def ansi(self, frame: Frame) -> None:
        if self.text[self.pos] == "\\":
            self.escape()
        else:
            self.pop(1)

    def comment(self, frame: Frame) -> None:
        self.stack.pop()  # at the newline, which the enclosing command context handles

    def parameter(self, frame: Frame) -> None:
        char = self.text[self.pos]
        if char == "\\":
            self.escape()
        elif char == "}":
            self.pop(1)
        elif char in "'\"":
            self.push(Frame(Kind.SINGLE if char == "'" else Kind.DOUBLE), 1)
        elif not self.quote_or_expansion():
            self.pos += 1

    def arithmetic(self, frame: Frame) -> None:
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
            self.push(Frame(Kind.SINGLE if char == "'" else Kind.DOUBLE), 1)
        elif not self.quote_or_expansion():
            self.pos += 1

    def heredoc(self, frame: Frame) -> None:
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
            rest = QUOTED_HEREDOC_LINE.match(text, pos)
            assert rest is not None  # "*" always matches
            self.pos = rest.end()
        elif char == "\\":
            self.escape()
        elif not self.quote_or_expansion():
            ordinary = ORDINARY[Kind.HEREDOC].match(text, pos)
            self.pos = ordinary.end() if ordinary else pos + 1

    def heredoc_operator(self) -> None:
        """Read ``<<[-] WORD``; the body is pushed when the line ends."""
        text = self.text
        self.pos += 2
        strip_tabs = text.startswith("-", self.pos)
        self.pos += strip_tabs
        while self.pos < len(text) and text[self.pos] in BLANK:
            self.pos += 1
        delimiter: list[str] = []
        quoted = False
        while self.pos < len(text) and text[self.pos] not in WORD_BREAK:
            if text[self.pos] == "\x00":
                raise refuse("as a here-document delimiter")
            char = text[self.pos]
            if char in "'\"":
                close = text.find(char, self.pos + 1)
                close = len(text) if close < 0 else close
                if "\x00" in text[self.pos : close]:
                    raise refuse("as a here-document delimiter")
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
            heredoc = Frame(Kind.HEREDOC, quoted=quoted, strip_tabs=strip_tabs)
            heredoc.delimiter = "".join(delimiter)
            self.pending.append(heredoc)
