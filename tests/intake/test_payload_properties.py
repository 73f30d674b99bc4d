"""Property tests: whatever arrives, the intake answers 400/422 or accepts, never crashes.

Accepted alerts are ones the store can hold on either database (``sources.parsing``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from punching_fist.api.errors import http_status
from punching_fist.engine.intake import NotificationRef
from punching_fist.errors import Refused
from punching_fist.resources.source import WebhookConfig, WebhookSourceSpec
from punching_fist.sources.parsing import Checked, parse_notification
from punching_fist.sources.webhook import _incoming
from tests.support.payloads import alert, notification

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)

SPEC = WebhookSourceSpec(type="webhook", config=WebhookConfig(path="/h"), trigger_workflow="wf")


def outcome(body: bytes) -> int:
    try:
        parsed = parse_notification(body)
    except Refused as exc:
        return http_status(exc)
    checked = parsed.checked(0, len(parsed))
    if not all(isinstance(entry, Checked) for entry in checked):
        return 422  # those alerts are refused, naming the field; the others are stored
    group = parsed.group.template_view
    ref = NotificationRef(source_name="src", alert_count=len(parsed), data=group)
    for entry in checked:
        assert isinstance(entry, Checked)
        incoming = _incoming("src", SPEC, entry.alert, ref)
        assert incoming.fingerprint
        texts = [*incoming.labels.items(), *incoming.annotations.items()]
        assert not any("\x00" in key + value for key, value in texts)  # PostgreSQL refuses NUL
        json.dumps(incoming.source_context())  # what the store will persist must serialise
        json.dumps(ref.row(datetime.now(UTC)), default=str)
    return 202


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_arbitrary_bytes(body: bytes) -> None:
    assert outcome(body) in {202, 400, 422}


@settings(max_examples=300)
@given(json_values)
def test_arbitrary_json(value: Any) -> None:
    assert outcome(json.dumps(value).encode()) in {400, 422}


@settings(max_examples=300)
@given(
    st.sampled_from(["status", "labels", "annotations", "startsAt", "endsAt", "fingerprint"]),
    json_values,
)
def test_mutated_alert_fields(field: str, value: Any) -> None:
    payload = notification(alert())
    payload["alerts"][0][field] = value
    code = outcome(json.dumps(payload).encode())
    assert code in {202, 422}


@settings(max_examples=200)
@given(st.dictionaries(st.text(min_size=1), st.text(), min_size=1, max_size=8))
def test_any_label_set_is_accepted_with_a_stable_identity(labels: dict[str, str]) -> None:
    def body(label_set: dict[str, str]) -> bytes:
        payload = notification(alert(fingerprint=None))
        payload["alerts"][0]["labels"] = label_set
        return json.dumps(payload).encode()

    first = parse_notification(body(labels)).alerts[0].identity()
    shuffled = dict(reversed(list(labels.items())))
    body2 = body(shuffled)
    assert parse_notification(body2).alerts[0].identity() == first
