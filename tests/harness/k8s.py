"""A real Kubernetes API server from the shared kit (``/work/shared/k8s-test-apiserver``).

The kit's ``start.sh`` launches etcd and the API server detached (``setsid``) and records
their pids; ``stop.sh`` only sends SIGTERM. We therefore note the pids ourselves and make
sure both processes are gone, escalating to SIGKILL, before the fixture returns.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.harness.ports import LOOPBACK, free_port_with_offsets
from tests.harness.processes import (
    ManagedProcess,
    PortInUseError,
    ServiceStartError,
    mentions_port_clash,
    read_tail,
)

# etcd listens on PORT+10000 (clients) and PORT+10001 (peers); see the kit's README.
KIT_PORT_OFFSETS = (0, 10000, 10001)
KIT_PROCESSES = ("apiserver", "etcd")
KIT_TOOLS = ("kubectl", "openssl", "curl")
START_TIMEOUT = 180.0
START_ATTEMPTS = 3


def default_kit_dir(repo_root: Path, environ: Mapping[str, str] | None = None) -> Path:
    """Where the kit is: ``$PF_TEST_K8S_KIT``, else next to the checkout
    (``<repo>/../shared/k8s-test-apiserver``), else the workplace's ``/work/shared`` copy
    (for a clone made elsewhere, e.g. a scratch directory)."""
    environ = os.environ if environ is None else environ
    if environ.get("PF_TEST_K8S_KIT"):
        return Path(environ["PF_TEST_K8S_KIT"])
    candidates = [
        repo_root.parent / "shared" / "k8s-test-apiserver",
        Path("/work/shared/k8s-test-apiserver"),
    ]
    return next((kit for kit in candidates if (kit / "start.sh").is_file()), candidates[0])


def kit_problems(kit: Path) -> list[str]:
    """Return why the kit cannot be used here (empty when it can)."""
    problems = [
        f"no {kit / name}" for name in ("start.sh", "stop.sh") if not (kit / name).is_file()
    ]
    problems += [f"{tool} not on PATH" for tool in KIT_TOOLS if shutil.which(tool) is None]
    return problems


@dataclass(frozen=True, kw_only=True)
class K8sApiServer:
    """A reachable API server and the kubeconfig that reaches it."""

    kubeconfig: Path
    """Admin kubeconfig (client certificate; the kit has no RBAC)."""
    server: str | None = None
    """``https://127.0.0.1:PORT`` when the harness started it; ``None`` for a given cluster."""

    def env(self) -> dict[str, str]:
        """The current environment with ``KUBECONFIG`` pointing at this server."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float = 60.0) -> str:
        """Run kubectl against this server and return stdout; raise with stderr on failure."""
        done = subprocess.run(
            ["kubectl", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"kubectl {' '.join(args)} failed ({done.returncode}):\n{done.stderr}"
            )
        return done.stdout


@contextlib.contextmanager
def running_k8s_apiserver(kit: Path, workdir: Path) -> Iterator[K8sApiServer]:
    """Start etcd + API server on free ports, yield, and stop both."""
    for attempt in range(1, START_ATTEMPTS + 1):
        state = workdir / f"attempt-{attempt}"
        try:
            server = _start(kit, state)
        except PortInUseError:
            if attempt == START_ATTEMPTS:
                raise
            continue
        try:
            yield server
        finally:
            _stop(kit, state)
        return


def _start(kit: Path, state: Path) -> K8sApiServer:
    port = free_port_with_offsets(KIT_PORT_OFFSETS)
    env = {key: value for key, value in os.environ.items() if key != "KUBECONFIG"}
    script = ManagedProcess(
        "k8s start.sh",
        [str(kit / "start.sh"), str(kit / "bin"), str(state), str(port)],
        log_path=state.parent / f"{state.name}-start.log",
        env=env,
    )
    logs = [state / f"{name}.log" for name in KIT_PROCESSES]
    deadline = time.monotonic() + START_TIMEOUT
    # The script itself only notices a lost port after minutes of kubectl retries, so the
    # logs are watched while it runs. Leaving the block stops the script and its kubectl.
    with script:
        while script.running and time.monotonic() < deadline:
            if any(mentions_port_clash(read_tail(log)) for log in logs):
                break
            time.sleep(0.1)
        code = script.returncode
    if code == 0:
        return K8sApiServer(kubeconfig=state / "kubeconfig", server=f"https://{LOOPBACK}:{port}")
    tails = {log.name: read_tail(log) for log in logs}
    _stop(kit, state)
    error = PortInUseError if any(map(mentions_port_clash, tails.values())) else ServiceStartError
    problem = f"start.sh exited with {code}" if code is not None else "start.sh did not finish"
    report = "\n".join(f"--- {name}:\n{tail}" for name, tail in tails.items())
    raise error(f"{problem} (port {port})\n--- start.sh:\n{script.log_tail()}\n{report}")


def _stop(kit: Path, state: Path) -> None:
    pids = [_read_pid(state / f"{name}.pid") for name in KIT_PROCESSES]
    subprocess.run([str(kit / "stop.sh"), str(state)], timeout=30, check=False)
    deadline = time.monotonic() + 10
    for pid in pids:
        if pid is None:
            continue
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        # Each was started by setsid, so its pid is its process group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs; a zombie counts as gone (its reaper is not us)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The state letter follows the command name, which is in parentheses and may hold spaces.
    return stat.rpartition(")")[2].split()[0] != "Z"
