"""Every YAML example of the design document loads unchanged: it is the user-facing contract.

The whole resources load together (``validate examples/design``); excerpts (resources shown
out of context) are checked one at a time; fragments and manifests are skipped by the loader.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from punching_fist.cli import app
from punching_fist.resources import parse_yaml
from punching_fist.resources.sink import SINK_CONFIGS
from punching_fist.resources.source import SOURCE_CONFIGS
from punching_fist.secret_refs import SUPPORTED_SECRET_MANAGERS
from punching_fist.validation import check_resource

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "design"
DESIGN = next(
    (
        path
        for path in (
            ROOT.parent / "shared" / "design" / "punching-fist-design.md",
            Path("/work/shared/design/punching-fist-design.md"),
        )
        if path.exists()
    ),
    ROOT.parent / "shared" / "design" / "punching-fist-design.md",
)

RESOURCE_FILES = sorted((EXAMPLES / "resources").glob("*.yaml"))
EXCERPTS = sorted((EXAMPLES / "excerpts").glob("*.yaml.example"))
FRAGMENTS = sorted((EXAMPLES / "fragments").glob("*.yaml"))
COPIES = [
    p
    for p in EXAMPLES.rglob("*")
    if p.name.endswith((".yaml", ".yml", ".yaml.example")) and p.parent.name != "completions"
]


def test_every_design_block_is_copied_unchanged() -> None:
    if not DESIGN.exists():
        pytest.skip(f"design document not found at {DESIGN}")
    blocks = re.findall(r"```yaml\n(.*?)```", DESIGN.read_text(encoding="utf-8"), re.S)
    copies = {p.read_text(encoding="utf-8") for p in COPIES}
    missing = [block[:60] for block in blocks if block not in copies]
    assert not missing, f"design YAML blocks not copied verbatim: {missing}"
    assert len(blocks) == len(COPIES)


def test_the_design_examples_validate_with_warnings_only() -> None:
    result = CliRunner().invoke(app, ["validate", str(EXAMPLES)])
    assert result.exit_code == 0, result.output
    assert "ok: 1 source(s), 3 workflow(s), 8 sink(s)" in result.output
    flat = " ".join(result.output.split())
    # What the examples set but we do not do is said, not silently ignored.
    for warned in ("spec.runtime.image", "spec.database", "spec.chat"):
        assert f"{warned}: ignored" in flat
    assert "spec.runbooks" not in flat  # synced since issue 16
    assert "curl has no allowedHosts" in flat
    # Snippets and manifests are not resources: skipped, and said so.
    assert f"skipped {EXAMPLES / 'kubernetes' / 'alertmanager.yml'}" in flat
    assert f"skipped {EXAMPLES / 'fragments' / 'source-webhook.yaml'}" in flat
    assert "error" not in flat


def _excerpt_errors(name: str) -> list[str]:
    """The errors an excerpt has on its own: those of the context it leaves out."""
    if name.startswith("05-"):  # shows rigConfig; the PROMETHEUS_URL of its runtime is left out
        return ["spec.steps[0].tools[1]: promql has no endpoint"]
    managers = {"09-": "aws-secrets", "11-": "azure-keyvault"}
    manager = next((m for prefix, m in managers.items() if name.startswith(prefix)), None)
    if manager is not None and manager not in SUPPORTED_SECRET_MANAGERS:
        return [f"spec.secretManager.type: {manager!r} has no backend"]
    return []


@pytest.mark.parametrize("path", EXCERPTS, ids=lambda p: p.name)
def test_design_excerpt_has_no_error_of_its_own(path: Path) -> None:
    (loaded,) = parse_yaml(path.read_text(encoding="utf-8"), origin=str(path))
    errors = [f.text for f in check_resource(loaded.resource) if not f.warning]
    expected = _excerpt_errors(path.name)
    assert len(errors) == len(expected), errors
    for error, start in zip(errors, expected, strict=True):
        assert error.startswith(start)


@pytest.mark.parametrize("path", RESOURCE_FILES + EXCERPTS, ids=lambda p: p.name)
def test_design_resource_loads(path: Path) -> None:
    loaded = parse_yaml(path.read_text(encoding="utf-8"), origin=str(path))
    documents = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    assert [item.kind for item in loaded] == [d["kind"] for d in documents]


@pytest.mark.parametrize("path", FRAGMENTS, ids=lambda p: p.name)
def test_design_type_fragment_validates(path: Path) -> None:
    fragment = yaml.safe_load(path.read_text(encoding="utf-8"))
    registry = SOURCE_CONFIGS if path.name.startswith("source-") else SINK_CONFIGS
    config = registry[fragment["type"]].model_validate(fragment["config"])
    assert config.model_dump(by_alias=True, exclude_unset=True).keys() == fragment["config"].keys()


def test_design_kubernetes_manifests_are_yaml() -> None:
    for path in (EXAMPLES / "kubernetes").glob("*.y*ml"):
        documents = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
        assert documents, path
