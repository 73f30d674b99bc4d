"""Facts about what the cluster refuses: a node that is not well, pods it will not create."""

from __future__ import annotations

import re

from punching_fist.agent.facts.base import Observed

_NOT_READY_NODE = re.compile(
    r"^\s*Ready\s+(?:False|Unknown)\s.*?\s(Kubelet\w+|NodeStatusUnknown)\s+(.+)$", re.MULTILINE
)
_PRESSURE = re.compile(
    r"^\s*(MemoryPressure|DiskPressure|PIDPressure)\s+True\s.*?\s(Kubelet\w+)\s+(.+)$",
    re.MULTILINE,
)


def node_fact(observed: Observed) -> str | None:
    """A node whose Ready condition is not True, or that is under pressure, with the
    kubelet's own reason."""
    for command, output in observed:
        if not command.startswith("describe node"):
            continue
        if found := _NOT_READY_NODE.search(output):
            return f"The node is NotReady: {found[1]}: {_said(found[2])}."
        if found := _PRESSURE.search(output):
            return (
                f"The node has {found[1]} ({found[2]}: {_said(found[3])}): the kubelet evicts"
                " pods and refuses new ones until it is relieved."
            )
    return None


_CREATE = re.compile(r'Error creating: (?:pods "[^"]*" is forbidden: )?(.+)')
_QUOTA = re.compile(r"exceeded quota: ([\w.-]+), requested: (.+?), used: (.+?), limited: (\S+)")
_QUOTA_SPEC = re.compile(r"failed quota: ([\w.-]+): must specify (.+)")
_POD_SECURITY = re.compile(r'violates PodSecurity "([^"]+)": (.+)')
_NO_ACCOUNT = re.compile(r'serviceaccount "([^"]+)" not found')


def create_fact(observed: Observed) -> str | None:
    """Pods a controller cannot create (its ``FailedCreate`` event): the API refused them."""
    for _, output in observed:
        for line in output.splitlines():
            if (found := _CREATE.search(line)) is None:
                continue
            error = found[1].strip()
            if quota := _QUOTA.search(error):
                return (
                    f"New pods are refused: ResourceQuota {quota[1]} is used up (requested"
                    f" {quota[2]}, used {quota[3]}, limited {quota[4]})."
                )
            if spec := _QUOTA_SPEC.search(error):
                return (
                    f"New pods are refused: ResourceQuota {spec[1]} requires them to specify"
                    f" {_said(spec[2])}."
                )
            if psa := _POD_SECURITY.search(error):
                return (
                    f'New pods are refused by Pod Security admission ("{psa[1]}"): {_said(psa[2])}.'
                )
            if account := _NO_ACCOUNT.search(error):
                return f'New pods are refused: their service account "{account[1]}" does not exist.'
            return f"New pods cannot be created: {_said(error)}."
    return None


def _said(text: str, limit: int = 200) -> str:
    """Text quoted from the evidence: whitespace collapsed, cut to ``limit``, no end stop."""
    return " ".join(text.split())[:limit].rstrip(".")
