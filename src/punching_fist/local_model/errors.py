"""Errors of the local model: where each sits in the project's hierarchy.

::

    ConfigurationError
    ├── ModelNotInstalled       run ``punching-fist model install`` first
    └── ToolchainMissing        cmake / a C++ compiler are needed to build llama-server
    RuntimeFailure
    ├── InstallFailed           a step of the install failed (pip, cmake, disk)
    │   ├── MissingPart         a weight part was not where the package should put it
    │   └── IntegrityError      joined or downloaded bytes do not match the pinned hash
    └── ServerFailed            llama-server would not start, or keeps dying
"""

from __future__ import annotations

from punching_fist.errors import ConfigurationError, RuntimeFailure


class ModelNotInstalled(ConfigurationError):
    """The weights or the server binary are not in the cache; the user must install them."""


class ToolchainMissing(ConfigurationError):
    """Building llama-server needs tools this machine lacks."""


class InstallFailed(RuntimeFailure):
    """A step of installing the local model failed."""


class MissingPart(InstallFailed):
    """A weight part is missing, so the parts cannot be joined."""


class IntegrityError(InstallFailed):
    """Bytes do not match the pinned size or sha256; they were not kept."""

    def __init__(self, what: str, *, expected: str, actual: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(f"{what}: expected {expected}, got {actual}; refusing to use it")


class ServerFailed(RuntimeFailure):
    """llama-server did not become healthy, or died more often than allowed."""
