"""Getting a copy of the runbook repository: ``git`` itself, shallow, into the state directory.

The first sync clones (``--depth 1``, one branch) into a temporary directory and renames it
into place; later syncs fetch the branch (or the remote's ``HEAD``, its default branch) and
check it out. A failed fetch leaves the checkout as it was, so the last good copy stays,
also across restarts. A plain local directory is read as it is, with no git.

git runs with an argv (the URL after ``--``), no terminal prompts, only the https, ssh and
file transports, ssh in batch mode, and a token (``tokenRef``) passed as an HTTP header
through git's environment configuration: never in the URL, argv, the clone's config or a
log line. Its error output is cut to one line with the token replaced.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from punching_fist import processes
from punching_fist.errors import ConfigurationError, TemporaryFailure
from punching_fist.knowledge.runbooks_match import RunbookSet
from punching_fist.knowledge.runbooks_parse import Runbook, parse_runbook
from punching_fist.resources.runbooks import RunbooksConfig

GIT_TIMEOUT_SECONDS = 120.0
MAX_RUNBOOK_BYTES = 256 * 1024
_PASSED_ENV = (
    "PATH",
    "HOME",
    "SSH_AUTH_SOCK",
    "HTTPS_PROXY",
    "https_proxy",
    "NO_PROXY",
    "no_proxy",
)


@dataclass(frozen=True, kw_only=True)
class Loaded:
    """The runbooks read from a copy, and the files that could not be read."""

    runbooks: RunbookSet
    problems: tuple[str, ...] = ()


class GitCheckout:
    """One configured repository's copy under ``cache_root``."""

    def __init__(
        self, config: RunbooksConfig, cache_root: Path, environ: Mapping[str, str]
    ) -> None:
        self.config = config
        key = f"{config.repository}\0{config.branch or ''}".encode()
        self.directory = cache_root / hashlib.sha256(key).hexdigest()[:16]
        self._environ = environ

    async def update(self, token: str | None) -> str | None:
        """Clone or fetch, then the commit now checked out (``None`` for a local directory).

        ``TemporaryFailure`` when git fails (the copy is left as it was)."""
        if self.config.kind == "directory":
            return None
        if (self.directory / ".git").is_dir():
            ref = self.config.branch or "HEAD"
            fetch = ["fetch", "--quiet", "--depth", "1", "--no-tags", "origin", ref]
            await self._git(fetch, token, self.directory)
            checkout = ["checkout", "--quiet", "--force", "--detach", "FETCH_HEAD"]
            await self._git(checkout, token, self.directory)
        else:
            await self._clone(token)
        return await self.commit()

    def has_copy(self) -> bool:
        """Whether a copy is here (a previous process's last good one, before a sync)."""
        return self.config.kind == "directory" or (self.directory / ".git").is_dir()

    async def commit(self) -> str | None:
        """The commit of the copy; ``None`` for a local directory."""
        if self.config.kind == "directory":
            return None
        return (await self._git(["rev-parse", "HEAD"], None, self.directory)).strip()

    def root(self) -> Path:
        """Where the files are: the checkout, or the local directory."""
        if self.config.kind == "directory":
            return Path(self.config.repository)
        return self.directory

    async def _clone(self, token: str | None) -> None:
        staging = self.directory.with_name(self.directory.name + ".cloning")
        await asyncio.to_thread(shutil.rmtree, staging, ignore_errors=True)
        staging.parent.mkdir(parents=True, exist_ok=True)
        argv = ["clone", "--quiet", "--depth", "1", "--single-branch", "--no-tags"]
        if self.config.branch:
            argv += ["--branch", self.config.branch]
        await self._git([*argv, "--", self.config.repository, str(staging)], token, None)
        await asyncio.to_thread(shutil.rmtree, self.directory, ignore_errors=True)
        staging.rename(self.directory)

    async def _git(self, args: list[str], token: str | None, cwd: Path | None) -> str:
        try:
            done = await processes.run(
                ["git", *args],
                env=self._env(token),
                timeout_seconds=GIT_TIMEOUT_SECONDS,
                cwd=None if cwd is None else str(cwd),
            )
        except OSError as exc:
            raise TemporaryFailure(f"git cannot be started: {exc.strerror or exc}") from exc
        if done.timed_out:
            raise TemporaryFailure(f"git {args[0]} took longer than {GIT_TIMEOUT_SECONDS:.0f} s")
        if done.returncode != 0:
            text = done.stderr.decode() if done.stderr is not None else ""
            raise TemporaryFailure(f"git {args[0]} failed: {_error_line(text, token)}")
        return done.stdout.decode()

    def _env(self, token: str | None) -> dict[str, str]:
        env = {name: self._environ[name] for name in _PASSED_ENV if name in self._environ}
        env.update(
            GIT_TERMINAL_PROMPT="0",
            GIT_ASKPASS="true",  # no prompt: missing credentials fail at once
            GIT_ALLOW_PROTOCOL="https:ssh:file",
            GIT_SSH_COMMAND="ssh -o BatchMode=yes",
            GIT_CONFIG_NOSYSTEM="1",
            LC_ALL="C",
        )
        if token:
            basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
            env.update(
                GIT_CONFIG_COUNT="1",
                GIT_CONFIG_KEY_0="http.extraHeader",
                GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}",
            )
        return env


def load_runbooks(root: Path, config: RunbooksConfig, commit: str | None) -> Loaded:
    """Every ``*.md`` under the configured ``path`` of ``root`` (blocking: run in a thread).

    A file that cannot be read or parsed is a problem, not a failure of the others."""
    base = root / config.path if config.path else root
    inside = base.resolve().is_relative_to(root.resolve())  # not a symlink out of it
    if not base.is_dir() or not inside:
        message = f"{config.path or '.'} is not a directory in the repository"
        return Loaded(runbooks=RunbookSet(commit=commit, root=config.path), problems=(message,))
    runbooks: list[Runbook] = []
    problems: list[str] = []
    files = _markdown_files(base)
    for file in files:
        path = file.relative_to(root).as_posix()
        if len(runbooks) >= config.max_runbooks:
            problems.append(
                f"more than maxRunbooks ({config.max_runbooks}) files; the rest skipped"
            )
            break
        try:
            if file.is_symlink() or not file.is_file():
                raise ConfigurationError(f"{path}: not a regular file")
            if file.stat().st_size > MAX_RUNBOOK_BYTES:
                raise ConfigurationError(f"{path}: larger than {MAX_RUNBOOK_BYTES} bytes")
            text = file.read_text(encoding="utf-8")
            runbooks.append(parse_runbook(path, text))
        except ConfigurationError as exc:
            problems.append(str(exc))
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{path}: cannot be read: {type(exc).__name__}")
    found = RunbookSet(runbooks=tuple(runbooks), commit=commit, root=config.path)
    return Loaded(runbooks=found, problems=tuple(problems))


def _markdown_files(base: Path) -> list[Path]:
    """``*.md`` below ``base``, sorted; symlinked directories are not followed (a repository
    must not lead the server to read its own files into prompts), ``.git`` is skipped."""
    found = []
    for directory, subdirectories, names in os.walk(base, followlinks=False):
        subdirectories[:] = sorted(d for d in subdirectories if d != ".git")
        found += [Path(directory) / name for name in names if name.endswith(".md")]
    return sorted(found)


def _error_line(text: str, token: str | None) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # git's first fatal line says what went wrong; the lines after it are advice.
    fatal = [line for line in lines if line.startswith(("fatal:", "error:"))]
    line = (fatal or lines or ["no error output"])[0]
    if token:
        line = line.replace(token, "***")
    return line[:300]


def default_environ() -> Mapping[str, str]:
    """The server's environment, read when the sync is built (never at import)."""
    return dict(os.environ)
