"""Which kubectl reads make an alert's standard evidence: its target, then a plan of commands.

``detect_target`` reads the alert's labels as kube-prometheus names them and picks the most
specific object: pod > job > deployment/statefulset/daemonset > pvc > service > node (a pod
alert also carries ``service``/``node`` labels from kube-state-metrics). Label values are
untrusted: only valid Kubernetes names are used, so nothing odd reaches argv.

``plan_for`` turns the target into kubectl command lines as the agent's kubectl tool takes
them. Some targets have later phases chosen from earlier output: a workload's failing pods,
a job's pods, the pods behind a service's selector and then one of them. ``evidence`` runs
the plan.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeGuard, assert_never

from punching_fist.agent.tools.kubectl import without_kubectl

TargetKind = Literal[
    "pod", "job", "deployment", "statefulset", "daemonset", "pvc", "service", "node"
]

MAX_FOLLOW_UP_PODS = 2

_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_DNS_LABEL = re.compile(_LABEL)
_DNS_SUBDOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
# Labels by precedence; services (DNS-1035) and namespaces are single DNS labels.
_TARGET_LABELS: tuple[tuple[str, TargetKind], ...] = (
    ("pod", "pod"),
    ("job_name", "job"),
    ("deployment", "deployment"),
    ("statefulset", "statefulset"),
    ("daemonset", "daemonset"),
    ("persistentvolumeclaim", "pvc"),
    ("service", "service"),
    ("node", "node"),
)


def is_kubernetes_name(value: object, *, label: bool = False) -> TypeGuard[str]:
    """Whether ``value`` is a DNS-1123 subdomain (or, with ``label``, a DNS-1123 label)."""
    if not isinstance(value, str):
        return False
    if label:
        return len(value) <= 63 and _DNS_LABEL.fullmatch(value) is not None
    return len(value) <= 253 and _DNS_SUBDOMAIN.fullmatch(value) is not None


@dataclass(frozen=True, kw_only=True)
class Target:
    """The object an alert is about; valid names by construction (``ValueError`` otherwise)."""

    kind: TargetKind
    name: str
    namespace: str | None = None
    """Required for every kind but ``node``."""
    container: str | None = None
    """The alert's ``container`` label, for pods; the plan still reads all containers."""

    def __post_init__(self) -> None:
        if not is_kubernetes_name(self.name, label=self.kind == "service"):
            raise ValueError(f"not a valid {self.kind} name: {self.name!r}")
        if (self.kind == "node") != (self.namespace is None):
            raise ValueError(
                f"a {self.kind} target {'has no' if self.kind == 'node' else 'needs a'} namespace"
            )
        for value in (self.namespace, self.container):
            if value is not None and not is_kubernetes_name(value, label=True):
                raise ValueError(f"not a valid Kubernetes name: {value!r}")


_MORE_SPECIFIC_THAN_A_PROBE = (
    "pod", "job_name", "deployment", "statefulset", "daemonset", "persistentvolumeclaim"
)  # fmt: skip
_SERVICE_URL = re.compile(
    rf"(?:[a-z]+://)?(?P<service>{_LABEL})\.(?P<namespace>{_LABEL})\.svc(?:\.cluster\.local)?"
    r"(?::\d+)?(?:/\S*)?"
)


def detect_target(labels: Mapping[str, object]) -> Target | None:
    """The most specific object the labels name, or ``None``.

    A probe's ``instance`` that is a Service's cluster DNS name (``http://cart.shop.svc:8080/``)
    names that Service, unless a pod, workload or claim label is more specific.

    A label whose value is not a valid name is ignored (the next one in precedence counts),
    as is a namespaced object without a valid ``namespace`` label.
    """
    namespace = _label_value(labels, "namespace", label=True)
    if (found := _SERVICE_URL.fullmatch(str(labels.get("instance", "")))) and not any(
        labels.get(key) for key in _MORE_SPECIFIC_THAN_A_PROBE
    ):
        # A blackbox probe names what it probes only in its target: http://SVC.NS.svc:80/x
        return Target(kind="service", name=found["service"], namespace=found["namespace"])
    for key, kind in _TARGET_LABELS:
        name = _label_value(labels, key, label=kind == "service")
        if name is None:
            continue
        if kind == "node":
            return Target(kind=kind, name=name)
        if namespace is not None:
            container = _label_value(labels, "container", label=True) if kind == "pod" else None
            return Target(kind=kind, name=name, namespace=namespace, container=container)
    return None


def _label_value(labels: Mapping[str, object], key: str, *, label: bool) -> str | None:
    value = labels.get(key)
    return value if is_kubernetes_name(value, label=label) else None


@dataclass(frozen=True, kw_only=True)
class Plan:
    """Phase one's commands; with a ``target``, later phases are chosen from their output."""

    commands: tuple[str, ...] = ()
    target: Target | None = None

    def follow_up(self, outputs: Mapping[str, str]) -> tuple[str, ...]:
        """Later phases: commands chosen from the successful ``outputs`` so far (by command);
        called again with each phase's outputs added, until it has nothing new."""
        if self.target is None:
            return ()
        chosen = _phase_two(self.target, outputs)
        return tuple(command for command in dict.fromkeys(chosen) if command not in self.commands)


def plan_for(target: Target | None) -> Plan:
    """The standard reads for ``target``; an empty plan without one."""
    if target is None:
        return Plan()
    return Plan(commands=_phase_one(target), target=target)


def custom_plan(commands: Sequence[str]) -> Plan:
    """A workflow's own command lines, already rendered; a leading ``kubectl`` is dropped."""
    return Plan(commands=tuple(dict.fromkeys(without_kubectl(c) for c in commands)))


def plan_evidence(
    setting: Literal["auto", "off"] | Sequence[str], labels: Mapping[str, object]
) -> Plan:
    """The plan for an agent step's ``evidence`` setting and the alert's labels."""
    if isinstance(setting, str):
        return plan_for(detect_target(labels)) if setting == "auto" else Plan()
    return custom_plan(setting)


def _pod_reads(pod: str, namespace: str) -> tuple[str, ...]:
    return (
        f"describe pod {pod} -n {namespace}",
        f"logs {pod} -n {namespace} --all-containers=true --tail=40",
        f"logs {pod} -n {namespace} --previous --all-containers=true --tail=40",
    )


def _pods_wide(namespace: str) -> str:
    return f"get pods -n {namespace} -o wide"


def _job_pods(job: str, namespace: str) -> str:
    return f"get pods -n {namespace} -l job-name={job}"


def _describe_service(service: str, namespace: str) -> str:
    return f"describe service {service} -n {namespace}"


def _phase_one(target: Target) -> tuple[str, ...]:
    name, namespace = target.name, target.namespace or ""
    match target.kind:
        case "pod":
            events = f"get events -n {namespace} --field-selector involvedObject.name={name}"
            return (*_pod_reads(name, namespace), events)
        case "deployment" | "statefulset" | "daemonset":
            return (
                f"get {target.kind} {name} -n {namespace} -o wide",
                _pods_wide(namespace),
                f"get events -n {namespace}",
            )
        case "job":
            return (f"describe job {name} -n {namespace}", _job_pods(name, namespace))
        case "node":
            return (
                f"describe node {name}",
                f"get events -A --field-selector involvedObject.name={name}",
            )
        case "service":
            return (_describe_service(name, namespace), f"get endpoints {name} -n {namespace}")
        case "pvc":
            return (f"describe pvc {name} -n {namespace}", "get storageclass")
        case _:
            assert_never(target.kind)


def _phase_two(target: Target, outputs: Mapping[str, str]) -> Iterator[str]:
    name, namespace = target.name, target.namespace or ""
    if target.kind in ("deployment", "statefulset", "daemonset"):
        rows = table_rows(outputs.get(_pods_wide(namespace), ""))
        own = [row for row in rows if row.get("NAME", "").startswith(f"{name}-")]
        for pod in _pod_names([row for row in own if is_failing(row)])[:MAX_FOLLOW_UP_PODS]:
            yield from _pod_reads(pod, namespace)
    elif target.kind == "job":
        rows = table_rows(outputs.get(_job_pods(name, namespace), ""))
        rows.sort(key=lambda row: not is_failing(row))  # stable: failing pods first
        for pod in _pod_names(rows)[:MAX_FOLLOW_UP_PODS]:
            yield f"logs {pod} -n {namespace} --all-containers=true --tail=40"
    elif target.kind == "service":
        selector = _selector(outputs.get(_describe_service(name, namespace), ""))
        if selector:
            selected = f"get pods -n {namespace} -l {selector}"
            yield selected
            # Once listed, one selected pod: its ports show whether the targetPort is right,
            # its log why it does not answer.
            for pod in _pod_names(table_rows(outputs.get(selected, "")))[:1]:
                yield f"describe pod {pod} -n {namespace}"
                yield f"logs {pod} -n {namespace} --all-containers=true --tail=40"


_COLUMN = re.compile(r"\S+(?: \S+)*")  # header cells such as "NOMINATED NODE" hold one space
_READY = re.compile(r"(\d+)/(\d+)")
_COUNT = re.compile(r"\d+")


def table_rows(text: str) -> list[dict[str, str]]:
    """Rows of a kubectl table, cut at the header's column offsets (kubectl pads every cell)."""
    lines = text.splitlines()
    header = next((i for i, line in enumerate(lines) if line.startswith("NAME ")), None)
    if header is None:
        return []
    columns = [(m.start(), m.group()) for m in _COLUMN.finditer(lines[header])]
    ends = [start for start, _ in columns[1:]] + [None]
    rows = []
    for line in lines[header + 1 :]:
        if line.strip() and not line.startswith("["):  # "[exit code 1]" and cut markers
            rows.append(
                {
                    title: line[start:end].strip()
                    for (start, title), end in zip(columns, ends, strict=True)
                }
            )
    return rows


def is_failing(row: Mapping[str, str]) -> bool:
    """Not Running/Completed, not all containers ready while running, or restarted."""
    status = row.get("STATUS", "")
    if status not in ("Running", "Completed"):
        return True
    ready = _READY.fullmatch(row.get("READY", ""))
    if status == "Running" and ready and int(ready[1]) < int(ready[2]):
        return True
    restarts = _COUNT.match(row.get("RESTARTS", ""))
    return restarts is not None and int(restarts[0]) > 0


def _pod_names(rows: Sequence[Mapping[str, str]]) -> list[str]:
    names = (row.get("NAME", "") for row in rows)
    return [name for name in names if is_kubernetes_name(name)]


_SELECTOR_LINE = re.compile(r"^Selector:[ \t]*(\S*)[ \t]*$", re.MULTILINE)
_LABEL_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_SELECTOR_TERM = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*/)?{_LABEL_NAME}=(?:{_LABEL_NAME})?")


def _selector(describe: str) -> str | None:
    """The ``Selector:`` of ``describe service`` (``app=web,tier=fe``) if every term is valid."""
    found = _SELECTOR_LINE.search(describe)
    if found is None or found[1] in ("", "<none>"):
        return None
    terms = found[1].split(",")
    return found[1] if all(_SELECTOR_TERM.fullmatch(term) for term in terms) else None
