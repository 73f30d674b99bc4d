"""Parse errors name the template line and the problem; nothing is cached on failure."""

from __future__ import annotations

import pytest

from punching_fist.errors import ConfigurationError, TemplateError
from punching_fist.templating import compile_template


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("line one\nline two {{ .a ", "template line 2: unclosed action"),
        ("{{ .a }}\n\n{{ end }}", "template line 3: unexpected {{ end }}"),
        ("{{ else }}", "template line 1: unexpected {{ else }}"),
        ("{{ foo .a }}", "template line 1: unknown function foo"),
        ("a\n{{ .a | bar }}", "template line 2: unknown function bar"),
        ("{{ if .a }}\nyes", "template line 1: missing {{ end }} for {{ if }}"),
        ("{{ range .a }}{{ else }}", "template line 1: missing {{ end }} for {{ range }}"),
        ("{{ with .a }}{{ else }}{{ else }}{{ end }}", "unexpected {{ else }} after {{ else }}"),
        ("{{ if }}{{ end }}", "template line 1: missing value for if"),
        ("{{ }}", "template line 1: empty action"),
        ("{{ .a | }}", "missing command after |"),
        ("{{ $x }}", "template line 1: undefined variable $x"),
        ("{{ if true }}{{ $x := 1 }}{{ end }}{{ $x }}", "undefined variable $x"),
        ("{{ $x = 1 }}", "undefined variable $x"),
        ("{{ $ := 1 }}", "cannot assign to $"),
        ('{{ "unterminated }}', "template line 1: unterminated quoted string"),
        ("{{ `raw }}", "unterminated raw quoted string"),
        ("{{ 'c' }}", "single-quoted strings are not supported"),
        ('{{ "\\q" }}', "unknown escape sequence \\q"),
        ("{{ 12ab }}", "bad number syntax"),
        ("{{ .a .b }}", "can't give arguments to a value that is not a function"),
        ("{{ .a | .b }}", "cannot pipe into a value that is not a function"),
        ("{{ eq .a }}", "wrong number of arguments for eq: want at least 2, got 1"),
        ("{{ upper }}", "wrong number of arguments for upper: want 1, got 0"),
        ('{{ .a | replace "x" }}', "wrong number of arguments for replace: want 3, got 2"),
        ("{{ (eq .a 1 }}", "unclosed left paren"),
        ("{{ ) }}", "unexpected ')'"),
        ("{{ break }}", "{{ break }} outside {{ range }}"),
        ('{{ define "x" }}{{ end }}', "{{ define }} is not supported"),
        ('{{ template "x" }}', "{{ template }} is not supported"),
        ("{{/* never closed", "template line 1: unclosed comment"),
        ("{{/* c */ .a }}", "comment ends before closing delimiter"),
        ("{{ .a ! }}", "unexpected character '!'"),
        ("{{ range $a, $b, $c := .x }}{{ end }}", "too many declarations in range"),
        ("{{ if .a }}x{{ end extra }}", "unexpected 'extra' in action"),
        ("{{ eq ($x := 1) 1 }}", "cannot declare or assign a variable"),
        (
            "{{ .a }}\n{{ if .b }}\n{{ .c {{ end }}",
            "template line 3: unexpected '{{' inside action",
        ),
        # In the design document this sits in a YAML comment, not a template: Go rejects it too.
        ("kubectl get pods -n {{ namespace }}", "unknown function namespace"),
    ],
)
def test_parse_errors(source: str, message: str) -> None:
    with pytest.raises(TemplateError) as raised:
        compile_template(source)
    assert message in str(raised.value)


def test_template_errors_are_configuration_errors() -> None:
    assert issubclass(TemplateError, ConfigurationError)


def test_failed_compilation_is_reported_every_time() -> None:
    for _ in range(2):
        with pytest.raises(TemplateError):
            compile_template("{{ nope }}")
