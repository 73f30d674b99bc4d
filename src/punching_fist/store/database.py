"""Connecting to the database (SQLite by default, PostgreSQL in production) and migrating it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import structlog
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from punching_fist.errors import ConfigurationError, TemporaryFailure
from punching_fist.retry import RetryPolicy
from punching_fist.store.sqlite_writer import SqliteWriter, use_explicit_transactions
from punching_fist.store.write_gate import WriteGate

MIGRATIONS = Path(__file__).with_name("migrations")

log = structlog.get_logger(__name__)

WAIT_BACKOFF = RetryPolicy(initial_delay=0.5, max_delay=10.0, multiplier=2.0, jitter=0.2)
"""Between attempts to reach the database at start: 0.5 s, 1 s, 2 s ... then every 10 s."""
CONNECT_TIMEOUT = 10.0
"""One attempt's limit: a host that drops packets would otherwise hold it for a minute."""
# SQLSTATE classes that pass: connection failures (08), the server starting up or shutting
# down (57P), too many connections (53). Others (no such database, wrong password) do not.
_PASSING_SQLSTATES = ("08", "57P", "53")

T = TypeVar("T")
Args = TypeVar("Args")


def normalize_url(url: str) -> str:
    """Accept the URLs users write and pick the async driver for them.

    ``postgresql://`` / ``postgres://`` become ``postgresql+asyncpg://``; ``sqlite:///x.db``
    becomes ``sqlite+aiosqlite:///x.db``; a bare path means an SQLite file.
    """
    if "://" not in url:
        return f"sqlite+aiosqlite:///{url}"
    scheme, rest = url.split("://", 1)
    drivers = {
        "postgres": "postgresql+asyncpg",
        "postgresql": "postgresql+asyncpg",
        "sqlite": "sqlite+aiosqlite",
    }
    return f"{drivers.get(scheme, scheme)}://{rest}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (the API) run beside the intake writer; synchronous=FULL makes every
    # acknowledged commit survive a crash. busy_timeout absorbs brief writer contention.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class Database:
    """An async engine plus the knowledge of which dialect it speaks."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = normalize_url(url)
        try:
            parsed = make_url(self.url)
        except Exception as exc:  # sqlalchemy raises ArgumentError; keep the user-facing type
            raise ConfigurationError(f"invalid database URL: {exc}") from exc
        self.dialect = parsed.get_backend_name()
        options: dict[str, Any] = {}
        if self.dialect == "sqlite":
            database = parsed.database
            if database and database != ":memory:":
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        else:
            options = {"pool_size": pool_size, "max_overflow": pool_size, "pool_pre_ping": True}
        self.engine: AsyncEngine = create_async_engine(self.url, **options)
        self._write_gate = WriteGate() if self.dialect == "sqlite" else None
        self._sync_engine: Engine | None = None
        self._writer: SqliteWriter | None = None
        if self._write_gate is not None:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            # The batch path: transactions run on one thread in one hop, many per commit
            # (see run_transaction), with the stdlib driver instead of aiosqlite.
            self._sync_engine = create_engine(parsed.set(drivername="sqlite"), pool_size=1)
            event.listen(self._sync_engine, "connect", _sqlite_pragmas)
            use_explicit_transactions(self._sync_engine)
            self._writer = SqliteWriter(self._sync_engine, self._write_gate)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def safe_url(self) -> str:
        """The URL without its password, for logs."""
        return make_url(self.url).render_as_string(hide_password=True)

    async def wait_until_reachable(
        self,
        wait_seconds: float,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> int:
        """Return once a connection opens, retrying for up to ``wait_seconds``; the attempts.

        A database that is down, still starting or not yet resolvable in DNS (a server
        started beside it) is waited for, with backoff and a log line per failed attempt.
        One that answers no (no such database, authentication) is not: that needs a person.
        Then it raises ``TemporaryFailure``.
        """
        deadline = clock() + wait_seconds
        attempt = 0
        while True:
            attempt += 1
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT), self.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            except (OSError, DBAPIError) as exc:  # TimeoutError is an OSError
                if not _passing(exc):
                    raise
                left = deadline - clock()
                if left <= 0:
                    # Said here, in one line: the exception reaches the log as a traceback.
                    log.error(
                        "database unreachable, giving up",
                        database=self.safe_url,
                        attempts=attempt,
                        waited_seconds=wait_seconds,
                        error=_reason(exc),
                    )
                    raise TemporaryFailure(
                        f"database {self.safe_url} unreachable for {wait_seconds:g}s"
                        f" ({attempt} attempts): {_reason(exc)}"
                    ) from exc
                delay = min(WAIT_BACKOFF.backoff(attempt), left)
                log.warning(
                    "database unreachable, waiting",
                    database=self.safe_url,
                    attempt=attempt,
                    retry_in=round(delay, 2),
                    gives_up_in=round(left, 1),
                    error=_reason(exc),
                )
                await sleep(delay)
                continue
            if attempt > 1:
                log.info("database reachable", database=self.safe_url, attempts=attempt)
            return attempt

    async def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside a transaction, committed when the block ends without error.

        SQLite allows one writer at a time, and a second connection that finds the database
        locked backs off in sleeps of up to 100 ms. Queueing this process's writers at a
        gate instead keeps every write waiting only as long as the one before it (the intake's
        ``run_transaction`` batches go ahead of these).
        """
        if self._write_gate is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_gate.hold(), self.engine.begin() as conn:
            yield conn

    async def run_transaction(
        self, work: Callable[[Connection, Args], T], args: Args, *, urgent: bool = False
    ) -> T:
        """Run ``work(connection, args)`` in a transaction, committed before this returns.

        Written as plain synchronous code, a unit of work runs without a round trip through
        the event loop per statement (on a busy server each round trip waits for the loop to
        serve everything else that is ready). On SQLite it runs on the writer thread, in one
        commit with whatever other work is waiting (see ``sqlite_writer``); ``urgent`` work
        (the intake, whose callers wait for their 202) goes first.
        """
        if self._writer is None:
            async with self.engine.begin() as conn:
                return await conn.run_sync(work, args)
        return await self._writer.run(work, args, urgent=urgent)

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads."""
        async with self.engine.connect() as conn:
            yield conn

    async def close(self) -> None:
        await self.engine.dispose()
        if self._writer is not None:
            self._writer.close()
        if self._sync_engine is not None:
            self._sync_engine.dispose()


def _passing(exc: BaseException) -> bool:
    """Whether a failure to connect may pass by itself (the server is away, not refusing)."""
    if isinstance(exc, OSError):
        return True
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(_PASSING_SQLSTATES)


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc) or type(exc).__name__
    return text.splitlines()[0][:300]


def _upgrade(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
