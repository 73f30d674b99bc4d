#!/usr/bin/env python3
"""kubectl for the investigation eval: answers from one scenario's recorded outputs.

Usage: ``eval_kubectl.py SCENARIO.yaml|SCENARIO.json [kubectl arguments...]``

``bench/eval.py`` puts a wrapper named ``kubectl`` on the agent tools' PATH that execs this
script with the scenario being investigated. A scenario's ``kubectl`` mapping holds recorded
outputs keyed by a kubectl command (``describe pod web-0``, ``get pods -o wide``,
``logs web-0 --previous``, ``get events -n data``); a key without ``-n`` is in the scenario's
``namespace``. A recording is the text kubectl printed, or ``{stdout, stderr, exit}``.
Tables (``get``, ``events``, ``top``) may be written with columns at least two spaces apart;
they are re-aligned as kubectl's tabwriter would.

The command line is read as kubectl reads it (global and local flags anywhere, short flag
groups, ``TYPE/NAME`` arguments, resource aliases), and answered from the recordings:
tables are filtered by name, ``-l`` (labels come from the recorded ``describe`` output or the
scenario's ``labels``) and ``--field-selector``; ``-A`` merges namespaces; a wide table
answers the plain ``get`` too; ``-L`` adds label columns; ``logs`` honours ``--tail``, takes
``-c`` for init containers too, answers ``--all-containers`` from its own recording when there
is one (an init container's log, then the waiting app container's error), and
``logs TYPE/NAME`` picks the owner's pod as kubectl does; anything unrecorded answers as a
cluster would (``NotFound``, ``No resources found in X namespace.``), on stderr with
kubectl's exit codes. Without ``-n`` the namespace is the kubeconfig's, ``default``.
Deterministic, and stdlib only for JSON scenarios (YAML needs PyYAML).
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONTEXT_NAMESPACE = "default"


class KubectlError(Exception):
    """What kubectl prints on stderr before exiting 1."""


@dataclass(frozen=True)
class Kind:
    """A resource type as kubectl names it."""

    plural: str
    singular: str
    aliases: tuple[str, ...]
    group: str = ""
    namespaced: bool = True
    wide_from: str = "CONTAINERS"
    """The first column only ``-o wide`` shows: the plain table ends before it."""

    @property
    def qualified(self) -> str:
        """``deployments.apps``: how kubectl names the type in NotFound errors."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def prefix(self) -> str:
        """``deployment.apps``: how kubectl names the type before ``/NAME`` in mixed lists."""
        return f"{self.singular}.{self.group}" if self.group else self.singular


KINDS = (
    Kind("pods", "pod", ("po",), wide_from="IP"),
    Kind("services", "service", ("svc",), wide_from="SELECTOR"),
    Kind("endpoints", "endpoints", ("ep",)),
    Kind("deployments", "deployment", ("deploy",), "apps"),
    Kind("replicasets", "replicaset", ("rs",), "apps"),
    Kind("statefulsets", "statefulset", ("sts",), "apps"),
    Kind("daemonsets", "daemonset", ("ds",), "apps"),
    Kind("jobs", "job", (), "batch"),
    Kind("cronjobs", "cronjob", ("cj",), "batch"),
    Kind("events", "event", ("ev",)),
    Kind("configmaps", "configmap", ("cm",)),
    Kind("secrets", "secret", ()),
    Kind("persistentvolumeclaims", "persistentvolumeclaim", ("pvc",)),
    Kind("serviceaccounts", "serviceaccount", ("sa",)),
    Kind("ingresses", "ingress", ("ing",), "networking.k8s.io"),
    Kind("networkpolicies", "networkpolicy", ("netpol",), "networking.k8s.io"),
    Kind("horizontalpodautoscalers", "horizontalpodautoscaler", ("hpa",), "autoscaling"),
    Kind("poddisruptionbudgets", "poddisruptionbudget", ("pdb",), "policy"),
    Kind("resourcequotas", "resourcequota", ("quota",)),
    Kind("limitranges", "limitrange", ("limits",)),
    Kind("nodes", "node", ("no",), namespaced=False, wide_from="INTERNAL-IP"),
    Kind("namespaces", "namespace", ("ns",), namespaced=False),
    Kind("persistentvolumes", "persistentvolume", ("pv",), namespaced=False),
    Kind("storageclasses", "storageclass", ("sc",), "storage.k8s.io", namespaced=False),
)
_BY_NAME = {
    spelling: kind
    for kind in KINDS
    for spelling in (kind.plural, kind.singular, kind.qualified, kind.prefix, *kind.aliases)
}
# `get all` lists these, in kubectl's order.
ALL = ("pods", "services", "daemonsets", "deployments", "replicasets", "statefulsets", "jobs",
       "cronjobs")  # fmt: skip
# Owners whose pods are named "<owner>-<suffix>", for `logs deployment/web`.
POD_OWNERS = ("deployments", "replicasets", "statefulsets", "daemonsets", "jobs")


def kind_of(spelling: str) -> Kind:
    kind = _BY_NAME.get(spelling.lower())
    if kind is None:
        raise KubectlError(f'error: the server doesn\'t have a resource type "{spelling}"')
    return kind


# --- the command line ----------------------------------------------------------------------

# Flags that take a value (long name: shorthand); every other flag is boolean.
_VALUED = {
    "namespace": "n", "output": "o", "selector": "l", "container": "c", "label-columns": "L",
    "field-selector": "", "tail": "", "since": "", "since-time": "", "sort-by": "",
    "for": "", "types": "", "context": "", "kubeconfig": "", "cluster": "", "user": "",
    "request-timeout": "", "chunk-size": "", "limit-bytes": "", "max-log-requests": "",
    "pod-running-timeout": "", "template": "", "v": "v", "as": "", "as-group": "",
    "subresource": "", "timeout": "", "revision": "", "filename": "f", "server": "s",
    "token": "", "cache-dir": "", "raw": "",
}  # fmt: skip
_BOOLEAN = {
    "all-namespaces": "A", "previous": "p", "watch": "w", "help": "h", "recursive": "R",
    "all-containers": "", "show-labels": "", "no-headers": "", "follow": "",
    "timestamps": "", "prefix": "", "ignore-not-found": "", "show-kind": "",
    "show-events": "", "watch-only": "", "ignore-errors": "", "all-pods": "",
    "insecure-skip-tls-verify": "", "containers": "", "sum": "", "client": "",
}  # fmt: skip
_SHORT_VALUED = {short: name for name, short in _VALUED.items() if short}
_SHORT_BOOLEAN = {short: name for name, short in _BOOLEAN.items() if short}
# `logs -f` is --follow, not --filename.
_SHORT_OVERRIDES = {"logs": {"f": "follow"}}


@dataclass
class Command:
    """A kubectl command line, read."""

    words: list[str] = field(default_factory=list)
    flags: dict[str, str] = field(default_factory=dict)

    def flag(self, name: str) -> str | None:
        return self.flags.get(name)

    def on(self, name: str) -> bool:
        value = self.flags.get(name)
        return value is not None and value.lower() not in ("false", "0")

    def namespace(self, default: str = CONTEXT_NAMESPACE) -> str:
        return self.flags.get("namespace") or default

    @property
    def all_namespaces(self) -> bool:
        return self.on("all-namespaces")


def parse(argv: Sequence[str]) -> Command:
    """Read argv as pflag does: flags anywhere, ``--x=v``, ``--x v``, ``-xv``, ``-Ao wide``."""
    words = list(argv)
    if words[:1] == ["kubectl"]:
        words = words[1:]
    command = Command()
    verb = next((w for w in words if not w.startswith("-")), "")
    overrides = _SHORT_OVERRIDES.get(verb, {})
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word == "--":
            command.words.extend(words[i:])
            break
        if not word.startswith("-") or word == "-":
            command.words.append(word)
        elif word.startswith("--"):
            name, eq, value = word[2:].partition("=")
            name = name.replace("_", "-")
            if eq:
                command.flags[name] = value
            elif name in _VALUED:
                if i >= len(words):
                    raise KubectlError(f"error: flag needs an argument: {word}")
                command.flags[name] = words[i]
                i += 1
            else:
                command.flags[name] = "true"
        else:
            rest = word[1:]
            while rest:
                char, rest = rest[0], rest[1:]
                if char in overrides:
                    command.flags[overrides[char]] = "true"
                elif char in _SHORT_VALUED:
                    name = _SHORT_VALUED[char]
                    if rest:
                        command.flags[name] = rest.removeprefix("=")
                    elif i < len(words):
                        command.flags[name] = words[i]
                        i += 1
                    else:
                        raise KubectlError(f"error: flag needs an argument: '{char}' in {word}")
                    rest = ""
                elif char in _SHORT_BOOLEAN:
                    command.flags[_SHORT_BOOLEAN[char]] = "true"
                else:
                    raise KubectlError(f"error: unknown shorthand flag: '{char}' in {word}")
    return command


@dataclass(frozen=True)
class Target:
    """What a get/describe names: kinds, and names (empty: every object of the kinds)."""

    kinds: tuple[Kind, ...]
    names: tuple[str, ...]
    pairs: tuple[tuple[Kind, str], ...] = ()
    """For ``TYPE/NAME`` arguments: each kind with its own name."""

    def wanted(self) -> list[tuple[Kind, str | None]]:
        if self.pairs:
            return list(self.pairs)
        if not self.names:
            return [(kind, None) for kind in self.kinds]
        return [(kind, name) for kind in self.kinds for name in self.names]


def target(args: Sequence[str], verb: str) -> Target:
    """Read ``TYPE[,TYPE] [NAME...]`` or ``TYPE/NAME...`` as kubectl's resource builder does."""
    if not args:
        raise KubectlError(
            'You must specify the type of resource to get. Use "kubectl api-resources" for a'
            " complete list of supported resources.\n\nerror: Required resource not specified.\n"
            f"See 'kubectl {verb} -h' for help and examples"
        )
    if any("/" in arg for arg in args):
        if not all("/" in arg for arg in args):
            raise KubectlError(
                "error: there is no need to specify a resource type as a separate argument when"
                " passing arguments in resource/name form (e.g. 'kubectl get resource/"
                "<resource_name>' instead of 'kubectl get resource resource/<resource_name>'"
            )
        pairs = []
        for arg in args:
            spelled, _, name = arg.partition("/")
            pairs.append((kind_of(spelled), name))
        return Target(kinds=tuple(k for k, _ in pairs), names=(), pairs=tuple(pairs))
    spellings = args[0].split(",")
    if "all" in spellings:
        spellings = [s for s in spellings if s != "all"] + list(ALL)
    kinds = tuple(dict.fromkeys(kind_of(s) for s in spellings if s))
    return Target(kinds=kinds, names=tuple(args[1:]))


# --- tables --------------------------------------------------------------------------------


@dataclass
class Table:
    """A kubectl table: a header and rows of cells."""

    header: list[str]
    rows: list[list[str]]

    @classmethod
    def parse(cls, text: str) -> Table:
        """Cells are at least two spaces apart; a row with empty cells (``get pvc`` of a
        Pending claim) must be aligned with the header, and is cut at its offsets."""
        lines = [line.rstrip() for line in text.strip("\n").splitlines() if line.strip()]
        header = re.split(r"\s{2,}", lines[0].strip())
        starts = [m.start() for m in re.finditer(r"\S+(?: \S+)*", lines[0])]
        rows = []
        for line in lines[1:]:
            cells = re.split(r"\s{2,}", line.strip(), maxsplit=len(header) - 1)
            if len(cells) < len(header) and len(starts) == len(header):
                ends = [*starts[1:], None]
                cells = [line[a:b].strip() for a, b in zip(starts, ends, strict=True)]
            rows.append(cells + [""] * (len(header) - len(cells)))
        return cls(header, rows)

    def column(self, name: str) -> int | None:
        return self.header.index(name) if name in self.header else None

    def cell(self, row: list[str], name: str) -> str | None:
        index = self.column(name)
        return None if index is None else row[index]

    def narrowed(self, first_hidden: str) -> Table:
        """The table without the columns from ``first_hidden`` on (plain from wide)."""
        index = self.column(first_hidden)
        if index is None:
            return self
        return Table(self.header[:index], [row[:index] for row in self.rows])

    def render(self, *, headers: bool = True) -> str:
        lines = ([self.header] if headers else []) + self.rows
        if not lines:
            return ""
        widths = [max(len(line[i]) for line in lines) for i in range(len(self.header))]
        return "".join(
            "   ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() + "\n"
            for line in lines
        )


def _tail(text: str, lines: int) -> str:
    """The last ``lines`` lines of ``text`` (all of them for a negative number)."""
    if lines < 0:
        return text
    every = text.splitlines()
    kept = every[max(len(every) - lines, 0) :] if lines else []
    return "\n".join(kept)


_READY_COLUMN = re.compile(r"(\d+)/(\d+)")
_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "y": 31536000}


def _seconds(age: str) -> int:
    """An AGE cell (``36m``, ``5d3h``, ``2m41s``) in seconds; 0 when unreadable."""
    return sum(int(n) * _AGE_UNITS[unit] for n, unit in re.findall(r"(\d+)([smhdy])", age))


def _name(row: list[str]) -> str:
    """The object name in a row's first cell (``gp3 (default)`` names ``gp3``)."""
    return row[0].split(" ", 1)[0]


def labels_in(describe: str) -> dict[str, str] | None:
    """The ``Labels:`` block of ``kubectl describe`` output, or None without one."""
    lines = describe.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("Labels:"):
            continue
        found = [line.removeprefix("Labels:").strip()]
        for more in lines[i + 1 :]:
            if not more.startswith(" ") or ":" in more.split("=", 1)[0]:
                break
            found.append(more.strip())
        pairs = (item.partition("=") for item in found if "=" in item)
        return {key: value for key, _, value in pairs}
    return None


def containers_in(describe: str, *, init: bool = False) -> list[str]:
    """Container names in ``kubectl describe pod`` output, in order: the app containers, or
    with ``init`` the init containers."""
    names: list[str] = []
    section = False
    wanted = "Init Containers:" if init else "Containers:"
    for line in describe.splitlines():
        if line in ("Containers:", "Init Containers:"):
            section = line == wanted
        elif line and not line.startswith(" "):
            section = False
        elif section and re.fullmatch(r"  [a-z0-9][-a-z0-9.]*:", line):
            names.append(line.strip().rstrip(":"))
    return names


def selector_matches(selector: str, labels: dict[str, str]) -> bool:
    """A label selector (``a=b,c!=d,e in (f,g),!h,i``) against a label set."""
    for term in (t.strip() for t in re.split(r",(?![^()]*\))", selector)):
        if not term:
            continue
        if match := re.fullmatch(r"(\S+)\s+(in|notin)\s+\((.*)\)", term):
            values = {v.strip() for v in match[3].split(",")}
            if (labels.get(match[1]) in values) != (match[2] == "in"):
                return False
        elif "!=" in term:
            key, value = (part.strip() for part in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (part.strip() for part in re.split(r"==?", term, maxsplit=1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


# Pod phase from the STATUS column, for --field-selector status.phase=...
_PHASES = {
    "Pending": "Pending", "ContainerCreating": "Pending", "PodInitializing": "Pending",
    "ImagePullBackOff": "Pending", "ErrImagePull": "Pending", "InvalidImageName": "Pending",
    "CreateContainerConfigError": "Pending", "Init:0/1": "Pending", "Completed": "Succeeded",
    "Init:CrashLoopBackOff": "Pending", "Init:Error": "Pending",
    "Error": "Failed", "Evicted": "Failed", "OutOfcpu": "Failed", "OutOfmemory": "Failed",
}  # fmt: skip


def _field_value(kind: Kind, table: Table, row: list[str], key: str) -> str | None:
    """The value a field selector compares, or None when the server rejects the field."""
    if key == "metadata.name":
        return row[0]
    if kind.plural == "events":
        obj = table.cell(row, "OBJECT") or ""
        values = {
            "involvedObject.name": obj.split("/", 1)[-1],
            "involvedObject.kind": obj.split("/", 1)[0].split(".", 1)[0],
            "type": table.cell(row, "TYPE") or "",
            "reason": table.cell(row, "REASON") or "",
        }
        other = key.startswith("involvedObject.") or key.startswith("source")
        return values.get(key, "" if other else None)
    if kind.plural == "pods":
        values = {
            "status.phase": _PHASES.get(table.cell(row, "STATUS") or "", "Running"),
            "spec.nodeName": table.cell(row, "NODE") or "",
        }
        return values.get(key, "" if key.startswith(("spec.", "status.")) else None)
    return None


@dataclass(frozen=True)
class FieldSelector:
    """``--field-selector``: ``key=value`` and ``key!=value`` terms, all of which must hold."""

    kind: Kind
    terms: tuple[tuple[str, bool, str], ...]

    @classmethod
    def parse(cls, kind: Kind, selector: str) -> FieldSelector:
        terms = []
        for term in filter(None, (t.strip() for t in selector.split(","))):
            match = re.fullmatch(r"([^!=]+)(!=|==|=)(.*)", term)
            if match is None:
                raise KubectlError(f'error: invalid field selector: "{term}"')
            terms.append((match[1].strip(), match[2] == "!=", match[3].strip()))
        probe = Table(["NAME"], [])
        for key, _, _ in terms:
            if key != "metadata.namespace" and _field_value(kind, probe, ["x"], key) is None:
                resource = kind.qualified if kind.group else f"/v1, Resource={kind.plural}"
                raise KubectlError(
                    f'Error from server (BadRequest): Unable to find "{resource}" that match'
                    f' label selector "", field selector "{selector}": field label not'
                    f" supported: {key}"
                )
        return cls(kind, tuple(terms))

    def keeps(self, table: Table, row: list[str], namespace: str) -> bool:
        for key, negated, value in self.terms:
            if key == "metadata.namespace":
                actual: str | None = namespace
            else:
                actual = _field_value(self.kind, table, row, key)
            if key == "involvedObject.kind":
                actual, value = (actual or "").lower(), value.lower()
            if (actual == value) == negated:
                return False
        return True


# --- the recorded cluster ------------------------------------------------------------------


@dataclass(frozen=True)
class Recording:
    """One recorded answer."""

    stdout: str
    stderr: str = ""
    exit: int = 0

    @classmethod
    def of(cls, value: Any) -> Recording:
        if isinstance(value, str):
            return cls(value)
        return cls(
            str(value.get("stdout", "")), str(value.get("stderr", "")), int(value.get("exit", 0))
        )


@dataclass
class Answer:
    """What the command prints, and its exit code."""

    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    exit: int = 0

    def out(self, text: str) -> None:
        if text:
            self.stdout.append(text if text.endswith("\n") else text + "\n")

    def err(self, text: str, *, fail: bool = True) -> None:
        if text:
            self.stderr.append(text if text.endswith("\n") else text + "\n")
        if fail:
            self.exit = 1

    def replay(self, recording: Recording) -> None:
        self.out(recording.stdout)
        self.err(recording.stderr, fail=recording.exit != 0)
        self.exit = max(self.exit, recording.exit)


Key = tuple[str, ...]


def key_of(command: Command, home: str) -> Key:
    """The recording key of a command: verb, kind, name, namespace, and what else matters.

    ``home`` is the namespace of a command without ``-n`` (the scenario's, for its keys).
    """
    words = command.words
    verb = words[0] if words else ""
    namespace = command.namespace(home)
    if verb == "logs":
        name = words[1] if len(words) > 1 else ""
        container = command.flag("container") or (words[2] if len(words) > 2 else "")
        if not container and command.on("all-containers"):
            container = "--all-containers"  # its own recording, else the pod's
        return ("logs", name, namespace, "previous" if command.on("previous") else "", container)
    if verb in ("get", "describe", "top") and len(words) > 1:
        try:
            wanted = target(words[1:], verb).wanted()
        except KubectlError:
            wanted = []
        if len(wanted) == 1:
            kind, named = wanted[0]
            scope = namespace if kind.namespaced else ""
            output = (command.flag("output") or "") if verb == "get" else ""
            return (verb, kind.plural, named or "", scope, output)
    return (verb, *words[1:], namespace)


class Cluster:
    """A scenario's recordings, answering kubectl commands as the cluster would."""

    def __init__(self, scenario: dict[str, Any]) -> None:
        self.home = str(scenario.get("namespace") or CONTEXT_NAMESPACE)
        self.recordings: dict[Key, Recording] = {}
        for spelled, value in (scenario.get("kubectl") or {}).items():
            self.recordings[key_of(parse(shlex.split(str(spelled))), self.home)] = Recording.of(
                value
            )
        self.extra_labels = {
            str(where): {str(k): str(v) for k, v in labels.items()}
            for where, labels in (scenario.get("labels") or {}).items()
        }

    def answer(self, command: Command) -> Answer:
        answer = Answer()
        verb = command.words[0] if command.words else ""
        handlers: dict[str, Callable[[Command, Answer], None]] = {
            "get": self.get,
            "describe": self.describe,
            "logs": self.logs,
            "events": self.events,
            "top": self.top,
            "rollout": self.rollout,
            "auth": self.auth,
        }
        exact = self.recordings.get(key_of(command, CONTEXT_NAMESPACE))
        if verb in ("top", "rollout", "auth", *_FIXED) and exact is not None:
            answer.replay(exact)
        elif verb in handlers:
            handlers[verb](command, answer)
        elif verb in _FIXED:
            answer.out(_FIXED[verb])
        elif verb in _WRITES:
            answer.err(
                f'Error from server (Forbidden): User "system:serviceaccount:punching-fist:'
                f'investigator" cannot {verb} resources in the namespace'
                f' "{command.namespace()}"'
            )
        elif not verb:
            answer.err("error: no command given; see 'kubectl --help'")
        else:
            answer.err(f'error: unknown command "{verb}" for "kubectl"')
        return answer

    # -- what the recordings show

    def namespaces(self) -> list[str]:
        found = {self.home}
        for key in self.recordings:
            if key[0] in ("get", "describe", "top") and len(key) == 5 and key[3]:
                found.add(key[3])
            elif key[0] == "logs":
                found.add(key[2])
        return sorted(found)

    def table(self, kind: Kind, namespace: str, *, wide: bool = False) -> Table | None:
        scope = namespace if kind.namespaced else ""
        plain = self.recordings.get(("get", kind.plural, "", scope, ""))
        wide_table = self.recordings.get(("get", kind.plural, "", scope, "wide"))
        if any(r is not None and not r.stdout.strip() for r in (plain, wide_table)):
            return Table(["NAME"], [])  # recorded as empty: nothing of this kind here
        if wide_table is not None and (wide or plain is None):
            parsed = Table.parse(wide_table.stdout)
            return parsed if wide else parsed.narrowed(kind.wide_from)
        if plain is not None:
            return Table.parse(plain.stdout)
        if kind.plural == "namespaces":
            names = sorted({*self.namespaces(), "default", "kube-system"})
            return Table(["NAME", "STATUS", "AGE"], [[n, "Active", "97d"] for n in names])
        return None

    def describe_text(self, kind: Kind, namespace: str, name: str) -> str | None:
        scope = namespace if kind.namespaced else ""
        recording = self.recordings.get(("describe", kind.plural, name, scope, ""))
        return recording.stdout if recording is not None else None

    def names(self, kind: Kind, namespace: str) -> list[str]:
        """Every object of ``kind`` the recordings show in ``namespace``."""
        scope = namespace if kind.namespaced else ""
        table = self.table(kind, namespace)
        found = [_name(row) for row in table.rows] if table is not None else []
        for key in self.recordings:
            if key[:2] == ("describe", kind.plural) and key[2] and key[3] == scope:
                found.append(key[2])
        if kind.plural == "nodes":
            for ns in self.namespaces():
                pods = self.table(POD, ns, wide=True)
                column = pods.column("NODE") if pods is not None else None
                if pods is not None and column is not None:
                    found += [row[column] for row in pods.rows if row[column] != "<none>"]
        return list(dict.fromkeys(found))

    def labels(self, kind: Kind, namespace: str, name: str) -> dict[str, str] | None:
        extra = self.extra_labels.get(f"{namespace}/{name}" if kind.namespaced else name)
        if extra is not None:
            return extra
        text = self.describe_text(kind, namespace, name)
        if text is not None:
            return labels_in(text)
        return self._owner_labels(namespace, name) if kind == POD else None

    def _owner_labels(self, namespace: str, pod: str) -> dict[str, str] | None:
        """A pod's labels from its owner's selector, recognised by the pod's name."""
        for plural, suffix in _POD_NAMES.items():
            kind = kind_of(plural)
            for owner in self.names(kind, namespace):
                match = re.fullmatch(re.escape(owner) + suffix, pod)
                if match is None:
                    continue
                if kind.plural == "jobs":
                    return {"batch.kubernetes.io/job-name": owner, "job-name": owner}
                selector = self._selector(kind, namespace, owner)
                if selector is None:
                    return None
                labels = dict(term.split("=", 1) for term in selector.split(",") if "=" in term)
                if match.groups():
                    labels["pod-template-hash"] = match[1]
                if kind.plural == "statefulsets":
                    labels["statefulset.kubernetes.io/pod-name"] = pod
                return labels
        return None

    def _selector(self, kind: Kind, namespace: str, name: str) -> str | None:
        table = self.table(kind, namespace, wide=True)
        row = next((r for r in table.rows if r[0] == name), None) if table else None
        if table is not None and row is not None and table.cell(row, "SELECTOR"):
            return table.cell(row, "SELECTOR")
        text = self.describe_text(kind, namespace, name) or ""
        found = re.search(r"^Selector:\s+(\S+)", text, re.MULTILINE)
        return found[1] if found else None

    def selected(self, kind: Kind, namespace: str, names: list[str], selector: str) -> list[str]:
        known = {name: self.labels(kind, namespace, name) for name in names}
        if all(labels is None for labels in known.values()):
            return names  # no labels recorded: nothing to filter by
        return [
            name
            for name, labels in known.items()
            if labels is not None and selector_matches(selector, labels)
        ]

    # -- get

    def get(self, command: Command, answer: Answer) -> None:
        tgt = target(command.words[1:], "get")
        output = command.flag("output") or ""
        exact = self.recordings.get(key_of(command, CONTEXT_NAMESPACE))
        if exact is not None and output not in ("", "wide", "name"):
            answer.replay(exact)
            return
        if command.all_namespaces and (tgt.names or tgt.pairs):
            raise KubectlError(
                "error: a resource cannot be retrieved by name across all namespaces"
            )
        if output.split("=", 1)[0] not in ("", "wide", "name"):
            if tgt.names or tgt.pairs:
                # No recording in this format: the same facts, as `describe` shows them.
                self.describe(command, answer)
                return
            output = ""
        wanted = tgt.wanted()
        mixed = len(tgt.kinds) > 1
        namespaces = self.namespaces() if command.all_namespaces else [command.namespace()]
        printed = False
        for kind in tgt.kinds:
            names = [name for k, name in wanted if k == kind and name is not None]
            table = self._listed(kind, namespaces, names, command, answer)
            if table is None or not table.rows:
                continue
            column = table.column("NAME") or 0
            if output == "name" or mixed:
                for row in table.rows:
                    row[column] = f"{kind.prefix}/{row[column]}"
            if output == "name":
                answer.out("".join(row[column] + "\n" for row in table.rows))
            else:
                answer.out(
                    ("\n" if printed else "") + table.render(headers=not command.on("no-headers"))
                )
            printed = True
        if not printed and not any(name for _, name in wanted):
            scoped = tgt.kinds[0].namespaced and not command.all_namespaces
            where = f" in {command.namespace()} namespace" if scoped else ""
            answer.err(f"No resources found{where}.", fail=False)

    def _listed(
        self,
        kind: Kind,
        namespaces: list[str],
        names: list[str],
        command: Command,
        answer: Answer,
    ) -> Table | None:
        """The rows of ``kind`` the command selects, over ``namespaces``; NotFound for names."""
        wide = command.flag("output") == "wide"
        selector = command.flag("selector")
        fields = command.flag("field-selector")
        field_selector = FieldSelector.parse(kind, fields) if fields else None
        label_columns = command.flag("label-columns") or ""
        merged: Table | None = None
        for ns in namespaces if kind.namespaced else [""]:
            table = self.table(kind, ns, wide=wide)
            if table is None:
                continue
            rows = [list(row) for row in table.rows if not names or _name(row) in names]
            if selector:
                keep = set(self.selected(kind, ns, [row[0] for row in rows], selector))
                rows = [row for row in rows if row[0] in keep]
            if field_selector is not None:
                rows = [row for row in rows if field_selector.keeps(table, row, ns)]
            shown = Table(list(table.header), rows)
            # -L KEY[,KEY]: a column per label, headed by the key's last segment, upper-cased.
            for key in filter(None, map(str.strip, label_columns.split(","))):
                shown.header.append(key.rsplit("/", 1)[-1].upper())
                for row in rows:
                    row.append((self.labels(kind, ns, _name(row)) or {}).get(key, ""))
            if command.on("show-labels"):
                shown.header.append("LABELS")
                for row in rows:
                    labels = self.labels(kind, ns, row[0]) or {}
                    row.append(",".join(f"{k}={v}" for k, v in labels.items()) or "<none>")
            if command.all_namespaces and kind.namespaced:
                shown.header.insert(0, "NAMESPACE")
                for row in rows:
                    row.insert(0, ns)
            if merged is None:
                merged = shown
            else:
                merged.rows += shown.rows
        for name in names:
            listed = merged is not None and any(_name(row) == name for row in merged.rows)
            if not listed and not (selector or fields):
                answer.err(f'Error from server (NotFound): {kind.qualified} "{name}" not found')
        return merged

    # -- describe

    def describe(self, command: Command, answer: Answer) -> None:
        tgt = target(command.words[1:], "describe")
        namespace = command.namespace()
        texts: list[str] = []
        for kind, name in tgt.wanted():
            if name is None:
                for ns in self.namespaces() if command.all_namespaces else [namespace]:
                    names = self.names(kind, ns)
                    if command.flag("selector"):
                        names = self.selected(kind, ns, names, command.flag("selector") or "")
                    texts += [self._described(kind, ns, each) for each in names]
                continue
            if self.describe_text(kind, namespace, name) is not None or self.exists(
                kind, namespace, name
            ):
                texts.append(self._described(kind, namespace, name))
                continue
            # kubectl describes every object whose name starts with an unknown name.
            prefixed = [n for n in self.names(kind, namespace) if n.startswith(name)]
            if prefixed and not tgt.pairs:
                texts += [self._described(kind, namespace, each) for each in prefixed]
            else:
                answer.err(f'Error from server (NotFound): {kind.qualified} "{name}" not found')
        if texts:
            answer.out("\n\n".join(text.rstrip("\n") for text in texts) + "\n")
        elif answer.exit == 0:
            scoped = tgt.kinds[0].namespaced and not command.all_namespaces
            where = f" in {namespace} namespace" if scoped else ""
            answer.err(f"No resources found{where}.", fail=False)

    def exists(self, kind: Kind, namespace: str, name: str) -> bool:
        return name in self.names(kind, namespace)

    def _described(self, kind: Kind, namespace: str, name: str) -> str:
        text = self.describe_text(kind, namespace, name)
        return text if text is not None else self._synthesized(kind, namespace, name)

    def _synthesized(self, kind: Kind, namespace: str, name: str) -> str:
        """A short ``describe`` of an object the recordings show only in a table."""
        fields = [("Name", name)]
        if kind.namespaced:
            fields.append(("Namespace", namespace))
        labels = self.labels(kind, namespace, name)
        if labels is not None:
            fields.append(("Labels", ",".join(f"{k}={v}" for k, v in labels.items()) or "<none>"))
        table = self.table(kind, namespace, wide=True)
        row = next((r for r in table.rows if r[0] == name), None) if table else None
        if kind.plural == "nodes":
            fields += [("Roles", "<none>"), ("Taints", "<none>"), ("Unschedulable", "false")]
        elif table is not None and row is not None:
            fields += [
                (header.capitalize(), cell)
                for header, cell in zip(table.header[1:], row[1:], strict=True)
            ]
        width = max(len(label) for label, _ in fields) + 2
        text = "".join(f"{label}:".ljust(width) + value + "\n" for label, value in fields)
        if kind.plural == "nodes":
            text += _HEALTHY_NODE
        return text + "Events:".ljust(width) + "<none>\n"

    # -- logs

    def logs(self, command: Command, answer: Answer) -> None:
        args = command.words[1:]
        namespace = command.namespace()
        selector = command.flag("selector")
        if selector:
            if args:
                raise KubectlError("error: only one of a selector or a pod name is allowed")
            pods = self.selected(POD, namespace, self.names(POD, namespace), selector)
            if not pods:
                answer.err(f"No resources found in {namespace} namespace.", fail=False)
            tail = int(command.flag("tail") or 10)  # kubectl's default with a selector
            for pod in pods:
                self._pod_logs(pod, None, command, answer, tail=tail, prefix=command.on("prefix"))
            return
        if not args:
            raise KubectlError(
                "error: expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'.\n"
                "POD or TYPE/NAME is a required argument for the logs command\n"
                "See 'kubectl logs -h' for help and examples"
            )
        tail = int(command.flag("tail") or -1)
        exact = self.recordings.get(key_of(command, CONTEXT_NAMESPACE))
        if exact is not None and "/" in args[0]:  # e.g. `logs deploy/x -n other-namespace`
            answer.replay(Recording(_tail(exact.stdout, tail), exact.stderr, exact.exit))
            return
        pod = self._pod_for(args[0], namespace, answer)
        positional = args[1] if len(args) > 1 else None
        self._pod_logs(pod, positional, command, answer, tail=tail, prefix=command.on("prefix"))

    def _pod_for(self, spelled: str, namespace: str, answer: Answer) -> str:
        """The pod ``logs`` reads for ``NAME`` or ``TYPE/NAME`` (the first of an owner's)."""
        if "/" not in spelled:
            return spelled
        type_name, _, name = spelled.partition("/")
        kind = kind_of(type_name)
        if kind == POD:
            return name
        if kind.plural not in POD_OWNERS:
            raise KubectlError(f"error: cannot get the logs from {kind.qualified}")
        if not self.exists(kind, namespace, name):
            raise KubectlError(f'Error from server (NotFound): {kind.qualified} "{name}" not found')
        pods = [p for p in self.names(POD, namespace) if p.startswith(f"{name}-")]
        selector = self._selector(kind, namespace, name)
        if selector and kind.plural != "jobs":  # `web-ui-…` is not a pod of `web`
            pods = self.selected(POD, namespace, pods, selector)
        pods = self._by_logging(namespace, sorted(pods))
        if not pods:
            raise KubectlError(
                f"error: timed out waiting for the condition on {kind.plural}/{name}"
            )
        if len(pods) > 1:
            answer.err(f"Found {len(pods)} pods, using pod/{pods[0]}", fail=False)
        return pods[0]

    def _by_logging(self, namespace: str, pods: list[str]) -> list[str]:
        """``pods`` in the order kubectl picks one to log from (podutils.ByLogging): on a
        node, Running, ready, most restarts, oldest first."""
        table = self.table(POD, namespace, wide=True)
        rows = {_name(row): row for row in table.rows} if table is not None else {}

        def rank(pod: str) -> tuple[bool, bool, bool, int, int]:
            row = rows.get(pod)
            if table is None or row is None:
                return (True, True, True, 0, 0)
            status = table.cell(row, "STATUS") or ""
            ready = _READY_COLUMN.fullmatch(table.cell(row, "READY") or "")
            restarts = re.match(r"\d+", table.cell(row, "RESTARTS") or "")
            return (
                (table.cell(row, "NODE") or "<none>") == "<none>",
                _PHASES.get(status, "Running") != "Running",
                not (ready is not None and ready[1] == ready[2]),
                -int(restarts[0]) if restarts else 0,
                -_seconds(table.cell(row, "AGE") or ""),
            )

        return sorted(pods, key=rank)

    def _pod_logs(
        self,
        pod: str,
        positional: str | None,
        command: Command,
        answer: Answer,
        *,
        tail: int,
        prefix: bool,
    ) -> None:
        namespace = command.namespace()
        previous = "previous" if command.on("previous") else ""
        container = command.flag("container") or positional or ""
        described = self.describe_text(POD, namespace, pod)
        containers = containers_in(described) if described is not None else []
        inits = containers_in(described, init=True) if described is not None else []
        every = command.on("all-containers") and not container
        recording = self.recordings.get(
            ("logs", pod, namespace, previous, "--all-containers" if every else container)
        )
        if recording is None:
            recording = self.recordings.get(("logs", pod, namespace, previous, ""))
        if recording is None and not self.exists(POD, namespace, pod):
            raise KubectlError(f'Error from server (NotFound): pods "{pod}" not found')
        if container and containers and container not in containers + inits:
            raise KubectlError(f"error: container {container} is not valid for pod {pod}")
        chosen = container or (containers[0] if containers else pod.rsplit("-", 2)[0])
        if not container and len(containers) + len(inits) > 1 and not every:
            others = ", ".join([*containers, *(f"{name} (init)" for name in inits)])
            answer.err(f'Defaulted container "{chosen}" out of: {others}', fail=False)
        if recording is None and previous:
            raise KubectlError(
                f'Error from server (BadRequest): previous terminated container "{chosen}" in'
                f' pod "{pod}" not found'
            )
        if recording is None:
            return
        lines = _tail(recording.stdout, tail).splitlines()
        if prefix:
            lines = [f"[pod/{pod}/{chosen}] {line}" for line in lines]
        answer.replay(Recording("\n".join(lines), recording.stderr, recording.exit))

    # -- other reads

    def events(self, command: Command, answer: Answer) -> None:
        """``kubectl events``: the event table; ``--for TYPE/NAME`` and ``--types`` filter it."""
        terms = []
        if command.flag("for"):
            spelled, _, name = (command.flag("for") or "").partition("/")
            terms += [f"involvedObject.kind={kind_of(spelled).singular}"] if name else []
            terms.append(f"involvedObject.name={name or spelled}")
        flags = {k: v for k, v in command.flags.items() if k not in ("for", "types", "output")}
        if terms:
            flags["field-selector"] = ",".join(terms)
        get = Command(["get", "events"], flags)
        types = command.flag("types")
        if types:
            wanted = {t.strip().lower() for t in types.split(",")}
            inner = Answer()
            self.get(get, inner)
            lines = "".join(inner.stdout).splitlines()
            if lines:
                table = Table.parse("\n".join(lines))
                type_column = table.column("TYPE") or 0
                table.rows = [r for r in table.rows if r[type_column].lower() in wanted]
                if table.rows:
                    answer.out(table.render())
                    return
            answer.err(f"No events found in {command.namespace()} namespace.", fail=False)
            return
        self.get(get, answer)

    def top(self, command: Command, answer: Answer) -> None:
        words = command.words[1:]
        kind = kind_of(words[0]) if words else POD
        scope = command.namespace() if kind.namespaced else ""
        recording = self.recordings.get(("top", kind.plural, "", scope, ""))
        if recording is None:
            raise KubectlError("error: Metrics API not available")
        table = Table.parse(recording.stdout)
        if words[1:]:
            table.rows = [row for row in table.rows if row[0] in words[1:]]
            if not table.rows:
                raise KubectlError(
                    f'Error from server (NotFound): {kind.qualified} "{words[1]}" not found'
                )
        answer.out(table.render(headers=not command.on("no-headers")))

    def rollout(self, command: Command, answer: Answer) -> None:
        words = command.words[1:]
        if len(words) < 2 or words[0] not in ("status", "history"):
            raise KubectlError("error: required resource not specified")
        kind, name = target(words[1:], "rollout").wanted()[0]
        namespace = command.namespace()
        if name is None or not self.exists(kind, namespace, name):
            raise KubectlError(f'Error from server (NotFound): {kind.qualified} "{name}" not found')
        if words[0] == "history":
            answer.out(f"{kind.prefix}/{name} \nREVISION  CHANGE-CAUSE\n1         <none>\n")
            return
        table = self.table(kind, namespace)
        row = next((r for r in table.rows if r[0] == name), None) if table else None
        if table is None or row is None:
            answer.out(f'{kind.singular} "{name}" successfully rolled out')
            return
        ready, _, desired = (table.cell(row, "READY") or "1/1").partition("/")
        updated = table.cell(row, "UP-TO-DATE") or desired
        available = table.cell(row, "AVAILABLE") or ready
        waiting = f'Waiting for {kind.singular} "{name}" rollout to finish: '
        if updated != desired:
            answer.out(f"{waiting}{updated} out of {desired} new replicas have been updated...")
        elif available != desired or ready != desired:
            answer.out(f"{waiting}{available} of {desired} updated replicas are available...")
        else:
            answer.out(f'{kind.singular} "{name}" successfully rolled out')
            return
        answer.err("error: timed out waiting for the condition")

    def auth(self, command: Command, answer: Answer) -> None:
        words = command.words[1:]
        if words[:1] == ["can-i"]:
            answer.out("yes" if words[1:2] and words[1] in ("get", "list", "watch") else "no")
        else:
            answer.out(
                "ATTRIBUTE   VALUE\nUsername    system:serviceaccount:punching-fist:investigator\n"
            )


POD = KINDS[0]
_HEALTHY_NODE = """Conditions:
  Type             Status  Reason                       Message
  ----             ------  ------                       -------
  MemoryPressure   False   KubeletHasSufficientMemory   kubelet has sufficient memory available
  DiskPressure     False   KubeletHasNoDiskPressure     kubelet has no disk pressure
  PIDPressure      False   KubeletHasSufficientPID      kubelet has sufficient PID available
  Ready            True    KubeletReady                 kubelet is posting ready status
"""
# How a controller names its pods, after the owner's name (group 1: pod-template-hash).
_POD_NAMES = {
    "deployments": r"-([a-z0-9]{6,10})-[a-z0-9]{5}",
    "statefulsets": r"-\d+",
    "daemonsets": r"-[a-z0-9]{5}",
    "jobs": r"-[a-z0-9]{5}",
    "replicasets": r"-[a-z0-9]{5}",
}
_FIXED = {
    "version": "Client Version: v1.31.4\nKustomize Version: v5.4.2\nServer Version: v1.31.4\n",
    "cluster-info": (
        "Kubernetes control plane is running at https://10.0.0.1:6443\n"
        "CoreDNS is running at https://10.0.0.1:6443/api/v1/namespaces/kube-system/services/"
        "kube-dns:dns/proxy\n"
    ),
    "api-versions": "apps/v1\nbatch/v1\nnetworking.k8s.io/v1\nstorage.k8s.io/v1\nv1\n",
}
_WRITES = frozenset({
    "delete", "apply", "create", "edit", "patch", "replace", "scale", "set", "label",
    "annotate", "cordon", "uncordon", "drain", "taint", "exec", "debug", "run", "expose",
    "autoscale", "cp", "attach", "port-forward",
})  # fmt: skip


def load(path: Path) -> dict[str, Any]:
    """A scenario file: JSON (stdlib) or YAML (PyYAML)."""
    text = path.read_text()
    if path.suffix == ".json":
        loaded = json.loads(text)
    else:
        import yaml  # only YAML needs PyYAML; the eval runs this with the venv's Python

        loaded = yaml.safe_load(text)
    if not isinstance(loaded, dict):
        raise SystemExit(f"{path}: a scenario is a mapping")
    return loaded


def run(scenario: dict[str, Any], argv: Sequence[str]) -> Answer:
    """Answer one kubectl command line from ``scenario``'s recordings."""
    try:
        return Cluster(scenario).answer(parse(argv))
    except KubectlError as exc:
        answer = Answer()
        answer.err(str(exc))
        return answer


def main(args: Sequence[str]) -> int:
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    answer = run(load(Path(args[0])), args[1:])
    sys.stdout.write("".join(answer.stdout))
    sys.stderr.write("".join(answer.stderr))
    return answer.exit


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
