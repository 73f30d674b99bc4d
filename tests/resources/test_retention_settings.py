"""``spec.retention`` of the OperatorConfig: defaults, durations as people write them, and
bad values refused by ``validate`` and at load, naming the field."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from punching_fist.cli import app, load_resources
from punching_fist.errors import ResourceValidationError
from punching_fist.resources.durations import parse_duration
from punching_fist.resources.operator_config import OperatorConfigSpec

HEAD = "apiVersion: punchingfist.io/v1alpha1\nkind: OperatorConfig\nmetadata: {name: c}\n"


def test_the_defaults_keep_alerts_and_runs_30_days_and_audit_events_90() -> None:
    retention = OperatorConfigSpec().retention
    assert retention.enabled
    assert parse_duration(retention.resolved_alerts) == timedelta(days=30)
    assert parse_duration(retention.finished_runs) == timedelta(days=30)
    assert parse_duration(retention.audit_events) == timedelta(days=90)
    assert retention.batch_size == 1000


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("1h30m", timedelta(minutes=90)),
        ("2w", timedelta(weeks=2)),
        ("1d12h", timedelta(hours=36)),
        ("45s", timedelta(seconds=45)),
    ],
)
def test_durations(text: str, length: timedelta) -> None:
    assert parse_duration(text) == length


@pytest.mark.parametrize("text", ["30", "30x", "d", "-1d", "1.5d", "30 d", "0d", "0h0m", ""])
def test_what_is_not_a_positive_duration_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("{retention: {finishedRuns: 30x}}", "spec.retention.finishedRuns: Value error, '30x'"),
        ("{retention: {auditEvents: 0d}}", "spec.retention.auditEvents: Value error, '0d' is zero"),
        ("{retention: {resolvedAlerts: 30}}", "spec.retention.resolvedAlerts: Input should be"),
        ("{retention: {batchSize: 0}}", "spec.retention.batchSize: Input should be greater"),
        ("{retention: {finishedRun: 3d}}", "(did you mean 'finishedRuns'?)"),
    ],
)
def test_validate_and_load_name_the_field(tmp_path: Path, spec: str, expected: str) -> None:
    (tmp_path / "config.yaml").write_text(f"{HEAD}spec: {spec}\n")

    result = CliRunner().invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    assert expected in " ".join(result.output.split())

    with pytest.raises(ResourceValidationError, match=r"spec\.retention"):
        load_resources(tmp_path)
