"""Where in a shell command a template value may go: the constructs that evaluate it.

Quoting keeps a value from being *parsed* by the shell, but some constructs *evaluate*
a value they are given: arithmetic (``$((..))``, ``((..))``, ``$[..]``, array
subscripts, ``[[ x -eq y ]]``, ``[[ -v x ]]``) expands ``a[$(cmd)]`` and runs ``cmd``,
and builtins such as ``eval``, ``let``, ``read`` or ``declare NAME`` treat their
arguments as code or variable names. Placeholders there are refused with a
TemplateError. The lexer (``shell_scan``) finds where each placeholder sits; this module
holds the rules about the command around it, so the list of evaluating commands is read
in one place.
"""

from __future__ import annotations

import re
from types import MappingProxyType

from punching_fist.errors import TemplateError

__all__ = ["check_word", "evaluates_operands", "in_command_position", "refuse"]

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


def check_word(words: list[str], word: str) -> None:
    """Refuse a value in ``word`` (read so far) after the command's finished ``words``."""
    if _SUBSCRIPT_OPEN.match(word):
        raise refuse("inside an array subscript (it is evaluated as arithmetic)")
    name, args = _command_name(words)
    if name is None:
        return
    if name in _ALWAYS_EVALUATE or _WITH_OPTION.get(name, "\x00") in args:
        raise refuse(f"as an argument of {name!r}: it evaluates its arguments")
    if name in _TAKE_NAMES:
        if any(_EVALUATING_ATTRIBUTE.match(arg) for arg in args):
            raise refuse(f"with {name!r} -i or -n: the value would be evaluated")
        if not _ASSIGNMENT.match(word):
            raise refuse(f"as a name for {name!r}; write NAME={{{{ ... }}}} instead")


def evaluates_operands(test: str) -> bool:
    """True if a ``[[ ... ]]`` test uses an operator that evaluates its operands."""
    return _TEST_EVALUATES.search(test) is not None


def in_command_position(words: list[str]) -> bool:
    """True if the word after ``words`` is in command position (``if [[`` counts)."""
    return _command_name(words)[0] is None


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


def refuse(where: str) -> TemplateError:
    return TemplateError(
        f"a template value cannot be used {where} in a shell command; "
        "assign it to a variable in a plain word first (x={{ ... }})"
    )
