"""Facts about why a pod cannot run: its image, its config, its node, its memory, its probes."""

from __future__ import annotations

import re

from punching_fist.agent.facts.base import Observed, log_lines

_PULL = re.compile(r'Failed to pull image "([^"]+)": (.*)')
_PULL_AUTH = re.compile(
    r"\b401\b|unauthori[sz]ed|authentication required|no basic auth credentials"
    r"|failed to authorize|\b403\b|forbidden|insufficient_scope",
    re.IGNORECASE,
)
_PULL_RATE = re.compile(
    r"\b429 Too Many Requests|toomanyrequests|too many requests|\b429\b|rate limit",
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
            if rate := _PULL_RATE.search(error):
                # Docker Hub's 429 suggests "authenticating": a limit, not refused credentials.
                return (
                    f'The registry rate-limits pulls of image {image} ("{rate[0]}"): pull'
                    " with credentials (imagePullSecrets) or from a mirror."
                )
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
_LIVENESS_SETTINGS = re.compile(
    r"^\s*Liveness:.*?delay=(\d+)s .*?period=(\d+)s .*?#failure=(\d+)", re.M
)
# Spring Boot's "Started App in 94.317 seconds", Quarkus's "started in 12.345s".
_STARTED_IN = re.compile(r"\b[Ss]tarted\b.*?\bin (\d+(?:\.\d+)?) ?s(?:ec(?:ond)?s?)?\b")


def liveness_fact(observed: Observed) -> str | None:
    """A failing liveness probe: the kubelet kills and restarts the container for it.

    When the application's log says how long it took to start and that is longer than the
    probe waits (its delay plus failures times period), the probe kills it while it starts.
    """
    for _, output in observed:
        if found := _LIVENESS.search(output):
            said = " ".join(found[1].split())[:160]
            return (
                f"The liveness probe fails ({said}), so the kubelet kills and restarts the"
                f" container: {_probe_blame(observed, said)}"
            )
    return None


_NOTHING_LISTENS = re.compile(r"connection refused", re.IGNORECASE)


def _probe_blame(observed: Observed, probe_error: str) -> str:
    settings = next((m for _, output in observed if (m := _LIVENESS_SETTINGS.search(output))), None)
    if settings is None:
        return "the probe or the endpoint it checks is the problem."
    delay, period, failures = (int(settings[i]) for i in (1, 2, 3))
    waits = f"{delay}s delay + {failures} failures x {period}s"
    started = next((m for line in log_lines(observed) if (m := _STARTED_IN.search(line))), None)
    if started and float(started[1]) > delay + period * failures:
        return (
            f"the application needs {started[1]} s to start, longer than the probe allows"
            f" ({waits}), so it is killed while starting: add a startupProbe or raise"
            " initialDelaySeconds."
        )
    if _NOTHING_LISTENS.search(probe_error):
        return (
            "nothing listens on the probed port yet. The probe gives up"
            f" {delay + period * failures} s after start ({waits}): if the application takes"
            " longer to start, it is killed while starting (add a startupProbe or raise"
            " initialDelaySeconds); else it listens on another port."
        )
    return "the probe or the endpoint it checks is the problem."


_MOUNT_MISSING = re.compile(
    r'MountVolume\.SetUp failed for volume "([^"]+)" : (secret|configmap) "([^"]+)" not found'
)
_MULTI_ATTACH = re.compile(r'Multi-Attach error for volume "([^"]+)"')


def mount_fact(observed: Observed) -> str | None:
    """A volume the kubelet cannot mount, so the pod stays in ContainerCreating."""
    for _, output in observed:
        if found := _MOUNT_MISSING.search(output):
            kind = "Secret" if found[2] == "secret" else "ConfigMap"
            return (
                f'The pod cannot start: its volume "{found[1]}" needs the {kind} "{found[3]}",'
                " which does not exist (FailedMount)."
            )
        if found := _MULTI_ATTACH.search(output):
            return (
                f'Volume "{found[1]}" is still attached to another node (Multi-Attach error):'
                " the pod waits until the old node releases it."
            )
    return None


_EVICTED = re.compile(r"The node was low on resource: \[?([\w.-]+)\]?\.(.*)")
_USING = re.compile(
    r"Container (\S+) was using (\S+?),? (?:which exceeds its request of|request is) (\S+?)[,.]"
)


def eviction_fact(observed: Observed) -> str | None:
    """Pods the kubelet evicted to reclaim a resource the node ran low on."""
    for _, output in observed:
        if found := _EVICTED.search(output):
            using = _USING.search(found[2])
            detail = (
                f" Container {using[1]} was using {using[2]} with a request of {using[3]}."
                if using
                else ""
            )
            return (
                f"Pods were evicted: the node ran low on {found[1]}, and the kubelet evicted"
                f" pods to reclaim it.{detail}"
            )
    return None


_NOT_IN_IMAGE = re.compile(
    r'exec: "([^"]+)": (?:executable file not found in \$PATH|stat [^:]+: no such file)'
)
_EXEC_FORMAT = re.compile(r"exec (\S+): exec format error")


def command_fact(observed: Observed) -> str | None:
    """A container whose command cannot run: missing from the image, or built for another CPU."""
    for _, output in observed:
        if found := _NOT_IN_IMAGE.search(output):
            return (
                f'The container\'s command "{found[1]}" does not exist in the image'
                " (executable file not found): the command or the image is wrong."
            )
        if found := _EXEC_FORMAT.search(output):
            return (
                f"The container's binary {found[1]} is built for another CPU architecture"
                " (exec format error): the image does not match the node's architecture."
            )
    return None
