"""render_shell_script: values travel in environment variables, quoted for their spot."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from punching_fist.errors import TemplateError
from punching_fist.templating import render_shell_script
from tests.templating.shell_runner import run_bash

NASTY = 'it\'s "a" $(touch pwned) `touch pwned` ; rm -rf ~ \\ * ${HOME} \n next'


def shell_output(source: str, context: dict[str, Any], home: Path) -> str:
    script = render_shell_script(source, context)
    assert NASTY not in script.script
    output = run_bash(script, home=home).stdout
    assert not (home / "pwned").exists()
    return output


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("printf '%s\\n' {{ .v }}", f"{NASTY}\n"),
        ("printf '%s\\n' pre{{ .v }}post", f"pre{NASTY}post\n"),
        ("printf '%s\\n' \"in {{ .v }} dq\"", f"in {NASTY} dq\n"),
        ("printf '%s\\n' 'in {{ .v }} sq'", f"in {NASTY} sq\n"),
        ("printf '%s\\n' $'ansi\\t{{ .v }}'", f"ansi\t{NASTY}\n"),
        ("printf '%s\\n' \"$(printf '%s' {{ .v }})\"", f"{NASTY}\n"),
        ("printf '%s\\n' \"$(printf '%s' \"{{ .v }}\")\"", f"{NASTY}\n"),
        ("printf '%s\\n' \"`printf '%s' {{ .v }}`\"", f"{NASTY}\n"),
        ("(printf '%s\\n' {{ .v }})", f"{NASTY}\n"),
        ("cat <<EOF\nbody {{ .v }} end\nEOF", f"body {NASTY} end\n"),
        ("cat <<-EOF\n\tbody {{ .v }}\n\tEOF\necho after", f"body {NASTY}\nafter\n"),
        ("cat <<A; cat <<B\n{{ .v }}\nA\nsecond\nB", f"{NASTY}\nsecond\n"),
        ("echo x # a comment {{ .v }}\necho y", "x\ny\n"),
        ('echo "price: ${{ .n }}"', "price: $5\n"),
        ('echo "pid-free: \\${{ .n }}"', "pid-free: $5\n"),
        ("echo {{ .n }}{{ .n }} \"{{ .n }}\"'{{ .n }}'", "55 55\n"),
        ("x={{ .v }}; printf '%s\\n' \"$x\"", f"{NASTY}\n"),
        ("cat <<'EOF'\nno $expansion here\nEOF\necho {{ .n }}", "no $expansion here\n5\n"),
        ("printf '%s\\n' \"`printf '%s' '{{ .v }}'`x\"", f"{NASTY}x\n"),
        ("echo `echo a # c`{{ .n }}", "a5\n"),  # bash ends `...` before reading the comment
        ("echo $${{ .name }} | tr -d 0-9", "five\n"),
        ('echo "$${{ .name }}" | tr -d 0-9', "five\n"),
        ('[[ "x" == {{ .n }} ]] || echo differs', "differs\n"),
        ("[ {{ .n }} -eq 5 ] && echo five", "five\n"),
        ("export GREETING={{ .v }}; printf '%s\\n' \"$GREETING\"", f"{NASTY}\n"),
        ("f() { local x={{ .v }}; printf '%s\\n' \"$x\"; }; f", f"{NASTY}\n"),
        ("echo ok # eval {{ .v }}", "ok\n"),
    ],
)
def test_quoting_contexts(source: str, expected: str, tmp_path: Path) -> None:
    assert shell_output(source, {"v": NASTY, "n": 5, "name": "five"}, tmp_path) == expected


def test_values_are_bound_to_fresh_variables_in_order() -> None:
    script = render_shell_script(
        "echo {{ .a }} {{ .b }} {{ .c }} {{ .d }} {{ .a }}",
        {"a": "x", "b": True, "c": {"k": [1]}, "d": None},
    )
    assert (
        script.script
        == 'echo "${PF_TPL_0}" "${PF_TPL_1}" "${PF_TPL_2}" "${PF_TPL_3}" "${PF_TPL_4}"'
    )
    assert dict(script.env) == {
        "PF_TPL_0": "x",
        "PF_TPL_1": "true",
        "PF_TPL_2": '{"k":[1]}',
        "PF_TPL_3": "",
        "PF_TPL_4": "x",
    }


def test_control_structures_are_rendered_before_quoting(tmp_path: Path) -> None:
    source = "{{ range .pods }}kubectl logs {{ . }} -n {{ $.ns }}\n{{ end }}"
    script = render_shell_script(source, {"pods": ["a;b", "c"], "ns": "prod"})
    assert script.script == (
        'kubectl logs "${PF_TPL_0}" -n "${PF_TPL_1}"\nkubectl logs "${PF_TPL_2}" -n "${PF_TPL_3}"\n'
    )
    assert script.env["PF_TPL_0"] == "a;b"


def test_literal_text_is_copied_verbatim() -> None:
    source = 'set -euo pipefail\nfor f in *.log; do echo "$f"; done # {{/* c */}}\n'
    assert render_shell_script(source, {}).script == source.replace("{{/* c */}}", "")
    assert render_shell_script(source, {}).env == {}


def test_nul_is_removed_from_values(tmp_path: Path) -> None:
    script = render_shell_script('printf "%s" "{{ .v }}"', {"v": "a\x00b"})
    assert script.env["PF_TPL_0"] == "ab"
    assert run_bash(script, home=tmp_path).stdout == "ab"


def test_a_value_cannot_forge_a_placeholder() -> None:
    # Values never reach the script text, and a forged marker loses its NULs anyway.
    script = render_shell_script("echo {{ .v }}", {"v": "\x00PF0000:0\x00 $(id)"})
    assert script.script == 'echo "${PF_TPL_0}"'


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("echo $(( {{ .n }} + 1 ))", "inside arithmetic expansion"),
        ("(( x = {{ .n }} ))", "inside arithmetic expansion"),
        ("echo $(( $(echo {{ .n }}) + 1 ))", "inside arithmetic expansion"),
        ('echo "${X:-{{ .n }}}"', "inside ${...} parameter expansion"),
        ("echo ${arr[{{ .n }}]}", "inside ${...} parameter expansion"),
        ("cat <<'EOF'\n{{ .n }}\nEOF", "quoted here-document"),
        ('cat <<"EOF"\n{{ .n }}\nEOF', "quoted here-document"),
        ("cat <<{{ .n }}\nx\n", "here-document delimiter"),
        ("cat <<EOF\n${{ .n }}\nEOF", "straight after '$' in a here-document"),
        ("echo \\{{ .n }}", "straight after a backslash"),
        ('echo "\\{{ .n }}"', "straight after a backslash"),
        ("echo a\x00b {{ .n }}", "contains a NUL character"),
        ("echo ${{ .n }}", "straight after a bare '$'"),
        # bash evaluates these even when the expansion is quoted: a[$(cmd)] runs cmd
        ("echo $[ {{ .n }} + 1 ]", "inside arithmetic expansion"),
        ("[[ {{ .n }} -gt 5 ]] && echo big", "[[ ... ]] test with an arithmetic or -v operator"),
        ('if [[ -v "{{ .n }}" ]]; then :; fi', "[[ ... ]] test with an arithmetic"),
        ("arr[{{ .n }}]=1", "inside an array subscript"),
        ('arr["{{ .n }}"]=1', "inside an array subscript"),
        ("let x={{ .n }}", "argument of 'let'"),
        ('eval "echo {{ .n }}"', "argument of 'eval'"),
        ('echo "$(eval {{ .n }})"', "argument of 'eval'"),
        ("if true; then source {{ .n }}; fi", "argument of 'source'"),
        ("read {{ .n }} < /dev/null", "argument of 'read'"),
        ('bash -c "{{ .n }}"', "argument of 'bash'"),
        ("sudo sh -c '{{ .n }}'", "argument of 'sh'"),
        ("command eval {{ .n }}", "argument of 'eval'"),
        ("printf -v {{ .n }} x", "argument of 'printf'"),
        ("[ -v {{ .n }} ]", "argument of '['"),
        ("declare {{ .n }}", "as a name for 'declare'"),
        ("declare -i total={{ .n }}", "with 'declare' -i or -n"),
        ("local -n ref={{ .n }}", "with 'local' -i or -n"),
    ],
)
def test_refused_contexts(source: str, message: str) -> None:
    with pytest.raises(TemplateError, match=re.escape(message)):
        render_shell_script(source, {"n": 1})


def test_env_cannot_be_modified() -> None:
    script = render_shell_script("echo {{ .n }}", {"n": 1})
    with pytest.raises(TypeError):
        script.env["PF_TPL_0"] = "changed"  # type: ignore[index]
