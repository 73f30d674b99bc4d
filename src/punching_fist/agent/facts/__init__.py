"""Facts read off the gathered evidence by rules, stated plainly for a small model.

A 1.5B model given ``describe service`` and an empty pod list answers "the service is not
running"; given a 480-character pull error it answers "the image could not be pulled". An
engineer reads the same output and says *the selector matches no pod* or *the registry
refused the credentials*. Each check here does one such reading, only where the output
shows it unambiguously, and says what it saw, so the model's answer can follow from a
sentence instead of from a screen of output. A check that is unsure says nothing: a wrong
fact costs more than a missing one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from punching_fist.agent.facts.base import Observed
from punching_fist.agent.facts.cluster import create_fact, node_fact
from punching_fist.agent.facts.health import heartbeat_fact, recovered_fact
from punching_fist.agent.facts.logs import (
    certificate_fact,
    config_file_fact,
    crash_fact,
    credentials_fact,
    environment_fact,
    file_access_fact,
)
from punching_fist.agent.facts.network import dependency_fact, dns_fact, service_facts
from punching_fist.agent.facts.pods import (
    command_fact,
    config_fact,
    eviction_fact,
    liveness_fact,
    mount_fact,
    oom_fact,
    pull_fact,
    scheduling_fact,
    storage_class_fact,
)

__all__ = ["Observed", "evidence_facts"]

_CHECKS: tuple[Callable[[Observed], str | list[str] | None], ...] = (
    # Why a pod cannot run, as the cluster reports it.
    pull_fact,
    config_fact,
    mount_fact,
    command_fact,
    oom_fact,
    eviction_fact,  # before scheduling: evictions taint the node its pods cannot return to
    scheduling_fact,
    storage_class_fact,
    liveness_fact,
    create_fact,
    node_fact,
    # What the application says it fails on.
    environment_fact,
    config_file_fact,
    credentials_fact,
    file_access_fact,
    certificate_fact,
    dns_fact,
    dependency_fact,
    service_facts,
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
    # The error the application died with restates a log line: said only when nothing
    # above explains more (a missing variable's KeyError is the environment fact's).
    if not facts and (crash := crash_fact(pairs)):
        facts.append(crash)
    return facts
