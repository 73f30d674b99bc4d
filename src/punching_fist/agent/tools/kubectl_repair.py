"""Repairs for the read commands small models get almost right.

A 1.5B model often writes ``describe pod shop/web-0`` (namespace and name in one word, as
alerts print them). kubectl answers NotFound, and the model concludes the pod is gone. The
intent is unambiguous, so the command is rewritten to ``describe pod web-0 -n shop`` and the
model is told what ran. Only reads are repaired; whatever the repair produces is judged by
the policy like any other command.
"""

from __future__ import annotations

from dataclasses import dataclass

from punching_fist.agent.tools.kubectl_argv import parse_command_line, split_command
from punching_fist.errors import CommandRejected

_REPAIRED_VERBS = frozenset({"get", "describe", "logs", "top"})
# Resource words `logs` accepts as TYPE/NAME; anything else before a slash is a namespace.
_LOG_KINDS = frozenset({
    "pod", "pods", "po", "deployment", "deployments", "deploy", "statefulset", "statefulsets",
    "sts", "daemonset", "daemonsets", "ds", "job", "jobs", "replicaset", "replicasets", "rs",
    "service", "services", "svc",
})  # fmt: skip
_DNS_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.")


@dataclass(frozen=True, kw_only=True)
class Repair:
    command: str
    """The command line that runs instead."""
    note: str
    """What the model is told, ahead of the output."""


def repair(command: str) -> Repair | None:
    """A rewrite of ``command`` when it is a read with a ``NAMESPACE/NAME`` reference."""
    try:
        argv = list(split_command(command))
        namespaces = parse_command_line(tuple(argv)).values("namespace")
    except CommandRejected:
        return None
    positions = [i for i, word in enumerate(argv) if not word.startswith("-")]
    if not positions or argv[positions[0]] not in _REPAIRED_VERBS:
        return None
    verb = argv[positions[0]]
    # `describe pod NS/NAME`: with a separate kind, a slash in the name is never TYPE/NAME.
    # `logs NS/NAME`: the prefix is not a kind logs knows.
    if verb == "logs":
        candidates = positions[1:2]
    else:
        candidates = positions[2:3] if len(positions) > 2 and "/" not in argv[positions[1]] else []
    for index in candidates:
        namespace, _, name = argv[index].partition("/")
        if not _plausible(namespace) or not _plausible(name) or namespace in _LOG_KINDS:
            continue
        given = namespaces[-1] if namespaces else None  # pflag keeps the last
        if given not in (None, namespace):
            return None  # two namespaces: let kubectl's own error speak
        argv[index] = name
        if given is None:
            argv += ["-n", namespace]
        fixed = " ".join(argv)
        return Repair(
            command=fixed,
            note=f"[ran `{fixed}`: kubectl takes the namespace from -n, not from NAMESPACE/NAME]",
        )
    return None


def _plausible(word: str) -> bool:
    return bool(word) and set(word) <= _DNS_LABEL_CHARS and not word.startswith("-")
