"""``triggerCondition``'s expression language: the design's spelling, precedence, lookups."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from punching_fist.errors import TemplateError
from punching_fist.sinks.expressions import compare, condition_holds

CONTEXT: dict[str, Any] = {
    "source": {
        "name": "am",
        "data": {
            "alert": {
                "alertname": "DiskFull",
                "severity": "warning",
                "labels": {"team": "storage", "namespace": "prod"},
            }
        },
    },
    "workflow": {
        "name": "triage",
        "status": "succeeded",
        "outputs": {
            "severity": "critical",
            "confidence": 0.91,
            "auto_fixed": False,
            "severity-assessment": "high",
            "count": "12",
        },
    },
}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("severity == 'critical'", True),  # the design's example: outputs come first
        ('severity != "critical"', False),
        ("alertname == 'DiskFull'", True),  # then the alert
        ("team == 'storage'", True),  # then its labels
        ("source.data.alert.severity == 'warning'", True),  # then the whole context
        ("workflow.status == 'succeeded'", True),
        ("confidence >= 0.9", True),
        ("confidence > 0.95", False),
        ("count > 9", True),  # numeric text compares as a number, not as text ("12" < "9")
        ("severity-assessment == 'high'", True),
        ("auto_fixed == false", True),
        ("!auto_fixed", True),
        ("not auto_fixed and severity == 'critical'", True),
        ("severity == 'info' || team == 'storage'", True),
        ("severity == 'info' or (team == 'storage' and confidence < 0.5)", False),
        ("namespace in ['prod', 'staging']", True),
        ("'crit' in severity", True),
        ("missing == null", True),
        ("missing", False),
        ("severity", True),
        ('{{ eq .workflow.outputs.severity "critical" }}', True),  # a Go template works too
        ("{{ .workflow.outputs.auto_fixed }}", False),
    ],
)
def test_conditions(condition: str, expected: bool) -> None:
    assert condition_holds(condition, CONTEXT) is expected


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("severity ==", "ends too early"),
        ("severity = 'x'", "unexpected"),
        ("(severity == 'x'", "expected ')'"),
        ("severity == 'x' extra", "unexpected 'extra'"),
        ("__import__('os')", "unexpected"),
    ],
)
def test_malformed_conditions_are_template_errors(condition: str, message: str) -> None:
    with pytest.raises(TemplateError, match="triggerCondition") as info:
        condition_holds(condition, CONTEXT)
    assert message in str(info.value)


numbers = st.one_of(st.integers(-(10**6), 10**6), st.floats(-1e6, 1e6, allow_nan=False))


@given(numbers, numbers, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
def test_numbers_compare_like_numbers_whatever_their_spelling(a: float, b: float, op: str) -> None:
    expected = {
        "==": a == b,
        "!=": a != b,
        "<": a < b,
        "<=": a <= b,
        ">": a > b,
        ">=": a >= b,
    }[op]
    assert compare(op, a, b) is expected
    assert compare(op, str(a), b) is expected  # outputs are often text
    context = {"workflow": {"outputs": {"x": str(a)}}}
    assert condition_holds(f"x {op} {float(b)!r}", context) is expected


@given(st.text(max_size=40))
def test_any_text_either_evaluates_or_is_a_template_error(text: str) -> None:
    try:
        result = condition_holds(text, CONTEXT)
    except TemplateError:
        return
    assert isinstance(result, bool)
