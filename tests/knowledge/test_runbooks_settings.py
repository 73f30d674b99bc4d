"""``spec.runbooks`` is checked at load and by ``validate``, each error naming its field."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from punching_fist.cli import app
from punching_fist.resources.runbooks import RunbooksConfig

HEAD = "apiVersion: punchingfist.io/v1alpha1\n"
PIPELINE = f"""{HEAD}kind: Source
metadata: {{name: am}}
spec: {{type: webhook, config: {{path: /hook}}, triggerWorkflow: wf}}
---
{HEAD}kind: Sink
metadata: {{name: out}}
spec: {{type: stdout}}
---
{HEAD}kind: Workflow
metadata: {{name: wf}}
spec: {{sinks: [out], steps: [{{name: s, type: cli, command: 'echo hi'}}]}}
"""


def validate(tmp_path: Path, runbooks: str) -> tuple[int, str]:
    config = f"{HEAD}kind: OperatorConfig\nmetadata: {{name: c}}\nspec: {{runbooks: {runbooks}}}"
    (tmp_path / "resources.yaml").write_text(PIPELINE + "---\n" + config)
    result = CliRunner().invoke(app, ["validate", str(tmp_path)])
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize(
    ("runbooks", "expected"),
    [
        (
            "{repository: 'ftp://git.example/rb'}",
            "spec.runbooks.repository: Value error, unsupported scheme 'ftp'",
        ),
        (
            "{repository: 'https://bot:s3cr3t@git.example/rb.git'}",
            "spec.runbooks.repository: Value error, credentials in the URL",
        ),
        ("{repository: 'runbooks'}", "spec.runbooks.repository: Value error, a local directory"),
        ("{repository: '--upload-pack=x'}", "spec.runbooks.repository: Value error, must not"),
        (
            "{repository: 'https://git.example/rb.git', syncInterval: 'hourly'}",
            "spec.runbooks.syncInterval: Value error, 'hourly' is not a duration",
        ),
        (
            "{repository: 'https://git.example/rb.git', branch: '--force'}",
            "spec.runbooks.branch: Value error, '--force' is not a branch name",
        ),
        (
            "{repository: 'https://git.example/rb.git', path: '../etc'}",
            "spec.runbooks.path: Value error, must be a relative path",
        ),
        (
            "{repository: 'https://git.example/rb.git', tokenRef: 'ghp_abc'}",
            "spec.runbooks.tokenRef: Value error, must be a secret reference",
        ),
        (
            "{repository: '/nonexistent/runbooks'}",
            "spec.runbooks.repository: /nonexistent/runbooks",
        ),
        ("{repository: 'file:///nonexistent/rb.git'}", "spec.runbooks.repository: /nonexistent"),
        ("{repository: 'https://git.example/rb.git', syncIntervl: 1h}", "did you mean"),
    ],
)
def test_a_bad_runbooks_setting_is_an_error_naming_its_field(
    tmp_path: Path, runbooks: str, expected: str
) -> None:
    code, output = validate(tmp_path, runbooks)
    assert code == 1, output
    assert expected in output
    assert "s3cr3t" not in output.replace("bot:s3cr3t@", "") or "credentials" in output


def test_a_missing_subdirectory_of_a_local_directory_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "rb").mkdir()
    code, output = validate(tmp_path, f"{{repository: '{tmp_path / 'rb'}', path: ops}}")
    assert code == 1
    assert "spec.runbooks.path: 'ops' is not a directory" in output


@pytest.mark.parametrize(
    "repository",
    [
        "https://github.com/company/runbooks",
        "ssh://git@git.example/ops/runbooks.git",
        "git@github.com:company/runbooks.git",
    ],
)
def test_good_settings_validate_without_findings(tmp_path: Path, repository: str) -> None:
    code, output = validate(
        tmp_path, f"{{repository: '{repository}', branch: main, path: ops/rb, syncInterval: 5m}}"
    )
    assert code == 0, output
    assert "runbooks" not in output


def test_the_model_keeps_defaults_and_the_kind() -> None:
    config = RunbooksConfig.model_validate({"repository": "/srv/runbooks"})
    assert (config.kind, config.branch, config.path, config.sync_interval) == (
        "directory",
        None,
        "",
        "1h",
    )
    assert RunbooksConfig(repository="file:///srv/rb.git", path="ops/").path == "ops"
    with pytest.raises(ValidationError):
        RunbooksConfig(repository="file://relative/rb.git")
