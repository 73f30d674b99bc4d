"""Facts about what an application cannot reach: a name, a dependency, a Service's pods."""

from __future__ import annotations

import re

from punching_fist.agent.facts.base import Observed, log_lines

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
    for line in log_lines(observed):
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
# A call that connected (or tried) and got no answer in time: slow more often than down.
_NO_ANSWER = re.compile(
    r"context deadline exceeded|Client\.Timeout exceeded|deadline exceeded|read timed? ?out"
    r"|timeout exceeded|code = DeadlineExceeded",
    re.IGNORECASE,
)
_ENDPOINT = re.compile(
    r"\b([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*):(\d{2,5})\b"
)
_IP = re.compile(r"^\d+(?:\.\d+){3}$")
_DATE = re.compile(r"^\d{4}-\d\d-\d\d")  # a timestamp's 2026-11-25T09:59
_SOURCE_FILE = re.compile(r"\.(?:go|py|java|kt|scala|js|ts|rb|rs|c|cc|cpp|php|cs)$")  # file:line
_CLUSTER_NAME = re.compile(r"^([a-z0-9-]+)\.([a-z0-9-]+)\.svc\b")


def dependency_fact(observed: Observed) -> str | None:
    """The application's logs show it cannot connect to something it depends on, or that
    it gets no answer from it in time.

    Names beat addresses (a line often carries both: the configured host and the IP it
    dialled); a cluster name says which Service and namespace to look at next.
    """
    for line in log_lines(observed):
        failure = (
            _NO_ANSWER.search(line) or _UNREACHED.search(line) or _UNREACHED_VAGUELY.search(line)
        )
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
        if _NO_ANSWER.search(failure[0]):
            return (
                f"The application's calls to {where} get no answer in time ({failure[0]}):"
                f" what it depends on there is slow or overloaded.{next_step}"
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
