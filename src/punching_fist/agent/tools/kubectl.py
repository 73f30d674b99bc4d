"""The ``kubectl`` tool: one command line from the model, run by the real kubectl binary.

The model writes the command as one string (``get pods -n shop``), which small models get
right far more often than a structured schema. ``kubectl_policy`` decides whether it may run;
this module turns that decision into a ``SafetyCheck`` with a risk level, and runs allowed
(or approved) commands with:

* the argv the policy parsed (never a shell), so what ran is exactly what was judged;
* an environment built from nothing: ``PATH``, the step's credentials (see
  ``punching_fist.kube.credentials``), ``KUBERC=off`` (no user aliases that could rename a
  verb), and a private cache directory; the operator's own variables, ``KUBE_EDITOR`` and
  ``KUBECTL_EXTERNAL_DIFF`` included, never reach the child;
* the step's time limit, after which the process group is killed.
"""

from __future__ import annotations

import functools
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from punching_fist.agent.tools.base import SafetyCheck, ToolContext, ToolOutput, parse_arguments
from punching_fist.agent.tools.kubectl_policy import (
    KubectlDecision,
    classify_kubectl,
    kubectl_argv,
)
from punching_fist.agent.tools.kubectl_repair import Repair, repair
from punching_fist.agent.tools.process import DEFAULT_PATH
from punching_fist.agent.tools.redaction import run_tool_process
from punching_fist.kube.credentials import KubeCredentials
from punching_fist.secret_refs import SecretResolver
from punching_fist.spawner.client import StepSpawner

DESCRIPTION = (
    "Run one kubectl command against the cluster and read its output. Use it first to see"
    " the state of pods, deployments, services and events (get, describe, logs, events,"
    " top). Commands that change the cluster (delete, scale, patch, rollout restart) wait"
    " for a person's approval."
)

# Verbs needing approval are high risk (deletes, drains, exec, plugins...) unless milder:
_MEDIUM_RISK = frozenset({"label", "annotate", "create", "expose", "autoscale", "uncordon"})
# Reads that need approval only for an unknown flag or a file argument.
_READ_VERBS = frozenset({
    "get", "describe", "logs", "events", "explain", "api-resources", "api-versions",
    "version", "wait", "cluster-info", "top", "auth can-i", "auth whoami",
})  # fmt: skip
_READ_PATHS = frozenset({"rollout status", "rollout history"})


class KubectlArguments(BaseModel):
    """What the model passes: the command line, without pipes."""

    command: str = Field(
        description="One kubectl command without pipes, e.g. `get pods -n shop` or"
        " `describe pod web-0 -n shop`; the leading `kubectl` is optional."
    )

    @field_validator("command", mode="after")
    @classmethod
    def _one_spelling(cls, command: str) -> str:
        """One spelling per command, so a repeat of an earlier call is recognised as one."""
        return without_kubectl(command)


def without_kubectl(command: str) -> str:
    """``command`` stripped, without a leading ``kubectl`` word."""
    words = command.strip()
    return words[len("kubectl") :].lstrip() if words.startswith("kubectl ") else words


class KubectlTool:
    """Runs the kubectl binary for the agent, within the kubectl safety policy."""

    name = "kubectl"
    arguments: type[BaseModel] = KubectlArguments
    read_only = True
    """Every call ``check`` allows only reads; writes are gated by ``check`` itself."""

    def __init__(
        self,
        *,
        secrets: SecretResolver,
        credentials: KubeCredentials | None = None,
        description: str | None = None,
        binary: str = "kubectl",
        path: str = DEFAULT_PATH,
        cache_dir: Path | None = None,
        spawner: StepSpawner | None = None,
    ) -> None:
        """``path`` is the child's ``PATH`` (also where ``binary`` is looked up).

        ``cache_dir`` keeps kubectl's discovery cache; by default a private temporary
        directory, made on first use, so kubectl never writes into the operator's home.
        ``spawner`` starts kubectl outside the server (see ``punching_fist.spawner``).
        """
        self.description = description or DESCRIPTION
        self._secrets = secrets
        self._credentials = credentials or KubeCredentials()
        self._binary = binary
        self._path = path
        self._cache_dir = cache_dir
        self._spawner = spawner

    def check(self, arguments: BaseModel, context: ToolContext) -> SafetyCheck:
        """The policy's verdict with a risk level for the person asked to approve."""
        decision, _ = self._decide(arguments, context)
        return SafetyCheck(verdict=decision.kind, reason=decision.reason, risk=_risk(decision))

    async def call(self, arguments: BaseModel, context: ToolContext) -> ToolOutput:
        """Run the command; ``CommandRejected`` if refused, or if it needs approval and
        ``context.approved`` is not set; ``MissingCredentials`` if the step has none."""
        command = parse_arguments(KubectlArguments, arguments).command
        fixed = repair(command)
        decision = _classify(
            fixed.command if fixed else command, tuple(context.require_approval_for)
        )
        argv = kubectl_argv(decision, approved=context.approved)
        env = {
            "PATH": self._path,
            "KUBERC": "off",
            "KUBECACHEDIR": str(self._cache()),
            **self._credentials.agent_environment(
                step=context.step_name,
                service_account=context.service_account,
                kubeconfig=context.kubeconfig,
            ),
        }
        output = await run_tool_process(
            [self._binary, *argv],
            env=env,
            context=context,
            secrets=self._secrets,
            details={
                "argv": ["kubectl", *argv],
                "verb": decision.verb,
                "ran_with_approval": decision.kind == "approval",
            },
            spawner=self._spawner,
        )
        if fixed is not None:
            output = replace(output, text=f"{fixed.note}\n{output.text}")
        return output

    def _decide(
        self, arguments: BaseModel, context: ToolContext
    ) -> tuple[KubectlDecision, Repair | None]:
        """The policy's decision on the command as it will run (repaired, if it needed it)."""
        command = parse_arguments(KubectlArguments, arguments).command
        fixed = repair(command)
        rules = tuple(context.require_approval_for)
        return _classify(fixed.command if fixed else command, rules), fixed

    def _cache(self) -> Path:
        if self._cache_dir is None:
            self._cache_dir = Path(tempfile.mkdtemp(prefix="punching-fist-kubectl-"))
        return self._cache_dir


@functools.lru_cache(maxsize=1024)
def _classify(command: str, require_approval_for: tuple[str, ...]) -> KubectlDecision:
    # ``check`` and ``call`` both decide every command (``call`` re-checks so a forgotten
    # check fails closed), and an alert storm repeats the same commands: the policy is a
    # pure function of these two values and its decision is immutable, so decide once.
    return classify_kubectl(command, require_approval_for=require_approval_for)


def _risk(decision: KubectlDecision) -> Literal["low", "medium", "high"]:
    if decision.kind == "allow":
        return "low"
    if decision.kind == "refuse":
        return "high"
    first = decision.verb.split(" ", 1)[0]
    if decision.verb in _READ_PATHS or decision.verb in _READ_VERBS or first in _READ_VERBS:
        return "low"
    if first in _MEDIUM_RISK:
        return "medium"
    return "high"
