"""Hashing and verification markers.

Hashing the 1 GB model takes seconds, too long for every start. After one full check we
write a marker holding the file's size, mtime and sha256 (plus facts such as the build's
CPU); later checks compare only ``stat()`` against the marker. A file changed in place
changes its mtime or size, so the marker stops matching and the file is checked again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from punching_fist.local_model.cache import marker_for

CHUNK = 4 * 1024 * 1024


def sha256_file(path: Path, on_chunk: Callable[[int], None] | None = None) -> str:
    """The hex sha256 of ``path``, read in chunks so memory stays flat."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            if on_chunk is not None:
                on_chunk(len(chunk))
    return digest.hexdigest()


def write_marker(path: Path, sha256: str, facts: Mapping[str, str] | None = None) -> None:
    """Record that ``path`` has ``sha256`` now, with ``facts`` that must still hold later."""
    stat = path.stat()
    record = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256}
    record.update(dict(facts or {}))
    marker = marker_for(path)
    scratch = marker.with_name(marker.name + ".tmp")
    scratch.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.replace(scratch, marker)


def read_marker(path: Path) -> dict[str, object] | None:
    """The marker of ``path`` as written, or ``None`` if absent or unreadable."""
    try:
        loaded = json.loads(marker_for(path).read_text())
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def marker_matches(path: Path, expected: Mapping[str, str]) -> bool:
    """Whether ``path`` is unchanged since its marker and the marker holds ``expected``."""
    record = read_marker(path)
    if record is None:
        return False
    try:
        stat = path.stat()
    except OSError:
        return False
    if record.get("size") != stat.st_size or record.get("mtime_ns") != stat.st_mtime_ns:
        return False
    return all(record.get(key) == value for key, value in expected.items())
