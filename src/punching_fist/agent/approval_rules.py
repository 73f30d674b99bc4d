"""Which approval rule applies to a write an agent wants to make (``spec.approvalRules``).

A rule (``resources/approval.py``) names namespaces, resource kinds and alert severities.
What a kubectl command touches is read from the command as kubectl reads it
(``kubectl_argv``): ``-n``/``-A``, ``TYPE NAME`` or ``TYPE/NAME``, a namespace deleted by
name. Where the command does not say (no ``-n``: the kubeconfig's namespace; ``-f``: kinds
in a file; a script: anything), a condition is *unknown*, and two questions get different
answers on purpose:

* how many people must approve: a rule that may apply counts (when in doubt, stricter);
* whether a read-only step (no ``approvalRequired``) may ask at all instead of refusing:
  only a rule that certainly applies opens that door, so an unknown namespace cannot turn a
  refusal into a question.

Several rules applying: the one asking for the most approvers is shown; Workflow rules come
before the OperatorConfig's on a tie.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Literal

from pydantic import BaseModel

from punching_fist.agent.tools.kubectl_argv import parse_command_line, split_command
from punching_fist.errors import CommandRejected
from punching_fist.resources.approval import ApprovalRule
from punching_fist.resources.findings import Finding, warning
from punching_fist.resources.operator_config import OperatorConfig
from punching_fist.resources.suggest import did_you_mean
from punching_fist.resources.workflow import Workflow

Match = Literal["yes", "maybe", "no"]

_KINDS = (
    ("pod", "pods", "po"), ("service", "services", "svc"), ("deployment", "deployments", "deploy"),
    ("replicaset", "replicasets", "rs"), ("statefulset", "statefulsets", "sts"),
    ("daemonset", "daemonsets", "ds"), ("job", "jobs"), ("cronjob", "cronjobs", "cj"),
    ("configmap", "configmaps", "cm"), ("secret", "secrets"), ("namespace", "namespaces", "ns"),
    ("node", "nodes", "no"), ("persistentvolumeclaim", "persistentvolumeclaims", "pvc"),
    ("persistentvolume", "persistentvolumes", "pv"), ("ingress", "ingresses", "ing"),
    ("serviceaccount", "serviceaccounts", "sa"), ("role", "roles"),
    ("rolebinding", "rolebindings"), ("clusterrole", "clusterroles"),
    ("clusterrolebinding", "clusterrolebindings"),
    ("horizontalpodautoscaler", "horizontalpodautoscalers", "hpa"),
    ("poddisruptionbudget", "poddisruptionbudgets", "pdb"),
    ("networkpolicy", "networkpolicies", "netpol"), ("endpoints", "ep"),
    ("endpointslice", "endpointslices"), ("event", "events", "ev"),
    ("replicationcontroller", "replicationcontrollers", "rc"),
    ("storageclass", "storageclasses", "sc"), ("limitrange", "limitranges", "limits"),
    ("resourcequota", "resourcequotas", "quota"),
    ("customresourcedefinition", "customresourcedefinitions", "crd", "crds"),
    ("priorityclass", "priorityclasses", "pc"), ("lease", "leases"),
)  # fmt: skip
_ALIASES = {alias: names[0] for names in _KINDS for alias in names}
KNOWN_KINDS = frozenset(names[0] for names in _KINDS)
"""Built-in kinds (kubectl's singular names); a rule may name others (custom resources)."""

# Commands whose target is implied when no TYPE/NAME is given.
_IMPLIED = {
    **dict.fromkeys(("run", "exec", "attach", "cp", "port-forward", "debug", "logs"), "pod"),
    **dict.fromkeys(("cordon", "uncordon", "drain"), "node"),
}
_FROM_FILES = frozenset({"filename", "kustomize", "f", "k", "recursive", "R"})


def canonical_kind(word: str) -> str:
    """``deploy``, ``Deployments``, ``deployments.apps`` → ``deployment``."""
    word = word.strip().lower().split(".", 1)[0]
    if word in _ALIASES:
        return _ALIASES[word]
    for plural, singular in (("ies", "y"), ("sses", "ss"), ("s", "")):
        if word.endswith(plural) and len(word) > len(plural) + 1:
            return word[: -len(plural)] + singular
    return word


@dataclass(frozen=True, kw_only=True)
class Target:
    """What a write touches, as far as it says; empty means the command does not say."""

    namespaces: tuple[str, ...] = ()
    all_namespaces: bool = False
    kinds: tuple[str, ...] = ()


def kubectl_target(command: str) -> Target:
    """The namespaces and kinds a kubectl command line touches."""
    try:
        line = parse_command_line(split_command(command))
    except CommandRejected:
        return Target()
    every = line.has("all-namespaces") or line.has("A")
    if any(line.has(flag) for flag in _FROM_FILES):  # the objects are in files we do not read
        return Target(namespaces=line.values("namespace"), all_namespaces=every)
    args = line.args[1:] if line.path == ("set",) else line.args  # `set image TYPE/NAME`
    kinds, names = _kinds_and_names(line.path[0], args)
    namespaces = line.values("namespace")
    if kinds == ("namespace",) and names:
        namespaces = names  # deleting or labelling a namespace touches that namespace
    return Target(namespaces=namespaces, all_namespaces=every, kinds=kinds)


def _kinds_and_names(verb: str, args: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    slashed = [arg.split("/", 1) for arg in args if "/" in arg and verb != "cp"]
    if slashed:
        return (
            tuple(canonical_kind(kind) for kind, _ in slashed),
            tuple(name for _, name in slashed),
        )
    if verb in _IMPLIED:
        return (_IMPLIED[verb],), ()
    if not args:
        return (), ()
    return tuple(canonical_kind(k) for k in args[0].split(",") if k), tuple(args[1:])


@dataclass(frozen=True, kw_only=True)
class AppliedRule:
    """The rule an approval request is held by, as the person deciding is shown it."""

    name: str
    origin: str
    """Where it is written: ``Workflow/NAME`` or ``OperatorConfig/NAME``."""
    approvers: int

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "origin": self.origin, "approvers": self.approvers}


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """The rules' say on one write."""

    rule: AppliedRule | None
    """The rule that may apply and asks for the most approvers; None when none may apply."""
    certain: bool
    """Some rule applies for certain (every condition it sets is known and met)."""


class ApprovalGate:
    """The approval rules of one agent step, with the severity of the alert it works on."""

    def __init__(self, rules: Sequence[tuple[str, ApprovalRule]], severity: str | None) -> None:
        self._rules = list(rules)
        self._severity = severity.lower() if severity else None

    @classmethod
    def for_step(
        cls,
        workflow: Workflow,
        operator_config: OperatorConfig | None,
        context: Mapping[str, Any],
    ) -> ApprovalGate:
        """The workflow's rules, then the OperatorConfig's, for a run with this context."""
        rules = [(f"Workflow/{workflow.metadata.name}", r) for r in workflow.spec.approval_rules]
        if operator_config is not None:
            origin = f"OperatorConfig/{operator_config.metadata.name}"
            rules += [(origin, r) for r in operator_config.spec.approval_rules]
        return cls(rules, _severity(context))

    @property
    def opens_writes(self) -> bool:
        """Whether some write may wait for approval even in a read-only step."""
        return bool(self._rules)

    def judge(self, tool: str, arguments: BaseModel) -> Verdict:
        """Which rule applies to a call that needs approval (``tool``, its ``arguments``)."""
        command = getattr(arguments, "command", None)
        target = Target()
        if tool == "kubectl" and isinstance(command, str):
            target = kubectl_target(command)
        strongest: tuple[str, ApprovalRule] | None = None
        certain = False
        for origin, rule in self._rules:
            match = self._match(rule, target)
            if match == "no":
                continue
            certain = certain or match == "yes"
            if strongest is None or rule.approvers > strongest[1].approvers:
                strongest = (origin, rule)
        if strongest is None:
            return Verdict(rule=None, certain=False)
        origin, rule = strongest
        return Verdict(
            rule=AppliedRule(name=rule.name, origin=origin, approvers=rule.approvers),
            certain=certain,
        )

    def _match(self, rule: ApprovalRule, target: Target) -> Match:
        matches: list[Match] = []
        if rule.namespaces:
            if target.all_namespaces:
                matches.append("yes")
            elif not target.namespaces:
                matches.append("maybe")
            else:
                covered = any(_covers(rule.namespaces, ns) for ns in target.namespaces)
                matches.append("yes" if covered else "no")
        if rule.kinds:
            wanted = {canonical_kind(kind) for kind in rule.kinds}
            if any(kind in wanted for kind in target.kinds):
                matches.append("yes")
            elif not target.kinds or any(kind not in KNOWN_KINDS for kind in target.kinds):
                matches.append("maybe")  # an unknown word may be a misread flag value
            else:
                matches.append("no")
        if rule.severities:
            if self._severity is None:
                matches.append("maybe")
            else:
                wanted = {severity.lower() for severity in rule.severities}
                matches.append("yes" if self._severity in wanted else "no")
        if "no" in matches:
            return "no"
        return "maybe" if "maybe" in matches else "yes"


def _covers(patterns: Iterable[str], namespace: str) -> bool:
    return any(fnmatchcase(namespace, pattern) for pattern in patterns)


def _severity(context: Mapping[str, Any]) -> str | None:
    """The ``severity`` label of the alert the run started from (``.source.data.alert``)."""
    source = context.get("source")
    data = source.get("data") if isinstance(source, Mapping) else None
    alert = data.get("alert") if isinstance(data, Mapping) else None
    if not isinstance(alert, Mapping):
        return None
    labels = alert.get("labels")
    value = labels.get("severity") if isinstance(labels, Mapping) else None
    value = value or alert.get("severity")
    return str(value) if value else None


def rule_findings(kind: str, name: str, rules: Sequence[ApprovalRule]) -> list[Finding]:
    """Rules naming a kind kubectl does not have built in: most likely a typo."""
    findings = []
    for index, rule in enumerate(rules):
        for position, word in enumerate(rule.kinds):
            if canonical_kind(word) not in KNOWN_KINDS:
                hint = did_you_mean(canonical_kind(word), KNOWN_KINDS)
                findings.append(
                    warning(
                        kind,
                        name,
                        f"spec.approvalRules[{index}].kinds[{position}]",
                        f"{word!r} is not a built-in kind{hint}; the rule matches it only as"
                        " written (right for a custom resource)",
                        reason="UnknownKind",
                    )
                )
    return findings
