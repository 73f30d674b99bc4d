"""What the schema cannot say about ``spec.runbooks``: the directory or binary it needs.

A runbook repository that cannot be read would leave every investigation without its
runbook while the configuration looks fine, so ``validate`` and folder-mode ``serve`` refuse
it up front. A remote that is down is not refused: that is a sync failure, kept in status.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

from punching_fist.resources.findings import Finding, error
from punching_fist.resources.runbooks import RunbooksConfig


def runbooks_findings(name: str, config: RunbooksConfig | None) -> list[Finding]:
    if config is None:
        return []
    kind = config.kind
    if kind == "directory":
        directory = Path(config.repository)
        if not directory.is_dir():
            return [_error(name, "repository", f"{directory} is not a directory")]
        if config.path and not (directory / config.path).is_dir():
            return [_error(name, "path", f"{config.path!r} is not a directory in {directory}")]
        return []
    problems = []
    if shutil.which("git") is None:
        problems.append(_error(name, "repository", "git is not installed on this server's PATH"))
    if kind == "file":
        local = Path(unquote(urlsplit(config.repository).path))
        if not local.exists():
            problems.append(_error(name, "repository", f"{local} does not exist"))
    if config.token_ref is not None and kind != "https":
        problems.append(_error(name, "tokenRef", "only https:// repositories use a token"))
    return problems


def _error(name: str, field: str, message: str) -> Finding:
    return error("OperatorConfig", name, f"spec.runbooks.{field}", message)
