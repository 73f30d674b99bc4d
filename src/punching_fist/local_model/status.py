"""What of the local model is installed, and where; answered from markers, without hashing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from punching_fist.local_model.builder import server_facts
from punching_fist.local_model.cache import LocalModelPaths
from punching_fist.local_model.errors import ModelNotInstalled
from punching_fist.local_model.integrity import marker_matches
from punching_fist.local_model.manifest import LLAMA_SERVER, RuntimeArtifact


@dataclass(frozen=True, kw_only=True)
class ComponentStatus:
    """One installed thing: whether it is there and verified."""

    name: str
    path: Path
    installed: bool
    """Present and matching its marker: usable without further checks."""
    detail: str
    size: int | None = None


@dataclass(frozen=True, kw_only=True)
class LocalModelStatus:
    """The state of the whole cache."""

    root: Path
    weights: ComponentStatus
    server: ComponentStatus

    @property
    def ready(self) -> bool:
        """Whether llama-server can be started with the model right now."""
        return self.weights.installed and self.server.installed


def weights_verified(paths: LocalModelPaths) -> bool:
    """The model file is present and unchanged since its sha256 was verified."""
    return marker_matches(paths.model_file, {"sha256": paths.weights.digest.sha256})


def server_verified(paths: LocalModelPaths, artifact: RuntimeArtifact = LLAMA_SERVER) -> bool:
    """The binary is present, unchanged, and was built from ``artifact`` on this CPU."""
    return marker_matches(paths.server_binary, server_facts(artifact))


def inspect_cache(
    paths: LocalModelPaths, artifact: RuntimeArtifact = LLAMA_SERVER
) -> LocalModelStatus:
    """The state of the cache at ``paths``."""
    return LocalModelStatus(
        root=paths.root,
        weights=_component("model", paths.model_file, weights_verified(paths)),
        server=_component(
            f"llama-server ({artifact.sdist_package} {artifact.version})",
            paths.server_binary,
            server_verified(paths, artifact),
        ),
    )


def require_ready(paths: LocalModelPaths) -> LocalModelStatus:
    """The cache's status, or :class:`ModelNotInstalled` naming what is missing."""
    status = inspect_cache(paths)
    if not status.ready:
        missing = [c.name for c in (status.weights, status.server) if not c.installed]
        raise ModelNotInstalled(
            f"{', '.join(missing)} not installed in {paths.root}; run `punching-fist model install`"
        )
    return status


def _component(name: str, path: Path, verified: bool) -> ComponentStatus:
    if verified:
        return ComponentStatus(
            name=name, path=path, installed=True, detail="verified", size=path.stat().st_size
        )
    detail = "present, not verified" if path.exists() else "missing"
    return ComponentStatus(name=name, path=path, installed=False, detail=detail)
