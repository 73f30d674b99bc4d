"""The Helm chart sets ``spec.runbooks`` from ``runbooks`` values, and the image has git."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from punching_fist.resources.operator_config import OperatorConfig
from tests.operator.test_chart import helm, render

__all__ = ["helm"]  # the fixture, used by name

DOCKERFILE = Path(__file__).parents[2] / "Dockerfile"


@pytest.mark.integration
def test_runbooks_values_reach_the_operator_config(helm: Path) -> None:
    runbooks = {
        "repository": "https://github.com/company/runbooks",
        "path": "ops",
        "syncInterval": "30m",
        "tokenRef": "env://GIT_TOKEN",
    }
    documents = render(helm, "--set-json", f"runbooks={json.dumps(runbooks)}")
    (config,) = [d for d in documents if d["kind"] == "OperatorConfig"]
    assert config["spec"]["runbooks"] == runbooks
    OperatorConfig.model_validate(config)  # what the operator loads
    (default,) = [d for d in render(helm) if d["kind"] == "OperatorConfig"]
    assert "runbooks" not in default["spec"]


def test_the_image_has_git_and_ssh_for_the_sync() -> None:
    install = next(
        line for line in DOCKERFILE.read_text().splitlines() if "apt-get install" in line
    )
    assert " git " in f"{install} "
    assert "openssh-client" in install
