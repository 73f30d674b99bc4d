"""``OperatorConfig.spec.runbooks``: where runbooks come from and how often they are synced.

Every value here ends up in a ``git`` argv, so the checks are strict: nothing may start with
``-`` (git would read it as an option), a URL carries no credentials (they would reach logs
and ``ps``; ``tokenRef`` names them instead), and only transports that authenticate the
server are accepted. Whether a local directory exists is a question for ``validate`` and
start-up (``validation/settings.py``), not for the schema.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from punching_fist.resources.base import SpecModel
from punching_fist.resources.durations import Duration
from punching_fist.secret_refs import is_reference

RepositoryKind = Literal["https", "ssh", "file", "directory"]

_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^/\s].*$")
_BRANCH = re.compile(r"^(?!-)(?!.*\.\.)(?!.*//)(?!/)[A-Za-z0-9._/-]+(?<!/)(?<!\.lock)$")


def repository_kind(repository: str) -> RepositoryKind:
    """How ``repository`` is reached; ``ValueError`` naming what is wrong with it."""
    if not repository or repository != repository.strip():
        raise ValueError("must be a git URL or an absolute directory, without spaces around it")
    if repository.startswith("-"):
        raise ValueError("must not start with '-'")
    if repository.startswith("/"):
        return "directory"
    if _SCP_LIKE.match(repository):
        return "ssh"
    parts = urlsplit(repository)
    if parts.scheme in ("https", "ssh", "file"):
        if parts.scheme != "file" and not parts.hostname:
            raise ValueError(f"{parts.scheme}:// URL without a host")
        if parts.scheme == "file" and parts.netloc not in ("", "localhost"):
            raise ValueError("a file:// URL needs an absolute path (file:///srv/runbooks.git)")
        if parts.password is not None or (parts.scheme == "https" and parts.username):
            raise ValueError(
                "credentials in the URL would reach logs and process lists: put the token in"
                " a secret and name it in tokenRef"
            )
        return parts.scheme  # type: ignore[return-value]  # narrowed by the check above
    if parts.scheme:
        raise ValueError(
            f"unsupported scheme {parts.scheme!r}: use https://, ssh://, user@host:path,"
            " file:// or an absolute directory"
        )
    raise ValueError(
        "a local directory must be an absolute path; otherwise use https://, ssh://,"
        " user@host:path or file://"
    )


class RunbooksConfig(SpecModel):
    """A repository of markdown runbooks, synced into the server's state directory."""

    repository: str
    """A git URL (``https://``, ``ssh://``, ``user@host:path``, ``file://``) or an absolute
    local directory, read as it is (no git) on every sync."""
    branch: str | None = None
    """The branch to follow; ``None``: the remote's default branch."""
    path: str = ""
    """Subdirectory of the repository that holds the runbooks; empty: all of it."""
    sync_interval: Duration = "1h"
    """How often the repository is synced again after the first sync at start."""
    token_ref: str | None = None
    """For ``https://`` repositories: a secret reference (``env://GIT_TOKEN``) to a token
    sent as HTTP basic auth password; never put in the URL, argv or logs."""
    max_runbooks: int = Field(default=1000, ge=1, le=100_000)
    """Markdown files read at most, so a huge repository cannot exhaust memory."""

    @field_validator("repository")
    @classmethod
    def _reachable_repository(cls, value: str) -> str:
        repository_kind(value)
        return value

    @field_validator("branch")
    @classmethod
    def _branch_name(cls, value: str | None) -> str | None:
        if value is not None and not _BRANCH.match(value):
            raise ValueError(f"{value!r} is not a branch name git accepts")
        return value

    @field_validator("path")
    @classmethod
    def _inside_repository(cls, value: str) -> str:
        path = PurePosixPath(value)
        if value.startswith(("/", "-")) or ".." in path.parts or "\\" in value:
            raise ValueError("must be a relative path inside the repository (no '..', '/' or '-')")
        return value.strip("/")

    @field_validator("token_ref")
    @classmethod
    def _is_a_reference(cls, value: str | None) -> str | None:
        if value is not None and not is_reference(value):
            raise ValueError(
                "must be a secret reference (env://NAME, k8s://namespace/secret/key),"
                " not the token itself"
            )
        return value

    @property
    def kind(self) -> RepositoryKind:
        return repository_kind(self.repository)
