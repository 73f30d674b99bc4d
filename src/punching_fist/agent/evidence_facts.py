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
            f"{name or 'This alert'} is a heartbeat alert: it fires all the time by design, to"
            " show that the alerting pipeline works. Its firing is expected: nothing is wrong."
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


_SERVICE = re.compile(r"^describe service (\S+) -n (\S+)$")
_SELECTOR = re.compile(r"^Selector:[ \t]*(\S+)[ \t]*$", re.MULTILINE)
_TARGET_PORT = re.compile(r"^TargetPort:[ \t]*(\d+)/(\w+)", re.MULTILINE)
_CONTAINER_PORTS = re.compile(r"^\s+Ports?:[ \t]*(.+)$", re.MULTILINE)
_PORT = re.compile(r"(\d+)/(\w+)")
_NO_PODS = re.compile(r"^No resources found", re.MULTILINE)


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
        if pods is not None and _NO_PODS.search(pods):
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


_CHECKS: tuple[Callable[[Observed], str | list[str] | None], ...] = (
    pull_fact,
    dns_fact,
    service_facts,
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
