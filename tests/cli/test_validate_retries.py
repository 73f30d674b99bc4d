"""``validate`` checks step retries and at-most-once steps: a bad ``retryPolicy`` (on the
Workflow or a step) or ``idempotent`` is refused with the field that is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from punching_fist.cli import app

runner = CliRunner()


def validate(tmp_path: Path, step: str, spec: str = "") -> tuple[int, str]:
    (tmp_path / "wf.yaml").write_text(
        "apiVersion: punchingfist.io/v1alpha1\nkind: Workflow\nmetadata: {name: wf}\n"
        f"spec:\n  steps: [{step}]\n{spec}"
    )
    result = runner.invoke(app, ["validate", str(tmp_path)])
    return result.exit_code, " ".join(result.output.split())


CLI = "name: s, type: cli, command: 'echo hi'"

REFUSED = {
    "no attempt at all": (
        f"{{{CLI}}}",
        "  retryPolicy: {maxAttempts: 0}\n",
        "spec.retryPolicy.maxAttempts: Input should be greater than or equal to 1",
    ),
    "a cap below the first delay": (
        f"{{{CLI}, retryPolicy: {{initialDelaySeconds: 10, maxDelaySeconds: 2}}}}",
        "",
        "spec.steps[0].retryPolicy.maxDelaySeconds: Value error, must be at least"
        " initialDelaySeconds (10)",
    ),
    "a negative delay": (
        f"{{{CLI}, retryPolicy: {{initialDelaySeconds: -1}}}}",
        "",
        "spec.steps[0].retryPolicy.initialDelaySeconds: Input should be greater than or equal to 0",
    ),
    "an unknown backoff": (
        f"{{{CLI}}}",
        "  retryPolicy: {backoff: linear}\n",
        "spec.retryPolicy.backoff: Input should be 'exponential', 'fixed' or 'none'",
    ),
    "a misspelled field": (
        f"{{{CLI}, retryPolicy: {{maxAttempt: 3}}}}",
        "",
        "spec.steps[0].retryPolicy.maxAttempt: Extra inputs are not permitted"
        " (did you mean 'maxAttempts'?)",
    ),
    "idempotent that is not a boolean": (
        f"{{{CLI}, idempotent: perhaps}}",
        "",
        "spec.steps[0].idempotent: Input should be a valid boolean",
    ),
    "retries of a step that runs at most once": (
        f"{{{CLI}, idempotent: false, retryPolicy: {{maxAttempts: 3}}}}",
        "",
        "spec.steps[0].retryPolicy: a step with idempotent: false runs at most once, so it"
        " cannot be retried",
    ),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_bad_retry_settings_are_refused_naming_the_field(tmp_path: Path, case: str) -> None:
    step, spec, message = REFUSED[case]
    code, output = validate(tmp_path, step, spec)
    assert code == 1, output
    assert f"(Workflow/wf): {message}" in output


def test_good_retry_settings_pass(tmp_path: Path) -> None:
    code, output = validate(
        tmp_path,
        f"{{{CLI}, retryPolicy: {{maxAttempts: 2, backoff: fixed}}}},"
        f" {{name: once, type: cli, command: 'echo once', idempotent: false}}",
        "  retryPolicy: {maxAttempts: 5, initialDelaySeconds: 0.5, maxDelaySeconds: 10}\n",
    )
    assert code == 0, output
    assert "ok: 0 source(s), 1 workflow(s)" in output
