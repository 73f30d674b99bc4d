"""``validate`` refuses limits that cannot work, naming the field (issue 14: bounded work)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from punching_fist.cli import app

runner = CliRunner()

HEAD = "apiVersion: punchingfist.io/v1alpha1\n"
PIPELINE = f"""{HEAD}kind: Workflow
metadata: {{name: wf}}
spec: {{steps: [{{name: s, type: cli, command: 'true'}}]}}
"""


def source(config: str) -> str:
    return f"{HEAD}kind: Source\nmetadata: {{name: am}}\nspec: {{type: webhook, config: {config}, triggerWorkflow: wf}}\n"


def operator_config(limits: str) -> str:
    return f"{HEAD}kind: OperatorConfig\nmetadata: {{name: op}}\nspec: {{limits: {limits}}}\n"


def validate(tmp_path: Path, *documents: str) -> tuple[int, str]:
    (tmp_path / "resources.yaml").write_text("\n---\n".join((PIPELINE, *documents)))
    result = runner.invoke(app, ["validate", str(tmp_path)])
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            source("{path: /hook, maxRunsPerRequest: 0}"),
            "(Source/am): spec.config.maxRunsPerRequest: Input should be greater than or equal to 1",
        ),
        (
            operator_config("{maxQueuedRuns: -5}"),
            "(OperatorConfig/op): spec.limits.maxQueuedRuns: Input should be greater than or equal to 1",
        ),
        (
            operator_config("{maxRunsPerRequest: many}"),
            "spec.limits.maxRunsPerRequest: Input should be a valid integer",
        ),
        (
            operator_config("{maxQueuedRuns: 10, maxQueuedRunsPerWorkflow: 50}"),
            "spec.limits: Value error, maxQueuedRunsPerWorkflow (50) must not exceed"
            " maxQueuedRuns (10)",
        ),
        (
            operator_config("{maxQueuedRun: 10}"),
            "spec.limits.maxQueuedRun: Extra inputs are not permitted",
        ),
    ],
    ids=["per-request zero", "queue negative", "not a number", "share over whole", "typo"],
)
def test_bad_limits_are_refused_naming_the_field(
    tmp_path: Path, document: str, expected: str
) -> None:
    code, output = validate(tmp_path, document)
    assert code == 1
    assert expected in output


def test_sound_limits_load(tmp_path: Path) -> None:
    code, output = validate(
        tmp_path,
        source("{path: /hook, maxRunsPerRequest: 20}"),
        operator_config(
            "{maxRunsPerRequest: 50, maxQueuedRuns: 500, maxQueuedRunsPerWorkflow: 100}"
        ),
    )
    assert code == 0, output
