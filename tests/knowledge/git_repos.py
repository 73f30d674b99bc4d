"""A real git remote for runbook tests: a bare repository and a clone that pushes to it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

_ENV = {
    "GIT_AUTHOR_NAME": "Runbook Author",
    "GIT_AUTHOR_EMAIL": "author@example.invalid",
    "GIT_COMMITTER_NAME": "Runbook Author",
    "GIT_COMMITTER_EMAIL": "author@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(*args: str, cwd: Path) -> str:
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), **_ENV}
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


class Remote:
    """``bare`` is the remote (``file://`` URL in ``url``); ``push`` commits files to it."""

    def __init__(self, root: Path, *, branch: str = "main") -> None:
        self.bare = root / "runbooks.git"
        self.work = root / "work"
        self.bare.mkdir(parents=True)
        self.work.mkdir()
        git("init", "--quiet", "--bare", f"--initial-branch={branch}", cwd=self.bare)
        git("init", "--quiet", f"--initial-branch={branch}", cwd=self.work)
        git("remote", "add", "origin", str(self.bare), cwd=self.work)
        self.branch = branch

    @property
    def url(self) -> str:
        return self.bare.as_uri()

    def push(self, files: dict[str, str | None], *, branch: str | None = None) -> str:
        """Write (or, for ``None``, delete) ``files``, commit and push; the new commit."""
        branch = branch or self.branch
        if branch != self.branch:
            git("checkout", "--quiet", "-B", branch, cwd=self.work)
        for path, text in files.items():
            target = self.work / path
            if text is None:
                target.unlink()
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
        git("add", "--all", cwd=self.work)
        git("commit", "--quiet", "-m", f"update {', '.join(files)}", cwd=self.work)
        git("push", "--quiet", "origin", f"HEAD:refs/heads/{branch}", cwd=self.work)
        if branch != self.branch:
            git("checkout", "--quiet", self.branch, cwd=self.work)
        return git("rev-parse", f"refs/heads/{branch}", cwd=self.bare)
