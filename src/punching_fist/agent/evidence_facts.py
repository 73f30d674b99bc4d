"""Facts read off the gathered evidence by rules, stated plainly for a small model.

A 1.5B model given ``describe service`` and an empty pod list answers "the service is not
running"; given a 480-character pull error it answers "the image could not be pulled". An
engineer reads the same output and says *the selector matches no pod* or *the registry
refused the credentials*. Each check here does one such reading, only where the output
shows it unambiguously, and says what it saw, so the model's answer can follow from a
sentence instead of from a screen of output. A check that is unsure says nothing: a wrong
fact costs more than a missing one.

The alert's own text is read only to recognise a heartbeat (an alert that fires all the
time by design), where the right answer is that nothing is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from punching_fist.agent.evidence_plan import is_failing, table_rows

Observed = Sequence[tuple[str, str]]
"""(command, output) pairs, as the evidence gathered them."""

_HEARTBEAT_NAMES = frozenset(
    {"watchdog", "deadmansswitch", "deadmanssnitch", "heartbeat", "alwaysfiring"}
)
_HEARTBEAT_TEXT = re.compile(
    r"always (?:be )?firing|alerting pipeline is functional|dead ?man'?s? ?(?:switch|snitch)",
    re.IGNORECASE,
)


def heartbeat_fact(alert: Mapping[str, Any]) -> str | None:
    """A heartbeat alert (Watchdog, DeadMansSwitch) fires while the pipeline works."""
    labels = alert.get("labels") or {}
    annotations = alert.get("annotations") or {}
    name = str(labels.get("alertname", "")) if isinstance(labels, Mapping) else ""
    texts = annotations.values() if isinstance(annotations, Mapping) else ()
    if name.lower().replace("_", "") in _HEARTBEAT_NAMES or any(
        isinstance(text, str) and _HEARTBEAT_TEXT.search(text) for text in texts
    ):
        return (
            f"Nothing is wrong: {name or 'this alert'} is a heartbeat alert. It fires all the"
            " time by design, to show that the alerting pipeline works."
        )
    return None


_PULL = re.compile(r'Failed to pull image "([^"]+)": (.*)')
_PULL_AUTH = re.compile(
    r"\b401\b|unauthori[sz]ed|authentication required|no basic auth credentials"
    r"|failed to authorize|\b403\b|forbidden|insufficient_scope",
    re.IGNORECASE,
)
_PULL_AMBIGUOUS = re.compile(r"repository does not exist or may require", re.IGNORECASE)
_PULL_MISSING = re.compile(r"not found|manifest unknown|no such manifest|\b404\b", re.IGNORECASE)
_PULL_NETWORK = re.compile(
    r"no such host|i/o timeout|connection refused|TLS handshake|x509|network is unreachable",
    re.IGNORECASE,
)


def pull_fact(observed: Observed) -> str | None:
    """Why an image pull failed, from the kubelet's ``Failed to pull image`` event."""
    for _, output in observed:
        for line in output.splitlines():
            found = _PULL.search(line)
            if found is None:
                continue
            image, error = found[1], found[2]
            if _PULL_AMBIGUOUS.search(error):
                return (
                    f"The registry denied the pull of image {image}: the repository does not"
                    " exist or needs credentials (imagePullSecrets)."
                )
            if auth := _PULL_AUTH.search(error):
                # A wrapped error ends with its cause: quote that part when it is the refusal.
                last = error.rsplit(": ", 1)[-1].strip()
                said = last if _PULL_AUTH.search(last) and len(last) <= 80 else auth[0]
                return (
                    f"The registry refused the pull credentials for image {image}"
                    f' ("{said}"): the imagePullSecret is missing, wrong or expired.'
                )
            if _PULL_MISSING.search(error):
                return (
                    f"Image {image} does not exist in the registry (not found): the image name"
                    " or tag is wrong."
                )
            if network := _PULL_NETWORK.search(error):
                return f'The node cannot reach the registry of image {image} ("{network[0]}").'
    return None


_LOOKUP = re.compile(
    r"lookup (?P<host>[A-Za-z0-9_.-]+)(?: on (?P<server>[\w.\[\]]+(?::\d+)?))?:.*?"
    r"(?P<error>i/o timeout|no such host|server misbehaving)"
)
_RESOLVE = re.compile(
    r"Temporary failure in name resolution|Name or service not known"
    r"|getaddrinfo (?:ENOTFOUND|EAI_AGAIN)|UnknownHostException|Could not resolve host",
    re.IGNORECASE,
)


def dns_fact(observed: Observed) -> str | None:
    """A name lookup that fails in the application's logs."""
    for command, output in observed:
        if not command.startswith("logs "):
            continue
        for line in output.splitlines():
            if found := _LOOKUP.search(line):
                host, server, error = found["host"], found["server"], found["error"]
                if error == "no such host":
                    return (
                        f"DNS lookup of {host} fails: no such host (the name is wrong or what"
                        " it names does not exist)."
                    )
                at = f" at {server}" if server else ""
                return (
                    f"DNS lookup of {host} fails: the DNS server{at} does not answer"
                    f" ({error}), so name resolution fails. Check egress NetworkPolicies"
                    " (DNS needs UDP/TCP port 53 to kube-dns) and CoreDNS."
                )
            if found := _RESOLVE.search(line):
                return f'DNS name resolution fails in the application\'s logs ("{found[0]}").'
    return None


_UNREACHED = re.compile(
    r"connection refused|ECONNREFUSED|i/o timeout|timed out|connection reset|no route to host",
    re.IGNORECASE,
)
_UNREACHED_VAGUELY = re.compile(r"\brefused\b|code = Unavailable", re.IGNORECASE)
_ENDPOINT = re.compile(
    r"\b([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*):(\d{2,5})\b"
)
_IP = re.compile(r"^\d+(?:\.\d+){3}$")
_DATE = re.compile(r"^\d{4}-\d\d-\d\d")  # a timestamp's 2026-11-25T09:59
_SOURCE_FILE = re.compile(r"\.(?:go|py|java|kt|scala|js|ts|rb|rs|c|cc|cpp|php|cs)$")  # file:line
_CLUSTER_NAME = re.compile(r"^([a-z0-9-]+)\.([a-z0-9-]+)\.svc\b")


def dependency_fact(observed: Observed) -> str | None:
    """The application's logs show it cannot connect to something it depends on.

    Names beat addresses (a line often carries both: the configured host and the IP it
    dialled); a cluster name says which Service and namespace to look at next.
    """
    for command, output in observed:
        if not command.startswith("logs "):
            continue
        for line in output.splitlines():
            failure = _UNREACHED.search(line) or _UNREACHED_VAGUELY.search(line)
            if failure is None or "lookup " in line:  # name lookups are dns_fact's
                continue
            endpoints = [
                m
                for m in _ENDPOINT.finditer(line)
                if not (m[1].isdigit() or _DATE.match(m[1]) or _SOURCE_FILE.search(m[1]))
            ]
            # A Service's cluster name first, then any other name, then an address.
            ranked = sorted(
                endpoints,
                key=lambda m: 0 if _CLUSTER_NAME.match(m[1]) else 2 if _IP.match(m[1]) else 1,
            )
            chosen = ranked[0] if ranked else None
            if chosen is None:
                continue
            where = f"{chosen[1]}:{chosen[2]}"
            service = _CLUSTER_NAME.match(chosen[1])
            next_step = (
                f" Look at Service {service[1]} in namespace {service[2]} and its pods."
                if service
                else ""
            )
            return (
                f"The application cannot connect to {where} ({failure[0]}): what it depends"
                f" on there is down or not accepting connections.{next_step}"
            )
    return None


_SERVICE = re.compile(r"^describe service (\S+) -n (\S+)$")
_SELECTOR = re.compile(r"^Selector:[ \t]*(\S+)[ \t]*$", re.MULTILINE)
_TARGET_PORT = re.compile(r"^TargetPort:[ \t]*(\d+)/(\w+)", re.MULTILINE)
_CONTAINER_PORTS = re.compile(r"^\s+Ports?:[ \t]*(.+)$", re.MULTILINE)
_PORT = re.compile(r"(\d+)/(\w+)")
_NO_PODS = re.compile(r"^No resources found", re.MULTILINE)
_NO_ENDPOINTS = re.compile(r"^Endpoints:[ \t]*(?:<none>)?[ \t]*$", re.MULTILINE)


def service_facts(observed: Observed) -> list[str]:
    """A Service whose selector matches no pod, or whose targetPort no selected pod exposes."""
    outputs = dict(observed)
    facts: list[str] = []
    for command, output in observed:
        found = _SERVICE.match(command)
        selector = _SELECTOR.search(output)
        if found is None or selector is None or selector[1] == "<none>":
            continue
        name, namespace = found[1], found[2]
        pods = outputs.get(f"get pods -n {namespace} -l {selector[1]}")
        # Both must agree: no pod listed, and no endpoint (a pod that matches is one).
        if pods is not None and _NO_PODS.search(pods) and _NO_ENDPOINTS.search(output):
            facts.append(
                f"Service {name} selects pods labelled {selector[1]}, but no pod in {namespace}"
                " has that label, so the Service has no endpoints: its selector does not match"
                " the pods' labels."
            )
            continue
        target = _TARGET_PORT.search(output)
        if target is None:
            continue
        for pod_command, pod_output in observed:
            if not (pod_command.startswith("describe pod ") and pod_command.endswith(namespace)):
                continue
            ports = {
                (number, protocol)
                for line in _CONTAINER_PORTS.findall(pod_output)
                for number, protocol in _PORT.findall(line)
            }
            if ports and (target[1], target[2]) not in ports:
                listed = ", ".join(f"{n}/{p}" for n, p in sorted(ports))
                pod = pod_command.split()[2]
                facts.append(
                    f"Service {name} sends traffic to targetPort {target[1]}/{target[2]}, but"
                    f" pod {pod} (selected by it) listens on {listed}: the Service's targetPort"
                    " does not match the container port."
                )
            break
    return facts


_UNSCHEDULABLE = re.compile(
    r"FailedScheduling\s.*?\d+/(\d+) nodes are available: (.*?)\.(?: preemption:|$)"
)
_CONTROL_PLANE = re.compile(r"untolerated taint \{node-role\.kubernetes\.io/(control-plane|master)")


_INSUFFICIENT = re.compile(r"^(\d+) Insufficient (\S+)$")


def _insufficient(found: re.Match[str]) -> str:
    return f"{found[1]} node(s) have too little free {found[2]} for the pod's requests"


def scheduling_fact(observed: Observed) -> str | None:
    """Why the scheduler places a pod on no node, from its ``FailedScheduling`` event.

    The control-plane taint every cluster has is left out when other reasons remain: it
    says only that workloads do not run there, which is by design.
    """
    for _, output in observed:
        for line in output.splitlines():
            if found := _UNSCHEDULABLE.search(line):
                reasons = [r.strip() for r in found[2].split(", ") if r.strip()]
                telling = [r for r in reasons if not _CONTROL_PLANE.search(r)] or reasons
                telling = [_INSUFFICIENT.sub(_insufficient, r) for r in telling]
                return (
                    f"The scheduler finds no node for the pod (0 of {found[1]} nodes fit):"
                    f" {'; '.join(telling)}."
                )
    return None


_STORAGE_CLASS = re.compile(r'storageclass\.storage\.k8s\.io "([^"]+)" not found')


def storage_class_fact(observed: Observed) -> str | None:
    """A claim that names a StorageClass the cluster does not have is never provisioned."""
    for _, output in observed:
        if found := _STORAGE_CLASS.search(output):
            return (
                f'The PersistentVolumeClaim asks for StorageClass "{found[1]}", which does not'
                " exist, so no volume is provisioned and the claim stays unbound."
            )
    return None


_OOM = re.compile(r"^\s*Reason:\s+OOMKilled\b", re.MULTILINE)
_MEMORY_LIMIT = re.compile(r"^\s*Limits:\s*\n(?:\s+\w+:\s+\S+\n)*?\s+memory:\s+(\S+)", re.MULTILINE)


def oom_fact(observed: Observed) -> str | None:
    """A container the kernel killed for using more memory than its limit."""
    for command, output in observed:
        if command.startswith("describe pod") and _OOM.search(output):
            limit = _MEMORY_LIMIT.search(output)
            within = f" of {limit[1]}" if limit else ""
            return (
                f"A container was OOMKilled: it used more memory than its limit{within}, and"
                " the kernel killed it."
            )
    return None


_CONFIG_MISSING = re.compile(
    r'Error: (secret|configmap) "([^"]+)" not found'
    r"|Error: couldn't find key (\S+) in (Secret|ConfigMap) (\S+)"
)


def config_fact(observed: Observed) -> str | None:
    """A container that cannot start because a Secret or ConfigMap it references is missing."""
    for _, output in observed:
        if found := _CONFIG_MISSING.search(output):
            if found[1]:
                kind = "Secret" if found[1] == "secret" else "ConfigMap"
                return (
                    f'The container cannot start: the {kind} "{found[2]}" it references does'
                    " not exist (CreateContainerConfigError)."
                )
            return (
                f"The container cannot start: key {found[3]} is missing from {found[4]}"
                f" {found[5]} (CreateContainerConfigError)."
            )
    return None


_LIVENESS = re.compile(r"Liveness probe failed: (.*)")


def liveness_fact(observed: Observed) -> str | None:
    """A failing liveness probe: the kubelet kills and restarts the container for it."""
    for _, output in observed:
        if found := _LIVENESS.search(output):
            said = " ".join(found[1].split())[:160]
            return (
                f"The liveness probe fails ({said}), so the kubelet kills and restarts the"
                " container: the probe or the endpoint it checks is the problem."
            )
    return None


_NOT_READY_NODE = re.compile(
    r"^\s*Ready\s+(?:False|Unknown)\s.*?\s(Kubelet\w+|NodeStatusUnknown)\s+(.+)$", re.MULTILINE
)


def node_fact(observed: Observed) -> str | None:
    """A node whose Ready condition is not True, with the kubelet's own reason."""
    for command, output in observed:
        if command.startswith("describe node") and (found := _NOT_READY_NODE.search(output)):
            return f"The node is NotReady: {found[1]}: {' '.join(found[2].split())[:200]}."
    return None


_WORKLOAD = re.compile(r"^get (deployment|statefulset|daemonset) (\S+) -n (\S+) -o wide$")
_READY_OF = re.compile(r"^(\d+)/(\d+)$")


def recovered_fact(observed: Observed) -> str | None:
    """A workload alert whose workload is whole again: every replica ready and available,
    none of its pods failing or restarting. The alert reports what was; this is what is."""
    outputs = dict(observed)
    for command, output in observed:
        found = _WORKLOAD.match(command)
        rows = table_rows(output) if found else []
        if found is None or len(rows) != 1:
            continue
        kind, name, namespace = found[1], found[2], found[3]
        row = rows[0]
        if kind == "daemonset":
            desired = row.get("DESIRED", "")
            whole = desired not in ("", "0") and all(
                row.get(column) == desired for column in ("READY", "UP-TO-DATE", "AVAILABLE")
            )
            ready = f"{row.get('READY')}/{desired}"
        else:
            counts = _READY_OF.match(row.get("READY", ""))
            whole = counts is not None and counts[1] == counts[2] != "0"
            if "AVAILABLE" in row:
                whole = whole and row["AVAILABLE"] == row.get("READY", "").split("/")[-1]
            ready = row.get("READY", "")
        pods = [
            pod
            for pod in table_rows(outputs.get(f"get pods -n {namespace} -o wide", ""))
            if pod.get("NAME", "").startswith(f"{name}-")
        ]
        if whole and pods and not any(is_failing(pod) for pod in pods):
            return (
                f"Nothing is wrong now: {kind} {name} has recovered. It is whole: {ready}"
                " replicas ready and available, none of its pods failing or restarting."
            )
    return None


_CHECKS: tuple[Callable[[Observed], str | list[str] | None], ...] = (
    pull_fact,
    config_fact,
    oom_fact,
    scheduling_fact,
    storage_class_fact,
    liveness_fact,
    node_fact,
    dns_fact,
    service_facts,
    dependency_fact,
    recovered_fact,
)


def evidence_facts(alert: Mapping[str, Any], observed: Iterable[tuple[str, str]]) -> list[str]:
    """What the rules read off the alert and the evidence, most telling first."""
    pairs = list(observed)
    facts: list[str] = []
    if beat := heartbeat_fact(alert):
        facts.append(beat)
    for check in _CHECKS:
        found = check(pairs)
        if isinstance(found, str):
            facts.append(found)
        elif found:
            facts.extend(found)
    return facts
