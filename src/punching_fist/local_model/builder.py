"""Building llama-server from the llama.cpp sources vendored in the llama-cpp-python sdist.

PyPI is the only place this machine can fetch from, and that sdist is the pinned llama.cpp
we know parses Qwen's tool calls. The default build uses ``-march=native``, so the binary
is built on the host that runs it and its marker records that host's CPU; a cache moved
to another CPU is rebuilt rather than crashing with an illegal instruction.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import platform
import re
import shutil
import sys
import tarfile
from pathlib import Path

from punching_fist.local_model._proc import run_tool
from punching_fist.local_model.errors import InstallFailed, IntegrityError, ToolchainMissing
from punching_fist.local_model.integrity import sha256_file, write_marker
from punching_fist.local_model.manifest import RuntimeArtifact
from punching_fist.local_model.progress import InstallProgress

_PERCENT = re.compile(r"^\[\s*(\d+)%\]")


def host_fingerprint() -> str:
    """A short digest of this CPU's model and flags: what ``-march=native`` compiled for."""
    facts = [platform.machine()]
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        facts.append(platform.processor())
    else:
        wanted = ("model name", "flags")
        facts += [ln for ln in cpuinfo.splitlines() if ln.startswith(wanted)][: len(wanted)]
    return hashlib.sha256("\n".join(facts).encode()).hexdigest()[:16]


def server_facts(artifact: RuntimeArtifact) -> dict[str, str]:
    """What a cached binary's marker must say for the binary to be reused."""
    return {artifact.sdist_package: artifact.version, "host": host_fingerprint()}


def check_toolchain() -> None:
    """Fail early, with the fix, when cmake or a C++ compiler is missing."""
    missing = [tool for tool in ("cmake", "c++") if shutil.which(tool) is None]
    if missing:
        raise ToolchainMissing(
            f"building llama-server needs {', '.join(missing)}; "
            "on Debian: apt-get install cmake g++"
        )


async def build_llama_server(
    artifact: RuntimeArtifact,
    dest: Path,
    *,
    workdir: Path,
    progress: InstallProgress,
    jobs: int | None = None,
) -> None:
    """Download, verify, build and install llama-server at ``dest`` with its marker."""
    check_toolchain()
    sdist = await _download_sdist(artifact, workdir / "sdist", progress)
    progress.begin("unpack llama.cpp sources")
    source = await asyncio.to_thread(_extract_llama_cpp, sdist, workdir / "src")
    progress.finish("unpack llama.cpp sources", str(source.relative_to(workdir)))
    build = workdir / "build"
    progress.begin("configure llama.cpp")
    await run_tool(["cmake", "-S", str(source), "-B", str(build), *artifact.cmake_options])
    progress.finish("configure llama.cpp", " ".join(artifact.cmake_options))
    await _compile(artifact, build, progress, jobs or os.cpu_count() or 1)
    scratch = await asyncio.to_thread(_stage_binary, build / "bin" / artifact.target, dest)
    try:
        await run_tool([str(scratch), "--version"])  # proves it runs on this CPU
        os.replace(scratch, dest)
    finally:
        scratch.unlink(missing_ok=True)
    write_marker(dest, await asyncio.to_thread(sha256_file, dest), server_facts(artifact))


async def _download_sdist(artifact: RuntimeArtifact, into: Path, progress: InstallProgress) -> Path:
    step = f"download {artifact.sdist_package}=={artifact.version} sdist"
    progress.begin(step)
    await run_tool(
        [
            *(sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"),
            *("--no-cache-dir", "--progress-bar", "off", "--dest", str(into)),
            f"{artifact.sdist_package}=={artifact.version}",
        ]
    )
    sdist = await asyncio.to_thread(_single_sdist, into)
    actual = await asyncio.to_thread(sha256_file, sdist)
    if actual != artifact.sdist_sha256:
        raise IntegrityError(sdist.name, expected=artifact.sdist_sha256, actual=actual)
    progress.finish(step, "sha256 verified")
    return sdist


def _single_sdist(folder: Path) -> Path:
    found = sorted(folder.glob("*.tar.gz"))
    if len(found) != 1:
        raise InstallFailed(f"expected one sdist in {folder}, found {[p.name for p in found]}")
    return found[0]


def _stage_binary(built: Path, dest: Path) -> Path:
    """Copy the built binary beside ``dest`` so the final rename is atomic."""
    if not built.is_file():
        raise InstallFailed(f"cmake finished but {built} does not exist")
    dest.parent.mkdir(parents=True, exist_ok=True)
    scratch = dest.with_name(dest.name + ".partial")
    shutil.copyfile(built, scratch)
    scratch.chmod(0o755)
    return scratch


def _extract_llama_cpp(sdist: Path, into: Path) -> Path:
    """Unpack only ``vendor/llama.cpp``, refusing links and paths that leave ``into``."""
    with tarfile.open(sdist) as tar:
        top = tar.getnames()[0].split("/", 1)[0]
        prefix = f"{top}/vendor/llama.cpp/"
        members = [m for m in tar.getmembers() if m.name.startswith(prefix)]
        if not members:
            raise InstallFailed(f"{sdist.name} has no vendor/llama.cpp")
        tar.extractall(into, members=members, filter="data")
    return into / prefix.rstrip("/")


async def _compile(
    artifact: RuntimeArtifact, build: Path, progress: InstallProgress, jobs: int
) -> None:
    step = f"build {artifact.target} (-j{jobs})"
    progress.begin(step, total=100)
    done = 0

    def on_line(line: str) -> None:
        nonlocal done
        match = _PERCENT.match(line)
        if match and int(match.group(1)) > done:
            progress.advance(int(match.group(1)) - done)
            done = int(match.group(1))

    argv = ["cmake", "--build", str(build), "--target", artifact.target, "-j", str(jobs)]
    await run_tool(argv, on_line=on_line)
    progress.finish(step, "done")
