"""Template functions: Go builtins and the sprig subset, with sprig's argument order."""

from __future__ import annotations

from typing import Any

import pytest

from punching_fist.errors import TemplateError
from punching_fist.templating import render, render_value

CONTEXT: dict[str, Any] = {
    "s": "Hello World",
    "n": 3,
    "f": 2.5,
    "t": True,
    "list": ["a", "b", "c"],
    "map": {"b": 2, "a": 1},
    "empty": "",
    "zero": 0,
    "text_false": "false",
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # default keeps the default's type; the piped value is the last argument
        ("{{ .missing | default false }}", False),
        ("{{ default false .missing }}", False),
        ("{{ .missing | default 5 }}", 5),
        ('{{ .empty | default "dflt" }}', "dflt"),
        ('{{ .zero | default "dflt" }}', "dflt"),
        ("{{ .t | default false }}", True),
        ("{{ .text_false | default true }}", "false"),  # sprig: only empty values fall back
        ('{{ .s | default "x" }}', "Hello World"),
        # logic
        ("{{ not .missing }}", True),
        ("{{ not .text_false }}", True),
        ("{{ not .t }}", False),
        ("{{ and .t .n }}", 3),
        ("{{ and .t .zero .n }}", 0),
        ("{{ or .zero .empty .s }}", "Hello World"),
        ("{{ or .zero .missing }}", None),
        ("{{ and .text_false .n }}", "false"),
        # comparison
        ('{{ eq .s "Hello World" }}', True),
        ("{{ eq .n 1 2 3 }}", True),
        ("{{ eq .n 3.0 }}", True),
        ("{{ eq .t 1 }}", False),
        ('{{ eq .n "3" }}', False),
        ("{{ eq .missing nil }}", True),
        ("{{ ne .n 4 }}", True),
        ("{{ lt 1 2 }}", True),
        ("{{ le 2 2 }}", True),
        ("{{ gt 2.5 2 }}", True),
        ('{{ ge "b" "a" }}', True),
        # collections
        ("{{ len .list }}", 3),
        ("{{ len .map }}", 2),
        ("{{ len .s }}", 11),
        ("{{ len .missing }}", 0),
        ("{{ index .list 1 }}", "b"),
        ('{{ index .map "a" }}', 1),
        ("{{ index .list 9 }}", None),
        ('{{ index .missing "a" }}', None),
        ('{{ index . "map" "b" }}', 2),
        ('{{ empty "" }}', True),
        ("{{ empty .list }}", False),
        ("{{ empty .text_false }}", False),
        ('{{ coalesce .missing .empty "first" "second" }}', "first"),
        ('{{ ternary "yes" "no" .t }}', "yes"),
        ('{{ .text_false | ternary "yes" "no" }}', "no"),
        ('{{ join ", " .list }}', "a, b, c"),
        ('{{ join "-" .s }}', "Hello World"),
        ('{{ split "," "a,b,,c" }}', ["a", "b", "", "c"]),
        ('{{ splitList " " .s }}', ["Hello", "World"]),
        # strings
        ("{{ upper .s }}", "HELLO WORLD"),
        ("{{ lower .s }}", "hello world"),
        ('{{ title "hello wide-world o\'neil_x" }}', "Hello Wide-World O'Neil_x"),
        ('{{ trim "  pad \\n" }}', "pad"),
        ('{{ trimPrefix "Hello " .s }}', "World"),
        ('{{ trimSuffix " World" .s }}', "Hello"),
        ('{{ contains "lo W" .s }}', True),
        ('{{ hasPrefix "Hell" .s }}', True),
        ('{{ hasSuffix "x" .s }}', False),
        ('{{ replace "o" "0" .s }}', "Hell0 W0rld"),
        ('{{ .s | replace " " "_" }}', "Hello_World"),
        ('{{ quote .s "a\\"b" }}', '"Hello World" "a\\"b"'),
        ('{{ quote "tab\\there\\x01" }}', '"tab\\there\\x01"'),
        ("{{ squote .s }}", "'Hello World'"),
        ('{{ indent 2 "a\\nb" }}', "  a\n  b"),
        ('{{ nindent 2 "a" }}', "\n  a"),
        ("{{ toString .n }}", "3"),
        # serialisation
        ("{{ toJSON .map }}", '{"a":1,"b":2}'),
        ("{{ .list | toJson }}", '["a","b","c"]'),
        ("{{ toPrettyJson .map }}", '{\n  "a": 1,\n  "b": 2\n}'),
        ("{{ toYaml .map }}", "a: 1\nb: 2"),
        ("{{ toYaml .list }}", "- a\n- b\n- c"),
        ("{{ toYaml .s }}", "Hello World"),
        ("{{ toJSON .missing }}", "null"),
    ],
)
def test_function(source: str, expected: Any) -> None:
    value = render_value(source, CONTEXT)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('{{ printf "%s is %d" .s .n }}', "Hello World is 3"),
        ('{{ printf "%v|%v|%v" .t .missing .map }}', 'true||{"a":1,"b":2}'),
        ('{{ printf "%q" .s }}', '"Hello World"'),
        ('{{ printf "%.2f" .f }}', "2.50"),
        ('{{ printf "%5.1f|%-4d|%04d|%+d" .f .n .n .n }}', "  2.5|3   |0003|+3"),
        ('{{ printf "%x %X %o %b %c" 255 255 8 5 65 }}', "ff FF 10 101 A"),
        ('{{ printf "%t %g %e" .t .f 1234.5 }}', "true 2.5 1.234500e+03"),
        ('{{ printf "%5s|%-5s|%.3s" "ab" "ab" "abcdef" }}', "   ab|ab   |abc"),
        ('{{ printf "100%%" }}', "100%"),
        ('{{ printf "%d" "abc" }}', "%!d(string=abc)"),
        ('{{ printf "%s %s" "one" }}', "one %!s(MISSING)"),
        ('{{ printf "%s" "one" 2 }}', "one%!(EXTRA int=2)"),
        ('{{ print "a" "b" 1 2 true }}', "ab1 2 true"),
        ('{{ println "a" 1 }}', "a 1\n"),
    ],
)
def test_formatting(source: str, expected: str) -> None:
    assert render(source, CONTEXT) == expected


def test_and_or_short_circuit_like_go() -> None:
    # gt on a missing count would fail; "and" must stop at the false .stats first.
    source = "{{ if and .stats (gt .stats.count 5) }}busy{{ else }}idle{{ end }}"
    assert render(source, {}) == "idle"
    assert render(source, {"stats": {"count": 9}}) == "busy"
    assert render("{{ or .name (lt .missing 1) }}", {"name": "n"}) == "n"


def test_ordered_comparison_of_incompatible_types_fails() -> None:
    with pytest.raises(TemplateError, match="lt: incompatible types"):
        render("{{ lt .missing 5 }}", {})
    with pytest.raises(TemplateError, match="incompatible types"):
        render('{{ gt "10" 5 }}', {})


def test_bad_arguments_fail_with_template_error() -> None:
    with pytest.raises(TemplateError, match="indent: expected a non-negative whole number"):
        render('{{ indent "x" "text" }}', {})
    with pytest.raises(TemplateError, match="len: cannot take the length of int"):
        render("{{ len 5 }}", {})
    with pytest.raises(TemplateError, match="range can't iterate over"):
        render("{{ range .s }}{{ end }}", {"s": "text"})
