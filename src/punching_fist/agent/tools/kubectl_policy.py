"""Whether a kubectl command from the LLM may run on its own, needs a person, or never runs.

The model writes one command line; ``classify_kubectl`` reads it the way kubectl would (see
``kubectl_argv.py``) and returns a ``KubectlDecision``:

* **refuse** - never runs, whoever approves: unparseable input, shell operators,
  credential/impersonation flags (the agent runs as its step's service account), flags that
  write files on the operator's host or weaken TLS, ``config view --raw``, anything that
  would print Secret values, and reads with a flag kubectl does not have (answered with
  kubectl's own error and a hint: a slip a person need not see).
* **approval** - a person must approve: everything not known to be read-only (writes,
  ``exec``/``port-forward``-style access, plugins, typos), opaque commands with a flag the
  policy does not know, reads that fetch objects named in a file or URL (``-f``/``-k``),
  API-server proxy paths through ``get --raw``, and verbs the workflow lists in
  ``rigConfig.safety.requireApproval``.
* **allow** - read-only commands whose every word the policy understood.

``describe secret`` is allowed: kubectl prints only the size of each key, never a value.

When unsure, the policy leans one step stricter; a refusal says what to write instead, so
a small model can correct itself on the next turn.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

from punching_fist.agent.tools.kubectl_argv import (
    CommandLine,
    parse_command_line,
    split_command,
)
from punching_fist.errors import CommandRejected

DecisionKind = Literal["allow", "approval", "refuse"]


@dataclass(frozen=True)
class KubectlDecision:
    """The policy's answer for one command; ``argv`` is what would run (without ``kubectl``)."""

    kind: DecisionKind
    verb: str
    """The command path, e.g. ``"get"`` or ``"rollout restart"``; empty if unreadable."""
    reason: str
    """Why, in words meant for both the model and the person asked to approve."""
    argv: tuple[str, ...]


_READ_ONLY = frozenset(
    tuple(path.split())
    for path in (
        "get", "describe", "logs", "events", "explain", "api-resources", "api-versions",
        "version", "wait", "cluster-info", "cluster-info dump", "top pod", "top node",
        "auth can-i", "auth whoami", "rollout status", "rollout history", "config view",
        "config get-contexts", "config current-context", "config get-clusters",
        "config get-users",
    )
)  # fmt: skip
# Reads that print whole objects in the format asked for, so they can print a Secret.
_PRINTS_OBJECTS = frozenset({("get",), ("wait",)})
_OPENS_ACCESS = frozenset({"exec", "attach", "cp", "debug", "port-forward", "proxy"})
_SHELL_OPERATORS = frozenset({"|", ";", "&&", "||", ">", "<", ">>", "&", "2>", "2>&1", "|&"})

_CREDENTIAL_FLAGS = frozenset({
    "as", "as-group", "as-uid", "token", "kubeconfig", "server", "user", "context", "cluster",
    "username", "password", "client-key", "client-certificate", "certificate-authority",
    "insecure-skip-tls-verify", "tls-server-name",
})  # fmt: skip
_CREDENTIAL_SHORTHANDS = frozenset({"s"})  # -s is --server
_REFUSED_FLAGS = {
    **dict.fromkeys(
        _CREDENTIAL_FLAGS,
        "the agent runs with its step's service account; credential and impersonation flags"
        " are not allowed",
    ),
    **dict.fromkeys(
        ("cache-dir", "profile", "profile-output", "log-dir", "log-file", "output-directory"),
        "flags that write files on the operator's host are not allowed",
    ),
    "kuberc": "kubectl preferences and aliases come from the operator, not the command",
    "insecure-skip-tls-verify-backend": "skipping TLS verification is not allowed",
}
_SECRET_KINDS = frozenset({"secret", "secrets"})
_TABLE_OUTPUTS = frozenset({"", "wide", "name"})  # formats that never print field values
_TEMPLATE_FLAGS = ("output", "template", "sort-by")
# `data` as a whole identifier (`.data`, `['data']`, `client-key-data`), but not `metadata`.
_DATA_FIELD = re.compile(r"(?<![A-Za-z0-9_])data(?![A-Za-z0-9_])|stringdata", re.IGNORECASE)
_NO_SECRETS = (
    "Secret values must not reach the agent; use `get secrets` (table, -o wide or -o name)"
    " or `describe secret NAME`, which shows only sizes"
)


def classify_kubectl(
    command: str, *, require_approval_for: Collection[str] = ()
) -> KubectlDecision:
    """Classify the model's kubectl command; never raises.

    ``require_approval_for`` is the workflow's ``rigConfig.safety.requireApproval``: verbs
    (``delete``) or command paths (``rollout restart``) that always need a person.
    """
    try:
        argv = split_command(command)
    except CommandRejected as exc:
        return KubectlDecision("refuse", "", str(exc), ())
    if any(word in _SHELL_OPERATORS for word in argv):
        message = "pipes and redirections are not supported; run one kubectl command"
        return KubectlDecision("refuse", "", message, argv)
    try:
        line = parse_command_line(argv)
    except CommandRejected as exc:
        return KubectlDecision("refuse", "", str(exc), argv)
    verb = " ".join(line.path)
    if reason := _first(_REFUSALS, line, argv):
        return KubectlDecision("refuse", verb, reason, argv)
    if reason := _first(_APPROVALS, line, argv) or _required_by_workflow(
        line, require_approval_for
    ):
        return KubectlDecision("approval", verb, reason, argv)
    return KubectlDecision("allow", verb, "read-only command", argv)


def kubectl_argv(decision: KubectlDecision, *, approved: bool = False) -> list[str]:
    """The argv to hand to the kubectl binary; the tool adds its trusted ``--kubeconfig`` itself.

    Raises ``CommandRejected`` for a refusal, and for an approval decision unless the caller
    says a person approved it, so a forgotten approval check fails closed.
    """
    if decision.kind == "refuse":
        raise CommandRejected(decision.reason)
    if decision.kind == "approval" and not approved:
        raise CommandRejected(f"`{decision.verb}` needs a person's approval: {decision.reason}")
    return list(decision.argv)


_Rule = Callable[[CommandLine, tuple[str, ...]], str | None]


def _first(rules: Iterable[_Rule], line: CommandLine, argv: tuple[str, ...]) -> str | None:
    return next((reason for rule in rules if (reason := rule(line, argv))), None)


def _refused_flag(line: CommandLine, argv: tuple[str, ...]) -> str | None:
    for flag in line.flags:
        if flag.name in _REFUSED_FLAGS:
            return f"{flag.word}: {_REFUSED_FLAGS[flag.name]}"
    # Also any word spelled like a credential flag, even where kubectl would read it as
    # another flag's value: a wrong arity in our tables must not let one through.
    for word in argv[: argv.index("--")] if "--" in argv else argv:
        if word.startswith("--"):
            spelled = word[2:].partition("=")[0].replace("_", "-")
        elif word.startswith("-"):
            spelled = word[1:2]
        else:
            continue
        if spelled in _CREDENTIAL_FLAGS or spelled in _CREDENTIAL_SHORTHANDS:
            return f"{word}: {_REFUSED_FLAGS['token']}"
    return None


def _raw_kubeconfig(line: CommandLine, argv: tuple[str, ...]) -> str | None:
    if line.path == ("config", "view") and line.has("raw"):
        return "`config view --raw` prints credentials; use `config view` (values redacted)"
    return None


def _raw_secret_path(line: CommandLine, argv: tuple[str, ...]) -> str | None:
    if any("secret" in _decoded(path) for path in line.values("raw")):
        return f"`get --raw` on a secrets path: {_NO_SECRETS}"
    return None


def _template_reads_data(line: CommandLine, argv: tuple[str, ...]) -> str | None:
    names = (*_TEMPLATE_FLAGS, "for") if line.path == ("wait",) else _TEMPLATE_FLAGS
    for name in names:
        for value in line.values(name):
            if _DATA_FIELD.search(value):
                return f"templates that read `data` or `stringData` are not allowed: {_NO_SECRETS}"
    return None


def _prints_secrets(line: CommandLine, argv: tuple[str, ...]) -> str | None:
    if line.modelled and line.path not in _PRINTS_OBJECTS:
        return None
    prints_values = line.has("template") or any(
        value not in _TABLE_OUTPUTS for value in line.values("output")
    )
    if not prints_values:
        return None
    words = line.args
    if not line.modelled:  # opaque: an unknown flag's value may name a resource (--from=secret/x)
        words += tuple(f.value for f in line.flags if not f.known and f.value is not None)
    if any(_names_secrets(word) for word in words):
        return _NO_SECRETS
    if line.modelled and (line.has("filename") or line.has("kustomize")):
        return f"objects read from a file or kustomization may be Secrets: {_NO_SECRETS}"
    return None


_FLAG_HINTS = {
    "events": "events are read with `get events -n NAMESPACE` or shown by `describe`",
    "logs": "logs are read with `logs POD -n NAMESPACE`",
}


def _unknown_flag_on_read(line: CommandLine, argv: tuple[str, ...]) -> str | None:
    """A read with a flag kubectl does not have is a model's slip, not a change to approve:
    kubectl would refuse it too, so the model gets kubectl's error and a hint, no person."""
    if not (line.builtin and line.modelled and line.path in _READ_ONLY):
        return None
    unknown = next((flag for flag in line.flags if not flag.known), None)
    if unknown is None:
        return None
    verb = " ".join(line.path)
    hint = _FLAG_HINTS.get(unknown.name, f"run `{verb}` without it")
    return f"error: unknown flag: {unknown.word} (kubectl {verb} has no such flag; {hint})"


_REFUSALS: tuple[_Rule, ...] = (
    _refused_flag,
    _raw_kubeconfig,
    _raw_secret_path,
    _template_reads_data,
    _prints_secrets,
    _unknown_flag_on_read,
)


def _not_read_only(line: CommandLine, argv: tuple[str, ...]) -> str | None:
    verb = " ".join(line.path)
    if line.builtin and line.path in _READ_ONLY:
        return None
    if line.path[0] in _OPENS_ACCESS:
        return f"`{verb}` opens access to workloads or the API server; a person must approve it"
    if line.builtin:
        return f"`{verb}` is not read-only; a person must approve it"
    return (
        f"`{verb}` is not a kubectl command known to be read-only (a plugin, a typo, or a"
        " missing subcommand?); a person must approve it"
    )


def _unknown_flag(line: CommandLine, argv: tuple[str, ...]) -> str | None:
    if unknown := next((flag for flag in line.flags if not flag.known), None):
        return f"`{' '.join(line.path)}` has a flag the policy does not know ({unknown.word})"
    return None


def _reads_files(line: CommandLine, argv: tuple[str, ...]) -> str | None:
    if line.has("filename") or line.has("kustomize"):
        return "-f/-k read objects from a file or URL the policy cannot inspect"
    return None


def _raw_proxy(line: CommandLine, argv: tuple[str, ...]) -> str | None:
    if any("proxy" in _decoded(path) for path in line.values("raw")):
        return "`get --raw` through an API-server proxy reaches services behind it"
    return None


_APPROVALS: tuple[_Rule, ...] = (_not_read_only, _unknown_flag, _reads_files, _raw_proxy)


def _required_by_workflow(line: CommandLine, required: Collection[str]) -> str | None:
    wanted = {" ".join(entry.lower().split()).removeprefix("kubectl ") for entry in required}
    prefixes = {" ".join(line.path[:n]).lower() for n in range(1, len(line.path) + 1)}
    if hit := sorted(wanted & prefixes):
        return f"the workflow requires approval for `{hit[0]}`"
    return None


def _names_secrets(word: str) -> bool:
    """Whether a resource argument may name Secrets: ``secrets``, ``Secret/x``, ``pods,secret.v1``.

    Every ``/`` piece is checked, not just the type, so odd spellings err towards refusing.
    """
    return any(
        piece.strip().lower().split(".", 1)[0] in _SECRET_KINDS
        for item in word.split(",")
        for piece in item.split("/")
    )


def _decoded(path: str) -> str:
    """A ``--raw`` path as the API server routes it: percent-decoded (repeatedly), lower case."""
    for _ in range(5):
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    return path.lower()
