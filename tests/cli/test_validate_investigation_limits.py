"""``validate`` and the loader refuse investigation limits that cannot work, naming the field
(issue 15), and accept the ones that do."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from punching_fist.cli import app
from punching_fist.engine.investigations import budget_of
from punching_fist.store.investigation_budget import Budget
from tests.support.server import resources_from_yaml

runner = CliRunner()

HEAD = "apiVersion: punchingfist.io/v1alpha1\n"
WORKFLOW = f"""{HEAD}kind: Workflow
metadata: {{name: wf}}
spec: {{steps: [{{name: s, type: cli, command: 'true'}}]}}
"""


def operator_config(limits: str) -> str:
    return f"{HEAD}kind: OperatorConfig\nmetadata: {{name: op}}\nspec: {{limits: {limits}}}\n"


def validate(tmp_path: Path, limits: str) -> tuple[int, str]:
    (tmp_path / "resources.yaml").write_text("\n---\n".join((WORKFLOW, operator_config(limits))))
    result = runner.invoke(app, ["validate", str(tmp_path)])
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        (
            "{investigationsPerMinute: 0}",
            "(OperatorConfig/op): spec.limits.investigationsPerMinute: Input should be greater"
            " than or equal to 1",
        ),
        (
            "{llmTokensPerHour: lots}",
            "(OperatorConfig/op): spec.limits.llmTokensPerHour: Input should be a valid integer",
        ),
        (
            "{investigationPerMinute: 5}",
            "spec.limits.investigationPerMinute: Extra inputs are not permitted",
        ),
    ],
    ids=["zero", "not a number", "typo"],
)
def test_bad_limits_are_refused_naming_the_field(
    tmp_path: Path, limits: str, expected: str
) -> None:
    code, output = validate(tmp_path, limits)
    assert code == 1
    assert expected in output


def test_good_limits_pass_and_reach_the_gate(tmp_path: Path) -> None:
    limits = "{investigationsPerMinute: 10, llmTokensPerHour: 2000000}"
    code, output = validate(tmp_path, limits)
    assert code == 0, output
    resources = resources_from_yaml("\n---\n".join((WORKFLOW, operator_config(limits))))
    assert budget_of(resources.operator_config) == Budget(per_minute=10, tokens_per_hour=2_000_000)
    assert not budget_of(None).enabled
