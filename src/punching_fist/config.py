"""Server settings, built once at start-up (from the command line) and passed down."""

from __future__ import annotations

import os
import secrets
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DB = "sqlite+aiosqlite:///./var/punching-fist.db"

# Variables a `cli` step inherits from the server; everything else (tokens, keys) stays out.
INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "KUBECONFIG", "TMPDIR", "USER")


def default_owner() -> str:
    """A name for this process in run leases: host, pid and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def default_peering_priority() -> int:
    """A random peering priority, so two replicas practically never tie."""
    return secrets.randbelow(1_000_000) + 1


def inherited_env(environ: Mapping[str, str]) -> dict[str, str]:
    return {name: environ[name] for name in INHERITED_ENV if name in environ}


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the server needs to start."""

    resources_dir: Path | None = None
    """Folder of YAML resources (the embedded default); None in Kubernetes mode."""
    database_url: str = DEFAULT_DB
    """SQLAlchemy URL; ``postgresql://...`` selects PostgreSQL."""
    db_wait_seconds: float = 300.0
    """How long start-up waits for an unreachable database (down, starting) before failing."""
    otlp_endpoint: str | None = None
    """Where traces go (an OTLP/HTTP collector's base URL); ``None``: no traces."""
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    """Where people reach this server (behind an ingress); links to runs in Slack, Jira and
    PagerDuty start with it. ``None``: ``http://<host>:<port>``."""
    run_concurrency: int = 16
    """How many workflow runs execute at once."""
    lease_seconds: float = 30.0
    """How long a worker owns a run without renewing; a crashed worker's runs wait this long."""
    sweep_interval_seconds: float = 10.0
    """How often to look for runs whose worker vanished."""
    owner: str = field(default_factory=default_owner)
    base_env: Mapping[str, str] = field(default_factory=dict)
    """Environment every `cli` step starts from."""
    log_level: str = "info"
    json_logs: bool = True
    freeze_heap_after_start: bool = False
    """Exempt what startup built from garbage collection (``serve`` does; see gc_tuning)."""
    kubernetes: bool = False
    """Kubernetes mode: resources come from the cluster, and the operator controller runs."""
    namespaces: tuple[str, ...] = ()
    """Namespaces watched in Kubernetes mode; empty means all."""
    peering_name: str = "punching-fist"
    """kopf peering object through which replicas elect one controller."""
    peering_priority: int = field(default_factory=default_peering_priority)
    """Highest live priority leads; random per replica, because equal priorities all pause."""
    peering_lifetime_seconds: int = 60
    """How long a silent replica still counts as alive to its peers."""
    status_interval_seconds: float = 10.0
    """How often the controller refreshes each resource's status."""
    approval_timeout_seconds: float = 3600.0
    """How long an agent's approval request waits for a decision before it counts as denied."""
    approval_sweep_interval_seconds: float = 15.0
    """How often expired approvals are denied and their runs resumed."""
    agent_stream: bool = False
    """Stream LLM responses (server-sent events) instead of waiting for whole answers."""
    agent_read_only: bool = False
    """``replay``: agent tools never change anything and never wait for a person."""
    kubeconfig: str | None = None
    """The server's kubeconfig for steps' kubectl; ``None``: ``KUBECONFIG``, else
    ``~/.kube/config``, else the pod's service account (see ``punching_fist.kube``)."""
    kubeconfig_dir: Path | None = None
    """Folder of ``<serviceAccount>.kubeconfig`` files, used instead of impersonation."""
    service_account_dir: Path = Path("/var/run/secrets/kubernetes.io/serviceaccount")
    """Where a pod's service account (``token``, ``ca.crt``, ``namespace``) is mounted."""
    service_account_namespace: str | None = None
    """Namespace of the accounts steps name; ``None``: the pod's, else the kubeconfig's."""
    agent_service_account: str | None = None
    """The account of agent steps that name none; ``None``: the server's own credentials."""
    tool_path: str | None = None
    """``PATH`` of the agent's kubectl and script tools; ``None``: the server's ``PATH``."""
    isolate_steps: bool = False
    """Start steps and tools from a spawner process, with this process undumpable, so they
    cannot read its environment or memory (``serve`` does; see ``punching_fist.spawner``)."""
    state_dir: Path = Path("var")
    """Where the server keeps files of its own: the runbook repository's copy
    (``runbooks/``). Beside the default SQLite database."""
