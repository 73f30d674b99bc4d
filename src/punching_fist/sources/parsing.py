"""Reading a notification: its alerts one slice at a time, each checked against the store.

A small notification (nearly all of them) is validated in one pass over the bytes. A large
one is parsed once into JSON values, and its alerts are validated a slice at a time, so the
intake can let other requests run between slices instead of holding the event loop for the
whole notification.

An invalid alert is refused on its own, with the field it failed on; the notification's other
alerts are stored. The same goes for what the database cannot hold: PostgreSQL refuses a NUL
character and strings longer than their ``VARCHAR``, SQLite takes both. Found inside the
commit, such a value failed the whole notification with 503 on PostgreSQL only, which
Alertmanager retries forever. So both databases are held to it here, by the lengths of the
columns in ``store.tables``:

- ``severity`` and ``alertname`` are copied into columns for filtering; the alert keeps the
  whole values in its labels, and templates see them there. A longer value is cut in the
  column only, and the answer says so in a note: the alert is investigated as usual.
- A NUL character anywhere, a ``fingerprint`` longer than its column (Alertmanager's are 16
  hex digits), a time the store cannot represent: the alert is refused, naming the field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Column

from punching_fist.errors import InvalidRequest
from punching_fist.resources.loader import format_location
from punching_fist.sources.alertmanager import (
    ALERT_LIST,
    AlertmanagerAlert,
    AlertmanagerGroup,
    AlertmanagerNotification,
    NotificationEnvelope,
)
from punching_fist.store.tables import alerts

ONE_PASS_BYTES = 64 * 1024
"""Bodies up to this size are validated in one pass: fastest, and brief enough."""

_NUL = "\x00"
_NUL_ESCAPE = b"\\u0000"  # JSON cannot carry a raw NUL, only this escape


def _length(column: Column[Any]) -> int:
    length = getattr(column.type, "length", None)
    assert isinstance(length, int), column
    return length


SEVERITY_LENGTH = _length(alerts.c.severity)
ALERTNAME_LENGTH = _length(alerts.c.alert_name)
FINGERPRINT_LENGTH = _length(alerts.c.fingerprint)


@dataclass(frozen=True, slots=True, kw_only=True)
class Refusal:
    """An alert that is not stored, and why (each problem names its field)."""

    index: int
    problems: list[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Checked:
    """An alert the store can hold; ``notes`` say what was cut to fit."""

    index: int
    alert: AlertmanagerAlert
    notes: list[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedNotification:
    """The group fields, validated, and the alerts, validated or still JSON values."""

    group: AlertmanagerGroup
    alerts: Sequence[Any]
    validated: bool
    may_hold_nul: bool
    """The body has a ``\\u0000`` escape somewhere, so values are searched for NUL."""

    def __len__(self) -> int:
        return len(self.alerts)

    def checked(self, start: int, stop: int) -> list[Checked | Refusal]:
        """Alerts ``start`` to ``stop``, validated and held against what the store can hold."""
        window = self.alerts[start:stop]
        if self.validated:
            models: Sequence[AlertmanagerAlert | Refusal] = window
        else:
            models = _validated(window, start)
        out: list[Checked | Refusal] = []
        for index, alert in enumerate(models, start):
            if isinstance(alert, Refusal):
                out.append(alert)
                continue
            problems, notes = _storable(alert, f"alerts[{index}]", nul=self.may_hold_nul)
            out.append(
                Refusal(index=index, problems=problems)
                if problems
                else Checked(index=index, alert=alert, notes=notes)
            )
        return out


def parse_notification(body: bytes) -> ParsedNotification:
    """Validate the notification's own fields and find its alerts.

    400 if the body is not JSON, 422 if it is not a notification (its group fields, or no
    list of alerts). Invalid alerts are not refused here but by ``checked``, one by one.
    """
    may_hold_nul = _NUL_ESCAPE in body
    if len(body) <= ONE_PASS_BYTES:
        try:
            whole = AlertmanagerNotification.model_validate_json(body)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            if not all(_in_an_alert(error["loc"]) for error in errors):
                raise _refusal(errors) from exc
        else:
            _check_group(whole, nul=may_hold_nul)
            return ParsedNotification(
                group=whole, alerts=whole.alerts, validated=True, may_hold_nul=may_hold_nul
            )
    try:
        envelope = NotificationEnvelope.model_validate_json(body)
    except ValidationError as exc:
        raise _refusal(exc.errors(include_url=False)) from exc
    _check_group(envelope, nul=may_hold_nul)
    return ParsedNotification(
        group=envelope, alerts=envelope.alerts, validated=False, may_hold_nul=may_hold_nul
    )


def _in_an_alert(loc: tuple[int | str, ...]) -> bool:
    return len(loc) >= 2 and loc[0] == "alerts" and isinstance(loc[1], int)


def _refusal(errors: Sequence[Any]) -> InvalidRequest:
    if errors and errors[0]["type"] == "json_invalid":
        return InvalidRequest(f"request body is not valid JSON: {errors[0]['msg']}")
    problems = [f"{format_location(e['loc'])}: {e['msg']}" for e in errors]
    return InvalidRequest(
        "not an Alertmanager webhook notification: " + "; ".join(problems), unprocessable=True
    )


def _validated(window: Sequence[Any], start: int) -> list[AlertmanagerAlert | Refusal]:
    try:
        return list(ALERT_LIST.validate_python(window))
    except ValidationError:
        pass  # some are invalid: find which, and keep the others
    out: list[AlertmanagerAlert | Refusal] = []
    for index, value in enumerate(window, start):
        try:
            out.append(AlertmanagerAlert.model_validate(value))
        except ValidationError as exc:
            problems = [
                f"{format_location(('alerts', index, *e['loc']))}: {e['msg']}"
                for e in exc.errors(include_url=False)
            ]
            out.append(Refusal(index=index, problems=problems))
    return out


def _check_group(group: AlertmanagerGroup, *, nul: bool) -> None:
    """The group fields are stored with the notification's runs: NUL refuses them all."""
    if not nul:
        return
    problems = [
        *_nul_in(group.group_key, "groupKey"),
        *_nul_in(group.receiver, "receiver"),
        *_nul_in(group.external_url, "externalURL"),
        *_nul_in(group.version, "version"),
        *_nul_in_map(group.group_labels, "groupLabels"),
        *_nul_in_map(group.common_labels, "commonLabels"),
        *_nul_in_map(group.common_annotations, "commonAnnotations"),
    ]
    if problems:
        raise InvalidRequest(
            "the notification cannot be stored: " + "; ".join(problems), unprocessable=True
        )


def _storable(alert: AlertmanagerAlert, at: str, *, nul: bool) -> tuple[list[str], list[str]]:
    """Problems that refuse ``alert``, and notes on what was cut to fit its columns."""
    problems: list[str] = []
    notes: list[str] = []
    if len(alert.fingerprint) > FINGERPRINT_LENGTH:
        problems.append(f"{at}.fingerprint: longer than {FINGERPRINT_LENGTH} characters")
    for name, value in (("startsAt", alert.starts_at), ("endsAt", alert.effective_ends_at())):
        if value is not None and not _representable(value):
            problems.append(f"{at}.{name}: outside the range of times the store can hold")
    if nul:
        problems += _nul_in_map(alert.labels, f"{at}.labels")
        problems += _nul_in_map(alert.annotations, f"{at}.annotations")
        problems += _nul_in(alert.generator_url, f"{at}.generatorURL")
        problems += _nul_in(alert.fingerprint, f"{at}.fingerprint")
    labels = alert.labels
    for label, length, column in (
        ("severity", SEVERITY_LENGTH, "severity"),
        ("alertname", ALERTNAME_LENGTH, "alert_name"),
    ):
        if len(labels.get(label, "")) > length:
            notes.append(
                f"{at}.labels.{label}: longer than {length} characters; the alert's {column}"
                f" column keeps the first {length}, its labels the whole value"
            )
    return problems, notes


def _representable(value: datetime) -> bool:
    try:
        value.astimezone(UTC)
    except OverflowError:  # year 1 east of UTC, year 9999 west of it
        return False
    return True


def _nul_in(value: str, at: str) -> Iterable[str]:
    if _NUL in value:
        yield f"{at}: contains a NUL character, which the store cannot hold"


def _nul_in_map(values: Mapping[str, str], at: str) -> Iterable[str]:
    for key, value in values.items():
        if _NUL in key:
            yield f"{at}: a name contains a NUL character, which the store cannot hold"
        elif _NUL in value:
            yield f"{at}.{key}: contains a NUL character, which the store cannot hold"
