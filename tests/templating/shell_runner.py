"""Run a rendered shell script the way the cli step does: ``bash -c`` with its env."""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from punching_fist.templating import ShellScript


@dataclass(frozen=True)
class BashResult:
    exit_code: int
    stdout: str
    stderr: str


def run_bash(script: ShellScript, *, home: Path | None = None, check: bool = True) -> BashResult:
    """Run ``script`` with a throw-away HOME.

    With ``check`` (the default) any failure or stderr output fails the test.
    """
    with tempfile.TemporaryDirectory() as scratch:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home or scratch),
            "LC_ALL": "C.UTF-8",
            **script.env,
        }
        result = subprocess.run(
            ["bash", "-c", script.script],
            env=env,
            cwd=str(home or scratch),
            capture_output=True,
            check=False,
            timeout=20,
        )
    stdout = result.stdout.decode("utf-8", "surrogateescape")
    stderr = result.stderr.decode("utf-8", "surrogateescape")
    if check:
        assert result.returncode == 0, stderr
        assert stderr == ""
    return BashResult(result.returncode, stdout, stderr)
