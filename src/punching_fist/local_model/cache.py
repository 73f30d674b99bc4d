"""Where the local model lives on disk.

The cache holds one joined GGUF file and one llama-server binary, each beside a marker that
records what was verified, so a start-up can trust a 1 GB file without hashing it again.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from punching_fist.local_model.manifest import QWEN_CODER_1_5B, WeightsArtifact

CACHE_DIR_ENV = "PF_CACHE_DIR"
MARKER_SUFFIX = ".verified.json"


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$PF_CACHE_DIR`` or ``~/.cache/punching-fist``; call at start-up, never at import."""
    env = os.environ if environ is None else environ
    configured = env.get(CACHE_DIR_ENV, "").strip()
    return Path(configured).expanduser() if configured else Path.home() / ".cache/punching-fist"


@dataclass(frozen=True, kw_only=True)
class LocalModelPaths:
    """Every path of the local-model cache, derived from its root."""

    root: Path
    weights: WeightsArtifact = QWEN_CODER_1_5B

    @classmethod
    def from_settings(
        cls, cache_dir: Path | None = None, *, environ: Mapping[str, str] | None = None
    ) -> LocalModelPaths:
        """Paths under ``cache_dir``, or under the default cache dir when it is ``None``."""
        root = cache_dir if cache_dir is not None else default_cache_dir(environ)
        return cls(root=root.expanduser().absolute())

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def model_file(self) -> Path:
        return self.models_dir / self.weights.filename

    @property
    def model_marker(self) -> Path:
        return marker_for(self.model_file)

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"

    @property
    def server_binary(self) -> Path:
        return self.bin_dir / "llama-server"

    @property
    def server_marker(self) -> Path:
        return marker_for(self.server_binary)


def marker_for(path: Path) -> Path:
    """The marker file that records how ``path`` was verified."""
    return path.with_name(path.name + MARKER_SUFFIX)
