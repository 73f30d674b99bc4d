"""A throwaway PostgreSQL 15 server on 127.0.0.1 with trust authentication.

``initdb`` refuses to run as root, so when the suite runs as root (CI does) the server runs
as the ``postgres`` system user via ``setpriv``, which execs in place: the process we signal
is the postmaster itself, not a wrapper. Its data directory therefore cannot live under
pytest's per-user temp root (mode 0700, owned by root); it gets its own temp directory,
removed when the server stops.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.harness.ports import LOOPBACK, free_port
from tests.harness.processes import ManagedProcess, PortInUseError, ServiceStartError

POSTGRES_BINDIR = Path("/usr/lib/postgresql/15/bin")
SUPERUSER = "postgres"
DEFAULT_DATABASE = "pf_test"
START_ATTEMPTS = 3

# Database names are interpolated into SQL; allow only what needs no quoting tricks.
_DB_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

# Durability is pointless for a server that is deleted after the run, and costs seconds.
_FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


def postgres_binaries_missing(bindir: Path = POSTGRES_BINDIR) -> list[str]:
    """Return the PostgreSQL programs the harness needs but cannot find."""
    needed = [bindir / "initdb", bindir / "postgres", bindir / "pg_isready", bindir / "psql"]
    return [str(path) for path in needed if not os.access(path, os.X_OK)]


@dataclass(frozen=True, kw_only=True)
class PostgresServer:
    """Where a running test server listens, bound to one database."""

    host: str
    """Always 127.0.0.1: tests contact nothing else."""
    port: int
    """TCP port chosen free at start."""
    user: str
    """The superuser; authentication is ``trust``, so no password."""
    database: str
    """The database this handle points at; ``with_database`` makes handles for others."""
    bindir: Path = POSTGRES_BINDIR
    """Where ``psql`` is found for administrative statements."""

    @property
    def dsn(self) -> str:
        """libpq/asyncpg URL, e.g. ``postgresql://postgres@127.0.0.1:5432/pf_test``."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def async_url(self) -> str:
        """SQLAlchemy URL using the asyncpg driver."""
        return f"postgresql+asyncpg://{self.user}@{self.host}:{self.port}/{self.database}"

    def with_database(self, name: str) -> PostgresServer:
        """The same server, pointing at database ``name`` (which must exist)."""
        return dataclasses.replace(self, database=name)

    def create_database(self, name: str) -> PostgresServer:
        """Create an empty database and return a handle pointing at it."""
        self.execute(f'CREATE DATABASE "{_checked_name(name)}"')
        return self.with_database(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting any sessions a test forgot to close."""
        self.execute(f'DROP DATABASE IF EXISTS "{_checked_name(name)}" WITH (FORCE)')

    def execute(self, sql: str, *, database: str = "postgres") -> str:
        """Run one statement through psql and return its unaligned output."""
        argv = [
            str(self.bindir / "psql"),
            *("-h", self.host, "-p", str(self.port), "-U", self.user, "-d", database),
            *("-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql),
        ]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"psql failed ({done.returncode}) on {sql!r}: {done.stderr}")
        return done.stdout.strip()


def _checked_name(name: str) -> str:
    if not _DB_NAME.fullmatch(name):
        raise ValueError(f"database name {name!r} must match {_DB_NAME.pattern}")
    return name


def _as_server_user(argv: list[str]) -> list[str]:
    """Prefix ``argv`` so it runs as ``postgres`` when we are root, unchanged otherwise."""
    if os.geteuid() != 0:
        return argv
    return ["setpriv", f"--reuid={SUPERUSER}", f"--regid={SUPERUSER}", "--init-groups", *argv]


def _give_to_server_user(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SUPERUSER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _initdb(bindir: Path, datadir: Path, log: Path) -> None:
    argv = _as_server_user(
        [
            str(bindir / "initdb"),
            *("-D", str(datadir), "--username", SUPERUSER, "--auth=trust"),
            *("--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"),
        ]
    )
    with log.open("ab") as out:
        done = subprocess.run(
            argv, stdout=out, stderr=subprocess.STDOUT, cwd=datadir.parent, timeout=120, check=False
        )
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise ServiceStartError(f"initdb failed ({done.returncode}):\n{tail}")


@contextlib.contextmanager
def running_postgres(bindir: Path = POSTGRES_BINDIR) -> Iterator[PostgresServer]:
    """Initialise a cluster, start it on a free port, create ``pf_test``, and clean up."""
    workdir = Path(tempfile.mkdtemp(prefix="pf-test-postgres-"))
    try:
        workdir.chmod(0o755)  # the server user must reach its data dir inside
        datadir, sockdir = workdir / "data", workdir / "sock"
        for directory in (datadir, sockdir):
            directory.mkdir(mode=0o700)
            _give_to_server_user(directory)
        _initdb(bindir, datadir, workdir / "initdb.log")
        with _started_server(bindir, datadir, sockdir, workdir / "postgres.log") as server:
            yield server.create_database(DEFAULT_DATABASE)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def _started_server(
    bindir: Path, datadir: Path, sockdir: Path, log: Path
) -> Iterator[PostgresServer]:
    for attempt in range(1, START_ATTEMPTS + 1):
        port = free_port()
        settings = [arg for setting in _FAST_SETTINGS for arg in ("-c", setting)]
        argv = _as_server_user(
            [
                str(bindir / "postgres"),
                *("-D", str(datadir), "-k", str(sockdir), "-h", LOOPBACK, "-p", str(port)),
                *settings,
            ]
        )
        server = PostgresServer(
            host=LOOPBACK, port=port, user=SUPERUSER, database="postgres", bindir=bindir
        )
        # SIGINT is PostgreSQL's "fast shutdown"; SIGTERM would wait for every client.
        with ManagedProcess(
            "postgres", argv, log_path=log, cwd=datadir.parent, stop_signal=signal.SIGINT
        ) as process:
            try:
                process.wait_ready(check=functools.partial(_accepting, server), timeout=30)
            except PortInUseError:
                if attempt == START_ATTEMPTS:
                    raise
                continue
            yield server
            return


def _accepting(server: PostgresServer) -> bool:
    argv = [
        str(server.bindir / "pg_isready"),
        *("-q", "-h", server.host, "-p", str(server.port), "-U", server.user, "-d", "postgres"),
    ]
    return subprocess.run(argv, timeout=10, check=False).returncode == 0


@dataclass(kw_only=True)
class RestartablePostgres:
    """A server of its own that a test stops and starts again, on the same port and data.

    For outages: the session's server is shared, so stopping it would fail other tests.
    ``stop`` is PostgreSQL's fast shutdown (SIGINT): clients are disconnected at once.
    """

    server: PostgresServer
    """Where it listens, pointing at ``pf_test``."""
    datadir: Path
    sockdir: Path
    log: Path
    _process: ManagedProcess | None = dataclasses.field(default=None, init=False, repr=False)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    def start(self, timeout: float = 30.0) -> None:
        settings = [arg for setting in _FAST_SETTINGS for arg in ("-c", setting)]
        argv = _as_server_user(
            [
                str(self.server.bindir / "postgres"),
                *("-D", str(self.datadir), "-k", str(self.sockdir)),
                *("-h", self.server.host, "-p", str(self.server.port), *settings),
            ]
        )
        process = ManagedProcess(
            "postgres", argv, log_path=self.log, cwd=self.datadir.parent, stop_signal=signal.SIGINT
        )
        self._process = process
        process.start()
        process.wait_ready(check=functools.partial(_accepting, self.server), timeout=timeout)

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None


@contextlib.contextmanager
def restartable_postgres(bindir: Path = POSTGRES_BINDIR) -> Iterator[RestartablePostgres]:
    """A running ``RestartablePostgres`` with database ``pf_test``; removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="pf-test-postgres-"))
    try:
        workdir.chmod(0o755)
        datadir, sockdir = workdir / "data", workdir / "sock"
        for directory in (datadir, sockdir):
            directory.mkdir(mode=0o700)
            _give_to_server_user(directory)
        _initdb(bindir, datadir, workdir / "initdb.log")
        admin = PostgresServer(
            host=LOOPBACK, port=free_port(), user=SUPERUSER, database="postgres", bindir=bindir
        )
        postgres = RestartablePostgres(
            server=admin.with_database(DEFAULT_DATABASE),
            datadir=datadir,
            sockdir=sockdir,
            log=workdir / "postgres.log",
        )
        postgres.start()
        try:
            admin.create_database(DEFAULT_DATABASE)
            yield postgres
        finally:
            postgres.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
