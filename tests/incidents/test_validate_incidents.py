"""``validate`` refuses ``spec.incidents`` and ``investigate`` settings that cannot work,
naming the field, and accepts the ones that do (the loader runs the same checks)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from punching_fist.cli import app

runner = CliRunner()
HEAD = "apiVersion: punchingfist.io/v1alpha1\n"


def validate(tmp_path: Path, incidents: str, investigate: str = "perIncident") -> tuple[int, str]:
    workflow = (
        f"{HEAD}kind: Workflow\nmetadata: {{name: wf}}\n"
        f"spec: {{investigate: {investigate}, steps: [{{name: s, type: cli, command: 'true'}}]}}\n"
    )
    config = (
        f"{HEAD}kind: OperatorConfig\nmetadata: {{name: op}}\nspec: {{incidents: {incidents}}}\n"
    )
    (tmp_path / "resources.yaml").write_text("\n---\n".join((workflow, config)))
    result = runner.invoke(app, ["validate", str(tmp_path)])
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize(
    ("incidents", "investigate", "expected"),
    [
        ("{window: ten}", "perIncident", "spec.incidents.window: Value error, 'ten' is not a"),
        ("{window: 0m}", "perIncident", "spec.incidents.window: Value error, '0m' is zero"),
        ("{windw: 5m}", "perIncident", "spec.incidents.windw"),
        ("{correlateBy: [[]]}", "perIncident", "correlateBy[0] is empty"),
        ("{correlateBy: [[a, 'b c']]}", "perIncident", "'b c' is not a label name"),
        ("{}", "perIncidnet", "spec.investigate: Input should be 'perIncident' or 'perAlert'"),
    ],
)
def test_refused_naming_the_field(
    tmp_path: Path, incidents: str, investigate: str, expected: str
) -> None:
    code, output = validate(tmp_path, incidents, investigate)
    assert code == 1
    assert expected in output


def test_accepted(tmp_path: Path) -> None:
    code, output = validate(
        tmp_path, "{window: 30m, correlateBy: [[namespace, service]]}", "perAlert"
    )
    assert code == 0, output
