"""Which sinks escalate (hand the alert to a person): ``spec.escalation`` when set, otherwise
PagerDuty sinks that trigger a page."""

from __future__ import annotations

import pytest

from punching_fist.incidents.alert_record import escalates
from punching_fist.resources.sink import Sink


def sink(spec: str) -> Sink:
    return Sink.model_validate_json(
        f'{{"apiVersion": "punchingfist.io/v1alpha1", "kind": "Sink", "spec": {spec}}}'
    )


PD = '"type": "pagerduty", "config": {"routingKey": "env://PD", "action": "%s"}'


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("{%s}" % (PD % "trigger"), True),
        ("{%s}" % (PD % "resolve"), False),
        ("{%s}" % (PD % "acknowledge"), False),
        ('{%s, "escalation": false}' % (PD % "trigger"), False),
        ('{"type": "slack", "config": {"channel": "#ops"}}', False),
        ('{"type": "jira", "config": {"project": "OPS"}, "escalation": true}', True),
        ('{"type": "workflow", "config": {"workflowName": "page"}, "escalation": true}', True),
    ],
)
def test_escalation_sinks(spec: str, expected: bool) -> None:
    assert escalates(sink(spec)) is expected


def test_escalation_must_be_a_boolean() -> None:
    with pytest.raises(ValueError, match="escalation"):
        sink('{"type": "stdout", "escalation": "sometimes"}')
