"""The runtime image recipe: multi-stage, kubectl included, a non-root user, the operator entry.

Docker cannot run here, so the Dockerfile is checked as text for the properties the chart
relies on (a numeric non-root UID matching ``runAsNonRoot``, ``punching-fist`` as entrypoint).
"""

from __future__ import annotations

import json
import re

from tests.operator.support import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def _instructions(name: str) -> list[str]:
    return re.findall(rf"^{name}\s+(.+)$", DOCKERFILE, flags=re.M)


def test_image_is_multi_stage_with_kubectl() -> None:
    stages = _instructions("FROM")
    assert len(stages) >= 3
    assert any("kubectl" in stage for stage in stages)
    assert any(
        line.startswith("--from=kubectl") and "kubectl" in line for line in _instructions("COPY")
    )


def test_image_runs_as_a_numeric_non_root_user() -> None:
    users = _instructions("USER")
    assert users, "no USER instruction"
    uid = users[-1].split(":")[0]
    assert uid.isdigit()
    assert int(uid) != 0


def test_image_starts_the_operator() -> None:
    assert json.loads(_instructions("ENTRYPOINT")[-1]) == ["punching-fist"]
    assert json.loads(_instructions("CMD")[-1])[:2] == ["serve", "--kubernetes"]
