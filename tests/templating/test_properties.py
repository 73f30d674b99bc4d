"""Property tests: no label value can become shell syntax or template syntax."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from punching_fist.errors import TemplateError
from punching_fist.templating import ShellScript, render, render_shell_script, render_value
from tests.templating.shell_runner import run_bash

# Environment variables cannot hold NUL (render_shell_script strips it), and lone
# surrogates cannot be encoded for the OS: leave both out of generated text.
_TEXT = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]))
_HOSTILE = st.sampled_from(
    [
        '"; touch "$HOME/canary"; "',
        "'; touch \"$HOME/canary\"; '",
        "$(touch $HOME/canary)",
        "`touch $HOME/canary`",
        "${HOME}/canary",
        "a[$(touch $HOME/canary)]",
        '\\"; touch ~/canary #',
        "\n touch ~/canary \n",
        "-n",
        "-e \\x41",
        "*",
        "{{ . }}",
        "{{ .secret }}",
        "{% raw %}{% endraw %}{# #}",
        "$'\\x27'",
        "''\"\"``",
    ]
)
LABEL = st.one_of(_TEXT, _HOSTILE, st.lists(st.one_of(_TEXT, _HOSTILE), max_size=4).map("".join))

SHELL_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _run(source: str, labels: dict[str, str]) -> str:
    script = render_shell_script(source, {"labels": labels, "v": labels.get("v")})
    with tempfile.TemporaryDirectory() as home:
        output = run_bash(script, home=Path(home)).stdout
        assert not (Path(home) / "canary").exists()
    return output


@SHELL_SETTINGS
@given(value=LABEL)
def test_bare_value_is_one_argument(value: str) -> None:
    assert _run("printf '[%s]\\n' {{ .v }}", {"v": value}) == f"[{value}]\n"


@SHELL_SETTINGS
@given(value=LABEL)
def test_value_in_double_quotes(value: str) -> None:
    assert _run("printf '%s\\n' \"<{{ .v }}>\"", {"v": value}) == f"<{value}>\n"


@SHELL_SETTINGS
@given(value=LABEL)
def test_value_in_single_quotes(value: str) -> None:
    assert _run("printf '%s\\n' '<{{ .v }}>'", {"v": value}) == f"<{value}>\n"


@SHELL_SETTINGS
@given(labels=st.dictionaries(st.sampled_from(["v", "app", "x-y", "$(k)"]), LABEL, max_size=4))
def test_labels_json_in_echo(labels: dict[str, str]) -> None:
    expected = json.dumps(labels, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    output = _run('echo "Labels: {{ .labels | toJSON }}"', labels)
    assert output == f"Labels: {expected}\n"
    assert json.loads(output.removeprefix("Labels: ")) == labels


@settings(max_examples=300)
@given(value=LABEL, secret=_TEXT)
def test_template_syntax_in_data_is_never_evaluated(value: str, secret: str) -> None:
    context = {"x": value, "secret": secret}
    assert render("{{ .x }}", context) == value
    assert render_value("{{ .x }}", context) == value
    assert render('a {{ .x | printf "%s" }} b', context) == f"a {value} b"


@settings(max_examples=300)
@given(text=_TEXT)
def test_text_without_actions_renders_verbatim(text: str) -> None:
    source = text
    while "{{" in source:
        source = source.replace("{{", "{ {")
    assert render(source, {}) == source


_SHELL_TEXT = st.text(st.sampled_from(list("ab $(){}`'\"\\#<-\n\t;|&=[]*")), max_size=30).filter(
    lambda text: "{{" not in text and "}}" not in text and not text.endswith("{")
)
_REFERENCES = (
    '"${PF_TPL_0}"',
    "${PF_TPL_0}",
    "'\"${PF_TPL_0}\"'",
    "'\"${PF_TPL_0}\"$'",
    '""${PF_TPL_0}""',
)


@settings(max_examples=500)
@given(before=_SHELL_TEXT, after=_SHELL_TEXT, value=LABEL)
def test_shell_scanner_copies_literal_text_and_only_inserts_a_reference(
    before: str, after: str, value: str
) -> None:
    try:
        script = render_shell_script(before + "{{ .v }}" + after, {"v": value})
    except TemplateError:
        return  # a refused context (arithmetic, ${...}, backslash...) is a clear outcome
    assert script.script.startswith(before)
    assert script.script.endswith(after)
    assert script.script[len(before) : len(script.script) - len(after)] in _REFERENCES
    assert dict(script.env) == {"PF_TPL_0": value}


_HARMLESS = "+SAFE+"  # inert even after "$" or as a command (%x is a job spec, $@ expands)


@SHELL_SETTINGS
@given(before=_SHELL_TEXT, after=_SHELL_TEXT)
def test_scanner_agrees_with_bash_about_quoting(before: str, after: str) -> None:
    """Referencing a harmless value must behave exactly like pasting it in.

    If the lexer misjudged the quoting context (single vs double quotes, backticks,
    comments, here-documents), the reference would print differently from the text.
    """
    source = "printf '<%s>' " + before + "{{ .v }}" + after
    try:
        script = render_shell_script(source, {"v": _HARMLESS})
    except TemplateError:
        return
    assume("$$" not in source)  # the PID differs between the two runs
    pasted = ShellScript(source.replace("{{ .v }}", _HARMLESS), {})
    referenced, inlined = run_bash(script, check=False), run_bash(pasted, check=False)
    assert (referenced.exit_code, referenced.stdout) == (inlined.exit_code, inlined.stdout)
