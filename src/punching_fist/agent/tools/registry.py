"""Turning a step's ``tools`` entries into tool objects, checked before the agent starts.

A workflow names built-in tools (``kubectl``, ``promql``, ``curl``) or defines scripts
(entries with a ``command``). Everything that can be wrong with an entry is reported here,
naming the tool, so a typo fails the step at once instead of surfacing mid-investigation as
a tool the model cannot call. Operator-side choices (``PATH``, kubectl binary, per
service-account kubeconfigs) come from ``ToolSettings``, built once at start-up; the
workflow cannot change them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import httpx

from punching_fist.agent.tools.base import AgentTool
from punching_fist.agent.tools.curl import DESCRIPTION as CURL_DESCRIPTION
from punching_fist.agent.tools.curl import CurlTool
from punching_fist.agent.tools.kubectl import DESCRIPTION as KUBECTL_DESCRIPTION
from punching_fist.agent.tools.kubectl import KubectlTool
from punching_fist.agent.tools.process import DEFAULT_PATH
from punching_fist.agent.tools.promql import DESCRIPTION as PROMQL_DESCRIPTION
from punching_fist.agent.tools.promql import PromqlTool
from punching_fist.agent.tools.script import ScriptTool
from punching_fist.errors import ConfigurationError
from punching_fist.kube.credentials import KubeCredentials
from punching_fist.resources.suggest import did_you_mean
from punching_fist.resources.workflow import ToolSpec
from punching_fist.secret_refs import SecretResolver, is_reference
from punching_fist.spawner.client import StepSpawner

PROMETHEUS_URL_VARIABLE = "PROMETHEUS_URL"
# What the OpenAI, Anthropic and local chat APIs all accept as a function name.
_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, kw_only=True)
class ToolSettings:
    """The operator's side of tool configuration, fixed at start-up."""

    path: str = DEFAULT_PATH
    """``PATH`` of kubectl and script processes."""
    kube_credentials: KubeCredentials = field(default_factory=KubeCredentials)
    """How a step's ``serviceAccount`` becomes a kubeconfig (see ``kube_credentials``)."""
    kubectl_binary: str = "kubectl"
    kubectl_cache_dir: Path | None = None
    """kubectl's discovery cache; ``None`` means a private temporary directory."""
    spawner: StepSpawner | None = None
    """Starts tool processes outside the server; ``None``: as the server's children."""


@dataclass(frozen=True, kw_only=True)
class _Build:
    environment: Mapping[str, str]
    secrets: SecretResolver
    settings: ToolSettings


def build_tools(
    entries: Sequence[str | ToolSpec],
    *,
    environment: Mapping[str, str],
    secrets: SecretResolver,
    settings: ToolSettings | None = None,
) -> list[AgentTool]:
    """The tools for one agent step, in the order the workflow lists them.

    ``environment`` is the workflow's ``runtime.environment`` (its templates rendered);
    ``entries`` likewise have ``endpoint`` rendered. Raises ``ConfigurationError`` naming
    the tool for an unknown name, a duplicate, or a field the tool cannot use.
    """
    build = _Build(environment=environment, secrets=secrets, settings=settings or ToolSettings())
    tools: list[AgentTool] = []
    seen: set[str] = set()
    for entry in entries:
        spec = ToolSpec(name=entry) if isinstance(entry, str) else entry
        _check_common(spec, seen)
        builder = _BUILT_IN.get(spec.name)
        if builder is not None:
            tools.append(builder(spec, build))
        elif spec.command:
            tools.append(_script(spec, build))
        else:
            raise ConfigurationError(_not_built_in(spec.name))
    return tools


def entry_problems(entries: Sequence[str | ToolSpec]) -> list[tuple[int, str]]:
    """What ``build_tools`` would refuse, by entry index, found without building anything."""
    problems: list[tuple[int, str]] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        spec = ToolSpec(name=entry) if isinstance(entry, str) else entry
        try:
            _check_common(spec, seen)
        except ConfigurationError as exc:
            problems.append((index, str(exc)))
            continue
        if spec.name not in _BUILT_IN and not spec.command:
            problems.append((index, _not_built_in(spec.name)))
    return problems


def _not_built_in(name: str) -> str:
    return (
        f"tool {name!r} is not built in{did_you_mean(name, _BUILT_IN)} and has no command: the"
        f" built-in tools are {', '.join(_BUILT_IN)}; a script tool needs a `command`"
    )


def _check_common(spec: ToolSpec, seen: set[str]) -> None:
    if not _TOOL_NAME.fullmatch(spec.name):
        raise ConfigurationError(
            f"tool {spec.name!r}: names may hold only letters, digits, '_' and '-' (at most 64)"
        )
    if spec.name in seen:
        raise ConfigurationError(f"tool {spec.name!r} is listed twice")
    seen.add(spec.name)
    if spec.name in _BUILT_IN and spec.command:
        raise ConfigurationError(
            f"tool {spec.name!r} is built in and cannot have a command; name the script differently"
        )
    if spec.allowed_hosts and spec.name != "curl":
        raise ConfigurationError(f"tool {spec.name!r}: allowedHosts applies only to curl")
    if spec.token_secret_ref and spec.name != "promql":
        raise ConfigurationError(f"tool {spec.name!r}: tokenSecretRef applies only to promql")


def _kubectl(spec: ToolSpec, build: _Build) -> AgentTool:
    settings = build.settings
    return KubectlTool(
        secrets=build.secrets,
        credentials=settings.kube_credentials,
        description=_described(KUBECTL_DESCRIPTION, spec),
        binary=settings.kubectl_binary,
        path=settings.path,
        cache_dir=settings.kubectl_cache_dir,
        spawner=settings.spawner,
    )


def _promql(spec: ToolSpec, build: _Build) -> AgentTool:
    endpoint = spec.endpoint or build.environment.get(PROMETHEUS_URL_VARIABLE)
    if not endpoint:
        raise ConfigurationError(
            f"tool 'promql' has no endpoint: set `endpoint` on the tool or"
            f" {PROMETHEUS_URL_VARIABLE} in runtime.environment"
        )
    if "{{" in endpoint:
        raise ConfigurationError(f"tool 'promql': endpoint {endpoint!r} is an unrendered template")
    try:
        scheme = httpx.URL(endpoint).scheme
    except httpx.InvalidURL as exc:
        raise ConfigurationError(f"tool 'promql': endpoint {endpoint!r}: {exc}") from exc
    if scheme not in ("http", "https"):
        raise ConfigurationError(f"tool 'promql': endpoint {endpoint!r} is not an http(s) URL")
    if spec.token_secret_ref and not is_reference(spec.token_secret_ref):
        # Never echo it: a literal here is most likely the token itself.
        raise ConfigurationError(
            "tool 'promql': tokenSecretRef must be a secret reference such as env://NAME"
        )
    return PromqlTool(
        endpoint=endpoint,
        secrets=build.secrets,
        token_secret_ref=spec.token_secret_ref,
        description=_described(PROMQL_DESCRIPTION, spec),
    )


def _curl(spec: ToolSpec, build: _Build) -> AgentTool:
    return CurlTool(
        allowed_hosts=spec.allowed_hosts,
        secrets=build.secrets,
        description=_described(CURL_DESCRIPTION, spec),
    )


def _script(spec: ToolSpec, build: _Build) -> AgentTool:
    assert spec.command is not None  # the caller checked
    return ScriptTool(
        name=spec.name,
        command=spec.command,
        secrets=build.secrets,
        environment=build.environment,
        description=spec.description,
        path=build.settings.path,
        credentials=build.settings.kube_credentials,
        spawner=build.settings.spawner,
    )


def _described(built_in: str, spec: ToolSpec) -> str:
    """Our description (it says when to use the tool) plus any note from the workflow.

    The workflow's text is added, not substituted: a generic line such as "Kubernetes
    command line tool" would otherwise replace the usage hints small models rely on, while
    a specific note ("metrics here are prefixed shop_") is worth its few tokens.
    """
    note = (spec.description or "").strip()
    return f"{built_in} {note}" if note else built_in


_BUILT_IN: Mapping[str, Callable[[ToolSpec, _Build], AgentTool]] = MappingProxyType(
    {"kubectl": _kubectl, "promql": _promql, "curl": _curl}
)
