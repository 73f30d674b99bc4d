"""The shell scanner's contexts: what kind each is, its frame, and what it skips.

``shell_scan`` keeps a stack of these frames while it walks a script; the tables here say,
per kind of context, which runs of characters carry no meaning there, so the scanner can
skip them in one step.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = [
    "BLANK",
    "ORDINARY",
    "ORDINARY_IN_BACKTICKS",
    "QUOTED_HEREDOC_LINE",
    "SEPARATORS",
    "WORD_BREAK",
    "Frame",
    "Kind",
]


class Kind(enum.Enum):
    COMMAND = "command"  # top level, $( ), ( ), backticks and [[ ]]: bare words
    DOUBLE = "double quotes"
    SINGLE = "single quotes"
    ANSI = "$'...' quotes"
    COMMENT = "comment"
    PARAMETER = "${...} parameter expansion"
    ARITHMETIC = "arithmetic expansion"
    HEREDOC = "here-document"


# Runs of characters with no meaning in each context, skipped in one step.
ORDINARY = MappingProxyType(
    {
        Kind.COMMAND: re.compile(r"[^\\'\"`$()#<>\n \t;&|\[\]\x00]+"),
        Kind.DOUBLE: re.compile(r"[^\\\"`$\x00]+"),
        Kind.SINGLE: re.compile(r"[^'\x00]+"),
        Kind.ANSI: re.compile(r"[^\\'\x00]+"),
        Kind.COMMENT: re.compile(r"[^\n\x00]+"),
        Kind.PARAMETER: re.compile(r"[^\\'\"`$}\x00]+"),
        Kind.ARITHMETIC: re.compile(r"[^\\'\"`$()\[\]\x00]+"),
        Kind.HEREDOC: re.compile(r"[^\\`$\n\x00]+"),
    }
)
# Inside `...` a backslash or backtick may end any context (see ``shell_scan``).
ORDINARY_IN_BACKTICKS = MappingProxyType(
    {
        kind: re.compile(pattern.pattern.replace("[^", "[^`\\\\", 1))
        for kind, pattern in ORDINARY.items()
    }
)
QUOTED_HEREDOC_LINE = re.compile(r"[^\n\x00]*")  # stops at placeholders, to refuse them
BLANK = frozenset(" \t")
SEPARATORS = frozenset("\n;&|()")
WORD_BREAK = BLANK | SEPARATORS | frozenset("<>")


@dataclass(slots=True)
class Frame:
    kind: Kind
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
