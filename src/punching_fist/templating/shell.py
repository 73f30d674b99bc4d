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

``$(...)``, backticks and subshells start a fresh bare context. The shell expands the
variables but never parses their contents, so a value such as ``"; rm -rf ~; "`` stays
one argument.

Quoting does not help where bash *evaluates* a value: arithmetic (``$((..))``, ``((..))``,
``$[..]``, array subscripts, ``[[ x -eq y ]]``, ``[[ -v x ]]``, ``declare -i``) runs the
``$(cmd)`` inside ``a[$(cmd)]``, and ``eval``, ``let``, ``source``, ``read``, ``bash -c``
and friends run or name things with their arguments. Values in those spots, in ``${...}``,
in quoted here-documents, as here-document delimiters and straight after a backslash are
refused with a TemplateError (see ``shell_scan``). What no lexer can see is a value handed
to another interpreter (``kubectl exec -- sh -c "{{ .x }}"``, ``ssh host ...``, a variable
declared ``-i`` earlier in the script): templates must treat values as data, never code.

Environment variables cannot hold NUL characters, so NULs are removed from values (bash
itself drops them when reading command output); NUL in the template's own text is an error.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from punching_fist.templating.shell_scan import quote_placeholders
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
    script = quote_placeholders(rendered, marker, ENV_PREFIX)
    env = {f"{ENV_PREFIX}{index}": value for index, value in enumerate(values)}
    return ShellScript(script, MappingProxyType(env))
