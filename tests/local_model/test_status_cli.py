"""Cache layout, status and the ``model`` CLI, on caches laid out by the test."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from punching_fist.local_model.builder import server_facts
from punching_fist.local_model.cache import LocalModelPaths, default_cache_dir
from punching_fist.local_model.cli import model_app
from punching_fist.local_model.errors import ModelNotInstalled
from punching_fist.local_model.integrity import write_marker
from punching_fist.local_model.manifest import LLAMA_SERVER
from punching_fist.local_model.status import inspect_cache, require_ready


def test_cache_dir_comes_from_environment_or_home(tmp_path: Path) -> None:
    assert default_cache_dir({"PF_CACHE_DIR": str(tmp_path)}) == tmp_path
    assert default_cache_dir({}) == Path.home() / ".cache/punching-fist"
    assert default_cache_dir({"PF_CACHE_DIR": "  "}) == Path.home() / ".cache/punching-fist"


def test_layout(tmp_path: Path) -> None:
    paths = LocalModelPaths.from_settings(tmp_path)
    assert paths.model_file == tmp_path / "models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    assert paths.server_binary == tmp_path / "bin/llama-server"
    assert paths.model_marker.name.endswith(".gguf.verified.json")


def fake_installed(paths: LocalModelPaths) -> None:
    """Files with markers that claim verification, as a finished install leaves them."""
    paths.models_dir.mkdir(parents=True)
    paths.model_file.write_bytes(b"weights")
    write_marker(paths.model_file, paths.weights.digest.sha256)
    paths.bin_dir.mkdir(parents=True)
    paths.server_binary.write_bytes(b"binary")
    write_marker(paths.server_binary, "0" * 64, server_facts(LLAMA_SERVER))


def test_empty_cache_is_not_ready(tmp_path: Path) -> None:
    paths = LocalModelPaths.from_settings(tmp_path)
    status = inspect_cache(paths)
    assert not status.ready
    assert status.weights.detail == "missing"
    with pytest.raises(ModelNotInstalled, match="punching-fist model install"):
        require_ready(paths)


def test_installed_cache_is_ready(tmp_path: Path) -> None:
    paths = LocalModelPaths.from_settings(tmp_path)
    fake_installed(paths)
    status = require_ready(paths)
    assert status.weights.size == len(b"weights")


def test_binary_built_for_another_cpu_is_not_ready(tmp_path: Path) -> None:
    paths = LocalModelPaths.from_settings(tmp_path)
    fake_installed(paths)
    write_marker(paths.server_binary, "0" * 64, {**server_facts(LLAMA_SERVER), "host": "other"})
    status = inspect_cache(paths)
    assert status.weights.installed
    assert not status.server.installed
    assert status.server.detail == "present, not verified"


def test_status_command_exit_code_follows_readiness(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(model_app, ["status", "--cache-dir", str(tmp_path)])
    assert missing.exit_code == 1
    assert "missing" in missing.output

    fake_installed(LocalModelPaths.from_settings(tmp_path))
    ready = runner.invoke(model_app, ["status", "--cache-dir", str(tmp_path)])
    assert ready.exit_code == 0, ready.output
    assert "verified" in ready.output
