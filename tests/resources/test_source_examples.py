"""``examples/sources`` (the examples of docs/sources.md) validate without errors or warnings."""

from __future__ import annotations

from pathlib import Path

import pytest

from punching_fist.validation import check_folder

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "sources"


def test_the_source_examples_validate_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOY_HOOK_KEY", "deploy-key")  # the api Source's key, as serve needs
    report = check_folder(EXAMPLES)
    assert report.errors == []
    assert report.warnings == []
    types = {name: source.spec.type for name, source in report.resources.sources.items()}
    assert types == {
        "deploy-hook": "api",
        "nightly": "schedule",
        "critical-pods": "kubernetes",
        "critical-pods-entered": "kubernetes",
    }
