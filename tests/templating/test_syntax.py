"""Go template syntax: paths, actions, control structures, variables and literals."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from pydantic import BaseModel, Field

from punching_fist.templating import compile_template, render, render_value

# --- field paths ----------------------------------------------------------------------


def test_nested_path() -> None:
    assert render("{{ .a.b.c }}", {"a": {"b": {"c": "deep"}}}) == "deep"


def test_hyphen_inside_a_segment_is_part_of_the_key() -> None:
    context = {"steps": {"agent-investigation": {"result": {"can-fix": "yes"}}}}
    assert render("{{ .steps.agent-investigation.result.can-fix }}", context) == "yes"


@pytest.mark.parametrize(
    "source",
    [
        "{{ .missing }}",
        "{{ .a.missing.deeper }}",
        "{{ .a.b.c.d }}",
        "{{ .list.7 }}",
        "{{ .a.b.x }}",
    ],
)
def test_missing_paths_render_empty(source: str) -> None:
    context = {"a": {"b": "text"}, "list": [1]}
    assert render(source, context) == ""
    assert render_value(source, context) is None


def test_list_index_segment() -> None:
    context = {"items": [{"name": "first"}, {"name": "second"}]}
    assert render("{{ .items.1.name }}", context) == "second"
    assert render("{{ .items.x }}", context) == ""


def test_attribute_lookup_on_dataclass_and_pydantic_model() -> None:
    @dataclasses.dataclass
    class Step:
        result: dict[str, Any]

    class Workflow(BaseModel):
        name: str
        completed_at: str = Field(alias="completedAt")

    context = {
        "step": Step({"ok": True}),
        "workflow": Workflow(name="wf", completedAt="noon"),
    }
    assert render("{{ .step.result.ok }}", context) == "true"
    assert render("{{ .workflow.name }} {{ .workflow.completedAt }}", context) == "wf noon"
    assert render("{{ .workflow.model_dump }}", context) == ""  # methods read as missing


def test_dict_keys_win_over_methods() -> None:
    assert render("{{ .labels.items }}", {"labels": {"items": "key"}}) == "key"
    assert render("{{ .labels.items }}", {"labels": {}}) == ""


def test_dot_and_root() -> None:
    assert render("{{ . }}", {"a": 1}) == '{"a":1}'
    assert render("{{ range .xs }}{{ $.title }}{{ . }}{{ end }}", {"title": "t", "xs": [1, 2]}) == (
        "t1t2"
    )
    assert render("{{ with .a }}{{ $.b }}{{ end }}", {"a": 1, "b": 2}) == "2"


# --- rendering of values --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (1.5, "1.5"),
        ("text", "text"),
        ({"b": 1, "a": [1, "x"]}, '{"a":[1,"x"],"b":1}'),
        ([], "[]"),
        ({"k": "ünï"}, '{"k":"ünï"}'),
    ],
)
def test_value_rendering(value: object, text: str) -> None:
    assert render("{{ .v }}", {"v": value}) == text


def test_render_value_keeps_the_type_of_a_single_action() -> None:
    assert render_value("  {{ .v }}\n", {"v": {"a": 1}}) == {"a": 1}
    assert render_value("{{ .v }}", {"v": [1]}) == [1]
    assert render_value("{{ 42 }}", {}) == 42
    assert render_value("{{/* note */}}{{ true }}", {}) is True
    assert render_value("x{{ .v }}", {"v": 1}) == "x1"
    assert render_value("{{ .v }}{{ .v }}", {"v": 1}) == "11"
    assert render_value("{{ $x := 1 }}", {}) == ""
    assert render_value("plain text", {}) == "plain text"


# --- actions, trimming and comments ---------------------------------------------------


def test_trim_markers() -> None:
    assert render("a  {{- .x -}}  \n b", {"x": 1}) == "a1b"
    assert render("a {{- .x }} b", {"x": 1}) == "a1 b"
    assert render("a {{ .x -}} b", {"x": 1}) == "a 1b"


def test_minus_number_is_not_a_trim_marker() -> None:
    assert render("{{-3}}", {}) == "-3"
    assert render("a {{- -3 }}", {}) == "a-3"


def test_comments() -> None:
    assert render("a{{/* comment {{ not }} here */}}b", {}) == "ab"
    assert render("a {{- /* trimmed */ -}} b", {}) == "ab"
    assert render("a{{/* multi\nline */}}b", {}) == "ab"


def test_close_delimiter_inside_a_string_does_not_end_the_action() -> None:
    assert render('{{ "}}" }}', {}) == "}}"


def test_action_may_span_lines() -> None:
    assert render('{{ printf "%s-%s"\n  .a\n  .b }}', {"a": 1, "b": 2}) == "1-2"


@pytest.mark.parametrize(
    "text",
    ["{% raw %}", "{% endraw %}", "{# not a comment #}", "{%- if x %}", "${var} $(cmd)", "{ }"],
)
def test_literal_text_is_never_interpreted_as_jinja(text: str) -> None:
    source = f"{text} {{{{ .x }}}} {text}"
    assert render(source, {"x": "v"}) == f"{text} v {text}"


# --- control structures ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, "yes"), (False, "no"), ("false", "no"), ("0", "no"), ("x", "yes"), (None, "no")],
)
def test_if_else(value: object, expected: str) -> None:
    assert render("{{ if .v }}yes{{ else }}no{{ end }}", {"v": value}) == expected


@pytest.mark.parametrize(("n", "expected"), [(1, "one"), (2, "two"), (3, "many")])
def test_else_if_chain(n: int, expected: str) -> None:
    source = "{{ if eq .n 1 }}one{{ else if eq .n 2 }}two{{ else }}many{{ end }}"
    assert render(source, {"n": n}) == expected


def test_range_over_list_binds_dot() -> None:
    assert render("{{ range .xs }}[{{ . }}]{{ end }}", {"xs": ["a", "b"]}) == "[a][b]"


def test_range_with_index_and_value() -> None:
    source = "{{ range $i, $v := .xs }}{{ $i }}={{ $v }};{{ end }}"
    assert render(source, {"xs": ["a", "b"]}) == "0=a;1=b;"


def test_range_with_value_variable() -> None:
    assert render("{{ range $v := .xs }}{{ $v }}{{ end }}", {"xs": [1, 2]}) == "12"


def test_range_over_dict_uses_sorted_keys() -> None:
    source = "{{ range $k, $v := .m }}{{ $k }}:{{ $v }} {{ end }}"
    assert render(source, {"m": {"b": 2, "a": 1, "c": 3}}) == "a:1 b:2 c:3 "
    assert render("{{ range .m }}{{ . }}{{ end }}", {"m": {"b": 2, "a": 1}}) == "12"


@pytest.mark.parametrize("empty", [[], {}, None])
def test_range_else(empty: object) -> None:
    assert render("{{ range .xs }}x{{ else }}none{{ end }}", {"xs": empty}) == "none"


def test_range_over_missing_is_empty() -> None:
    assert render("{{ range .missing }}x{{ end }}", {}) == ""


def test_range_break_and_continue() -> None:
    source = "{{ range .xs }}{{ if eq . 2 }}{{ continue }}{{ end }}{{ if eq . 4 }}{{ break }}{{ end }}{{ . }}{{ end }}"
    assert render(source, {"xs": [1, 2, 3, 4, 5]}) == "13"


def test_with_rebinds_dot_and_has_else() -> None:
    source = "{{ with .alert }}{{ .name }}{{ else }}no alert{{ end }}"
    assert render(source, {"alert": {"name": "x"}}) == "x"
    assert render(source, {}) == "no alert"


def test_else_with_chain() -> None:
    source = "{{ with .a }}a={{ . }}{{ else with .b }}b={{ . }}{{ else }}none{{ end }}"
    assert render(source, {"b": 2}) == "b=2"
    assert render(source, {}) == "none"


def test_nested_ranges_rebind_dot() -> None:
    source = "{{ range .groups }}{{ .name }}:{{ range .items }}{{ . }}{{ end }};{{ end }}"
    context = {"groups": [{"name": "g1", "items": [1, 2]}, {"name": "g2", "items": []}]}
    assert render(source, context) == "g1:12;g2:;"


# --- variables ------------------------------------------------------------------------


def test_variable_declaration_prints_nothing() -> None:
    assert render("{{ $x := .a }}[{{ $x }}]", {"a": 1}) == "[1]"


def test_variable_path() -> None:
    assert render("{{ $s := .steps }}{{ $s.fetch.ok }}", {"steps": {"fetch": {"ok": 1}}}) == "1"


def test_variable_shadowing_is_block_scoped() -> None:
    source = "{{ $x := 1 }}{{ if true }}{{ $x := 2 }}{{ $x }}{{ end }}{{ $x }}"
    assert render(source, {}) == "21"


def test_variable_reassignment_reaches_out_of_a_loop() -> None:
    source = '{{ $last := "" }}{{ range .xs }}{{ $last = . }}{{ end }}{{ $last }}'
    assert render(source, {"xs": ["a", "b", "c"]}) == "c"


def test_range_variable_reassignment() -> None:
    assert render("{{ range $v := .xs }}{{ $v = 0 }}{{ $v }}{{ end }}", {"xs": [1, 2]}) == "00"


def test_if_and_with_declarations() -> None:
    assert render("{{ if $x := .a }}{{ $x }}{{ else }}{{ $x }}!{{ end }}", {"a": 5}) == "5"
    assert render("{{ with $x := .a }}{{ $x }}{{ . }}{{ end }}", {"a": 5}) == "55"


# --- literals and pipelines -----------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ('{{ "a\\tb\\n\\"q\\"\\\\" }}', 'a\tb\n"q"\\'),
        ('{{ "\\x41\\u00e9\\U0001F600\\101" }}', "Aé😀A"),
        ('{{ "\\xe2\\x9c\\x93" }}', "✓"),
        ("{{ `raw \\n {{ no }}` }}", "raw \\n {{ no }}"),
        ("{{ 42 }}", 42),
        ("{{ -7 }}", -7),
        ("{{ 0x1F }}", 31),
        ("{{ 0755 }}", 0o755),
        ("{{ 1_000 }}", 1000),
        ("{{ 2.5 }}", 2.5),
        ("{{ 1e3 }}", 1000.0),
        ("{{ true }}", True),
        ("{{ false }}", False),
        ("{{ nil }}", None),
    ],
)
def test_literals(source: str, value: Any) -> None:
    assert render_value(source, {}) == value


def test_pipeline_passes_value_as_last_argument() -> None:
    assert render('{{ .name | printf "%s-%s" "x" }}', {"name": "n"}) == "x-n"
    assert render('{{ .name | upper | printf "<%s>" }}', {"name": "n"}) == "<N>"


def test_parenthesised_sub_pipelines() -> None:
    assert render('{{ if (eq .a "x") }}yes{{ end }}', {"a": "x"}) == "yes"
    assert render('{{ if and (eq .a "x") (ne .b "y") }}yes{{ end }}', {"a": "x", "b": "z"}) == "yes"
    assert render("{{ (index .xs 0).name }}", {"xs": [{"name": "n"}]}) == "n"


def test_function_name_as_argument_is_a_call() -> None:
    assert render('{{ printf "%s" (print) }}|{{ print print }}', {}) == "|"


def test_compiled_templates_are_cached_and_immutable() -> None:
    template = compile_template("{{ .a }}")
    assert compile_template("{{ .a }}") is template
    with pytest.raises(dataclasses.FrozenInstanceError):
        template.source = "x"  # type: ignore[misc]
