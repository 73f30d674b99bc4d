"""``punching-fist validate DIR``: every problem named by file, document, resource and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from punching_fist.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def validate(directory: Path) -> tuple[int, str]:
    result = runner.invoke(app, ["validate", str(directory)])
    return result.exit_code, result.output


def write(tmp_path: Path, name: str, text: str) -> Path:
    (tmp_path / name).write_text(text)
    return tmp_path


def test_quickstart_examples_are_valid() -> None:
    code, output = validate(ROOT / "examples" / "quickstart")
    assert code == 0, output
    assert "1 source(s), 1 workflow(s), 1 sink(s)" in output


GOOD_SINK = """
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {name: out}
spec: {type: stdout}
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            """
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {name: am}
spec:
  type: webhook
  config: {path: /hook}
  triggerWorkfow: wf
""",
            [
                "document 2 (Source/am): spec.triggerWorkfow: Extra inputs are not permitted",
                "spec.triggerWorkflow: Field required",
            ],
        ),
        (
            """
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: wf}
spec:
  steps:
    - {name: a, type: agent, goal: g, maxIterations: zero}
""",
            ["(Workflow/wf): spec.steps[0].maxIterations: Input should be a valid integer"],
        ),
        (
            """
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {name: s}
spec: {type: carrier-pigeon}
""",
            ["(Sink/s): spec: Input tag 'carrier-pigeon' found using 'type' does not match"],
        ),
        ("kind: [unclosed\n", ["invalid YAML"]),
        (
            """
apiVersion: punchingfist.io/v1
kind: Sink
metadata: {name: x}
spec: {type: stdout}
""",
            ["(Sink/x): apiVersion: expected 'punchingfist.io/v1alpha1', got 'punchingfist.io/v1'"],
        ),
        (
            """
apiVersion: punchingfist.io/v1alpha1
kind: Workfow
metadata: {name: x}
""",
            ["kind: expected one of Source, Workflow, Sink, OperatorConfig, got 'Workfow'"],
        ),
    ],
)
def test_schema_errors_name_file_document_resource_and_field(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    write(tmp_path, "bad.yaml", "---\n" + GOOD_SINK + "---\n" + text)
    code, output = validate(tmp_path)
    assert code == 1
    flat = " ".join(output.split())
    assert str(tmp_path / "bad.yaml") in flat
    for fragment in expected:
        assert " ".join(fragment.split()) in flat


def test_cross_references_are_checked(tmp_path: Path) -> None:
    write(
        tmp_path,
        "all.yaml",
        """
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {name: am}
spec:
  type: webhook
  config: {path: /hook}
  triggerWorkflow: missing-workflow
---
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: wf}
spec:
  steps:
    - {name: first, type: cli, command: "echo {{ .steps.frist.result.stdout }}"}
    - {name: second, type: cli, command: "echo {{ if .x }}"}
  sinks: [out, nowhere]
"""
        + "---\n"
        + GOOD_SINK,
    )
    code, output = validate(tmp_path)
    flat = " ".join(output.split())
    assert code == 1
    where = str(tmp_path / "all.yaml")
    assert (
        f"{where}: document 1 (Source/am): spec.triggerWorkflow: workflow 'missing-workflow'"
        " does not exist (did you mean 'wf'?)"
    ) not in flat  # 'wf' is not close enough to be suggested
    assert "(Source/am): spec.triggerWorkflow: workflow 'missing-workflow' does not exist" in flat
    assert (
        f"{where}: document 2 (Workflow/wf): spec.sinks[1]: sink 'nowhere' does not exist" in flat
    )
    assert (
        "spec.steps[0].command: template refers to .steps.frist, but the workflow has no step"
        " named 'frist' (did you mean 'first'?)"
    ) in flat
    assert "(Workflow/wf): spec.steps[1].command:" in flat


def test_two_sources_cannot_serve_one_path(tmp_path: Path) -> None:
    source = """
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {{name: {name}}}
spec:
  type: webhook
  config: {{path: /same}}
  triggerWorkflow: wf
---
"""
    workflow = (
        "apiVersion: punchingfist.io/v1alpha1\nkind: Workflow\nmetadata: {name: wf}\nspec: {}\n"
    )
    write(tmp_path, "a.yaml", source.format(name="a") + source.format(name="b") + workflow)
    code, output = validate(tmp_path)
    assert code == 1
    assert "(Source/b): spec.config.path: '/same' is already served by Source/a" in " ".join(
        output.split()
    )


def test_duplicate_names_and_missing_names(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", GOOD_SINK)
    write(
        tmp_path,
        "b.yml",
        GOOD_SINK + "---\napiVersion: punchingfist.io/v1alpha1\nkind: Sink\nspec: {type: stdout}\n",
    )
    code, output = validate(tmp_path)
    flat = " ".join(output.split())
    assert code == 1
    assert "Sink 'out' is already defined in" in flat
    assert "metadata.name: field required" in flat


def test_not_a_directory(tmp_path: Path) -> None:
    code, output = validate(tmp_path / "nope")
    assert code == 1
    assert "not a directory" in output


def test_evidence_commands_that_are_not_read_only_fail_validation(tmp_path: Path) -> None:
    workflow = """
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {name: wf}
spec:
  steps:
    - name: investigate
      type: agent
      goal: look
      tools: [kubectl]
      evidence: ["get pods -n shop", "delete pod web-0 -n shop"]
"""
    code, output = validate(write(tmp_path, "wf.yaml", workflow + "---" + GOOD_SINK))
    assert code == 1
    assert "(Workflow/wf): spec.steps[0].evidence[1]" in " ".join(output.split())
