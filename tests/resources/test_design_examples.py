"""Every YAML example of the design document loads unchanged: it is the user-facing contract."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from punching_fist.resources import parse_yaml
from punching_fist.resources.sink import SINK_CONFIGS
from punching_fist.resources.source import SOURCE_CONFIGS

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
FRAGMENTS = sorted((EXAMPLES / "fragments").glob("*.yaml"))


def test_every_design_block_is_copied_unchanged() -> None:
    if not DESIGN.exists():
        pytest.skip(f"design document not found at {DESIGN}")
    blocks = re.findall(r"```yaml\n(.*?)```", DESIGN.read_text(encoding="utf-8"), re.S)
    copies = {p.read_text(encoding="utf-8") for p in EXAMPLES.rglob("*.y*ml")}
    missing = [block[:60] for block in blocks if block not in copies]
    assert not missing, f"design YAML blocks not copied verbatim: {missing}"
    assert len(blocks) == len(list(EXAMPLES.rglob("*.y*ml")))


@pytest.mark.parametrize("path", RESOURCE_FILES, ids=lambda p: p.name)
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
