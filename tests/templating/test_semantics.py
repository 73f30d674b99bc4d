"""Truthiness, conditions, referenced paths and the sandbox boundary."""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from typing import Any

import pytest

from punching_fist.errors import TemplateError
from punching_fist.templating import compile_template, evaluate_condition, is_truthy, render


@pytest.mark.parametrize(
    "value",
    [
        None,
        False,
        0,
        0.0,
        "",
        "   ",
        "false",
        "False",
        "FALSE",
        "no",
        "No",
        "0",
        " false\n",
        [],
        {},
        (),
        set(),
    ],
)
def test_falsy_values(value: Any) -> None:
    assert not is_truthy(value)


@pytest.mark.parametrize(
    "value", [True, 1, -1, 0.1, "true", "yes", "x", "00", "0.0", "nope", [0], {"a": None}, object()]
)
def test_truthy_values(value: Any) -> None:
    assert is_truthy(value)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("", False),
        ("   \n", False),
        ("true", True),
        ("false", False),
        ("{{ .yes }}", True),
        ("{{ .no }}", False),
        ("{{ .missing }}", False),
        ("{{ .text_no }}", False),
        ("{{ eq .count 3 }}", True),
        ("{{ if .yes }}true{{ end }}\n", True),
        ("{{ if .no }}true{{ end }}\n", False),
        ("{{ and .yes .text_no }}", False),
        ("{{ or .no .yes }}", True),
    ],
)
def test_evaluate_condition(source: str, expected: bool) -> None:
    context = {"yes": True, "no": False, "text_no": "no", "count": 3}
    assert evaluate_condition(source, context) is expected


def test_if_uses_the_text_rule_but_empty_does_not() -> None:
    assert render("{{ if .v }}t{{ else }}f{{ end }}", {"v": "FALSE"}) == "f"
    assert render("{{ empty .v }}", {"v": "false"}) == "false"


@pytest.mark.parametrize(
    ("source", "paths"),
    [
        ("{{ .steps.fetch.result }}", {("steps", "fetch", "result")}),
        ("{{ $.steps.a }}", {("steps", "a")}),
        (
            "{{ with .steps.fetch }}{{ .result.ok }}{{ end }}",
            {("steps", "fetch"), ("steps", "fetch", "result", "ok")},
        ),
        ("{{ $s := .steps }}{{ $s.b.x }}", {("steps",), ("steps", "b", "x")}),
        (
            "{{ range .steps.list }}{{ .name }}{{ $.outputs.o }}{{ end }}",
            {("steps", "list"), ("outputs", "o")},
        ),
        ("{{ if eq .steps.a.ok true }}{{ end }}", {("steps", "a", "ok")}),
        ("{{ .outputs.x | default .outputs.y }}", {("outputs", "x"), ("outputs", "y")}),
        ("no actions", set()),
    ],
)
def test_referenced_paths(source: str, paths: set[tuple[str, ...]]) -> None:
    assert compile_template(source).referenced_paths() == paths


def test_private_attributes_are_refused() -> None:
    @dataclasses.dataclass
    class Holder:
        _secret: str = "s"

    with pytest.raises(TemplateError, match="private attribute '_secret'"):
        render("{{ .h._secret }}", {"h": Holder()})
    with pytest.raises(TemplateError, match="private attribute '__class__'"):
        render("{{ .h.__class__ }}", {"h": Holder()})


def test_private_looking_dict_keys_are_plain_data() -> None:
    assert render("{{ .m._k }} {{ .m.__class__ }}", {"m": {"_k": 1, "__class__": 2}}) == "1 2"


def test_unsafe_attributes_are_refused_by_the_sandbox() -> None:
    def generator() -> Generator[int, None, None]:
        yield 1

    running = generator()
    with pytest.raises(TemplateError, match="may not access attribute 'gi_frame'"):
        render("{{ .g.gi_frame }}", {"g": running})
    running.close()


def test_methods_read_as_missing() -> None:
    class Thing:
        def delete(self) -> str:
            raise AssertionError("templates must never call methods")

    assert render("{{ .t.delete }}|{{ .s.upper }}", {"t": Thing(), "s": "x"}) == "|"


def test_data_that_looks_like_a_template_is_just_text() -> None:
    context = {"label": "{{ .secret }} {% for x in y %}{{ 7*7 }}", "secret": "hunter2"}
    assert render("{{ .label }}", context) == context["label"]
    assert evaluate_condition("{{ .label }}", context)


def test_render_is_reentrant_across_contexts() -> None:
    template = compile_template("{{ range .xs }}{{ . }}{{ end }}")
    assert [template.render({"xs": [i, i]}) for i in range(3)] == ["00", "11", "22"]
