"""Steps run once, and failed steps retry as the workflow says (SQLite and PostgreSQL).

* a run whose lease is taken over stops: its step's process group is killed and nothing it
  would still write lands;
* a step the server was running when it stopped is run again and marked as retried, unless
  it is ``idempotent: false``: then it ends failed as interrupted, not run a second time;
* a temporary failure (exit code 75, a timeout, a refused connection) is retried per the
  ``retryPolicy`` with its backoff (asserted on a fake sleep), a permanent one never, and
  without a policy nothing is retried.

Executions are counted by the lines each command appends to a file.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update

from punching_fist.config import Settings
from punching_fist.engine.runner import WorkflowRunner
from punching_fist.engine.runner_deps import RunnerDependencies
from punching_fist.engine.status import RunStatus
from punching_fist.engine.step_attempts import INTERRUPTED
from punching_fist.server.service import Service
from punching_fist.store.database import Database
from punching_fist.store.queries import run_detail
from punching_fist.store.tables import step_results, utcnow, workflow_runs
from tests.support.server import resources_from_yaml
from tests.support.tools_helpers import process_alive

ENV = {"PATH": "/usr/bin:/bin"}
DEADLINE = 30.0


@dataclass
class FakeSleep:
    """Records each backoff instead of waiting it out."""

    waited: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.waited.append(seconds)
        await asyncio.sleep(0)


@dataclass
class Engine:
    runner: WorkflowRunner
    database: Database

    async def new_run(self, workflow: str, **values: Any) -> uuid.UUID:
        run_id = uuid.uuid4()
        row = {
            "id": run_id,
            "workflow_name": workflow,
            "status": RunStatus.PENDING.value,
            "source_context": {},
            "created_at": utcnow(),
            **values,
        }
        async with self.database.transaction() as conn:
            await conn.execute(insert(workflow_runs).values(**row))
        return run_id

    async def detail(self, run_id: uuid.UUID) -> dict[str, Any]:
        found = await run_detail(self.database, run_id)
        assert found is not None
        return found

    async def steps(self, run_id: uuid.UUID) -> dict[str, dict[str, Any]]:
        return {step["name"]: step for step in (await self.detail(run_id))["steps"]}


@asynccontextmanager
async def engine(
    database_url: str, workflow: str, *, lease_seconds: float = 60.0, sleep: FakeSleep | None = None
) -> AsyncIterator[Engine]:
    """A runner on a migrated database, its parts wired as the server wires them."""
    service = Service.build(
        Settings(database_url=database_url, base_env=ENV, lease_seconds=lease_seconds),
        resources_from_yaml(workflow),
    )
    await service.database.migrate()
    runner = WorkflowRunner(
        RunnerDependencies(
            runs=service.runs,
            sinks=service.sinks,
            resources=service.registry.current,
            metrics=service.metrics,
            base_env=ENV,
            sleep=sleep or asyncio.sleep,
        )
    )
    try:
        yield Engine(runner=runner, database=service.database)
    finally:
        await service.database.close()


def workflow(steps: str, *, directory: Path, spec: str = "") -> str:
    return f"""
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {{name: wf}}
spec:
  runtime: {{environment: {{DIR: "{directory}"}}}}
{spec}  steps:
{steps}
"""


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


async def until(reached: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not reached():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE}s: {what}")
        await asyncio.sleep(0.02)


async def test_a_run_taken_over_kills_its_step_and_writes_nothing(
    database_url: str, tmp_path: Path
) -> None:
    steps = """\
    - name: long
      type: cli
      command: 'echo $$ > "$DIR/pids.tmp"; sleep 300 & echo $! >> "$DIR/pids.tmp"; mv "$DIR/pids.tmp" "$DIR/pids"; wait'
"""
    pids = tmp_path / "pids"
    async with engine(
        database_url, workflow(steps, directory=tmp_path), lease_seconds=1.0
    ) as running:
        run_id = await running.new_run("wf")
        execution = asyncio.create_task(running.runner.execute(run_id))
        await until(lambda: len(lines(pids)) == 2, "the step runs, with a background child")
        async with running.database.transaction() as conn:  # another replica takes it over
            await conn.execute(
                update(workflow_runs)
                .where(workflow_runs.c.id == run_id)
                .values(
                    lease_owner="replica-b",
                    attempt=workflow_runs.c.attempt + 1,
                    lease_expires_at=utcnow() + timedelta(seconds=60),
                )
            )
        assert await asyncio.wait_for(execution, DEADLINE) is None
        for pid in map(int, lines(pids)):  # the step's whole process group
            await until(lambda pid=pid: not process_alive(pid), f"process {pid} ends")
        detail = await running.detail(run_id)
        assert (detail["status"], detail["lease_owner"]) == ("running", "replica-b")
        [step] = detail["steps"]
        assert (step["status"], step["result"], step["completed_at"]) == ("running", None, None)


async def interrupted_run(running: Engine, step_names: list[str]) -> uuid.UUID:
    """A run as a server SIGKILLed mid-step left it: its last step ``running``, the lease of a
    worker that is gone lapsed."""
    started = utcnow() - timedelta(minutes=1)
    run_id = await running.new_run(
        "wf",
        status=RunStatus.RUNNING.value,
        attempt=1,
        lease_owner="gone",
        lease_expires_at=started,
        started_at=started,
    )
    async with running.database.transaction() as conn:
        for position, name in enumerate(step_names):
            last = position == len(step_names) - 1
            status = "running" if last else "succeeded"
            await conn.execute(
                insert(step_results).values(
                    id=uuid.uuid4(),
                    run_id=run_id,
                    position=position,
                    name=name,
                    type="cli",
                    status=status,
                    result=None if last else {"stdout": "done before\n"},
                    started_at=started,
                    completed_at=None if last else started,
                    attempts=1,
                    attempt_log=[
                        {
                            "attempt": 1,
                            "trigger": "first",
                            "run_attempt": 1,
                            "started_at": started.isoformat(),
                            "status": status,
                        }
                    ],
                )
            )
    return run_id


async def test_an_interrupted_step_that_is_not_idempotent_is_not_run_again(
    database_url: str, tmp_path: Path
) -> None:
    steps = """\
    - {name: before, type: cli, command: 'echo run >> "$DIR/before"'}
    - {name: charge, type: cli, idempotent: false, command: 'echo run >> "$DIR/charge"'}
    - {name: after, type: cli, command: 'echo run >> "$DIR/after"'}
"""
    async with engine(database_url, workflow(steps, directory=tmp_path)) as running:
        run_id = await interrupted_run(running, ["before", "charge"])
        assert await running.runner.execute(run_id) is RunStatus.FAILED
        assert lines(tmp_path / "charge") == []  # the one execution was the crashed server's
        assert lines(tmp_path / "before") == []  # finished before the crash: not repeated
        assert lines(tmp_path / "after") == ["run"]
        detail = await running.detail(run_id)
        steps_ = {step["name"]: step for step in detail["steps"]}
        charge = steps_["charge"]
        assert (charge["status"], charge["error"]) == ("failed", INTERRUPTED)
        assert INTERRUPTED == (
            "interrupted: the server stopped while this step ran;"
            " not re-run because idempotent: false"
        )
        assert (charge["attempts"], charge["retried"]) == (1, False)
        assert [entry["status"] for entry in charge["attempt_log"]] == ["interrupted"]
        assert steps_["after"]["status"] == "succeeded"
        assert detail["error"] == f"charge: {INTERRUPTED}"
        assert detail["attempt"] == 2


async def test_an_interrupted_idempotent_step_runs_again_marked_as_retried(
    database_url: str, tmp_path: Path
) -> None:
    steps = """\
    - {name: before, type: cli, command: 'echo run >> "$DIR/before"'}
    - {name: collect, type: cli, command: 'echo run >> "$DIR/collect"'}
"""
    async with engine(database_url, workflow(steps, directory=tmp_path)) as running:
        run_id = await interrupted_run(running, ["before", "collect"])
        assert await running.runner.execute(run_id) is RunStatus.SUCCEEDED
        assert lines(tmp_path / "collect") == ["run"]
        assert lines(tmp_path / "before") == []
        collect = (await running.steps(run_id))["collect"]
        assert (collect["status"], collect["attempts"], collect["retried"]) == (
            "succeeded",
            2,
            True,
        )
        log = collect["attempt_log"]
        assert [(e["attempt"], e["trigger"], e["status"]) for e in log] == [
            (1, "first", "interrupted"),
            (2, "rerun", "succeeded"),
        ]
        assert [e["run_attempt"] for e in log] == [1, 2]
        assert (await running.steps(run_id))["before"]["retried"] is False


RETRYING = """\
    - name: flaky
      type: cli
      command: 'echo run >> "$DIR/flaky"; test "$(wc -l < "$DIR/flaky")" -ge 3 || exit 75'
    - name: broken
      type: cli
      command: 'echo run >> "$DIR/broken"; echo "no such pod" >&2; exit 1'
    - name: unreachable
      type: cli
      command: 'echo run >> "$DIR/unreachable"; echo "The connection to the server localhost:8080 was refused - did you specify the right host or port?" >&2; exit 1'
    - name: slow
      type: cli
      timeoutSeconds: 0.2
      retryPolicy: {maxAttempts: 2, backoff: none}
      command: 'echo run >> "$DIR/slow"; sleep 5'
    - name: once
      type: cli
      idempotent: false
      command: 'echo run >> "$DIR/once"; exit 75'
"""


async def test_temporary_failures_are_retried_with_backoff_permanent_ones_never(
    database_url: str, tmp_path: Path
) -> None:
    sleep = FakeSleep()
    text = workflow(
        RETRYING,
        directory=tmp_path,
        spec="  retryPolicy: {maxAttempts: 4, initialDelaySeconds: 1, maxDelaySeconds: 3}\n",
    )
    async with engine(database_url, text, sleep=sleep) as running:
        run_id = await running.new_run("wf")
        assert await running.runner.execute(run_id) is RunStatus.FAILED
        steps = await running.steps(run_id)
    executions = {name: len(lines(tmp_path / name)) for name in steps}
    assert executions == {"flaky": 3, "broken": 1, "unreachable": 4, "slow": 2, "once": 1}
    # Exponential from 1 s, capped at 3 s; the slow step's own policy waits not at all.
    assert sleep.waited == [1.0, 2.0, 1.0, 2.0, 3.0, 0.0]
    assert {name: (s["status"], s["attempts"]) for name, s in steps.items()} == {
        "flaky": ("succeeded", 3),
        "broken": ("failed", 1),
        "unreachable": ("failed", 4),
        "slow": ("failed", 2),
        "once": ("failed", 1),
    }
    flaky = steps["flaky"]["attempt_log"]
    assert [(e["trigger"], e["status"], e.get("retry_in_seconds")) for e in flaky] == [
        ("first", "failed", 1.0),
        ("retry", "failed", 2.0),
        ("retry", "succeeded", None),
    ]
    assert flaky[0]["error"] == "command exited with code 75"
    assert steps["flaky"]["retried"] is True
    unreachable = steps["unreachable"]
    assert unreachable["error"] == "command exited with code 1"  # the last attempt's
    assert "was refused" in unreachable["result"]["stderr"]
    assert [e["status"] for e in steps["slow"]["attempt_log"]] == ["failed", "failed"]
    assert steps["slow"]["error"] == "command timed out after 0.2s"


async def test_without_a_retry_policy_nothing_is_retried(database_url: str, tmp_path: Path) -> None:
    sleep = FakeSleep()
    async with engine(database_url, workflow(RETRYING, directory=tmp_path), sleep=sleep) as running:
        run_id = await running.new_run("wf")
        assert await running.runner.execute(run_id) is RunStatus.FAILED
        steps = await running.steps(run_id)
    assert {name: len(lines(tmp_path / name)) for name in steps} == {
        "flaky": 1,
        "broken": 1,
        "unreachable": 1,
        "slow": 2,  # its own policy still applies
        "once": 1,
    }
    assert sleep.waited == [0.0]
    assert steps["flaky"]["attempt_log"][0].get("retry_in_seconds") is None


async def test_a_step_write_the_database_refused_after_the_takeover_raises_no_error(
    database_url: str, tmp_path: Path
) -> None:
    """A claim taken over between two steps: the next step never starts."""
    steps = """\
    - {name: first, type: cli, command: 'echo run >> "$DIR/first"; sleep 0.5'}
    - {name: second, type: cli, command: 'echo run >> "$DIR/second"'}
"""
    async with engine(database_url, workflow(steps, directory=tmp_path)) as running:
        run_id = await running.new_run("wf")
        execution = asyncio.create_task(running.runner.execute(run_id))
        await until(lambda: lines(tmp_path / "first"), "the first step runs")
        async with running.database.transaction() as conn:
            await conn.execute(
                update(workflow_runs)
                .where(workflow_runs.c.id == run_id)
                .values(lease_owner="replica-b", attempt=workflow_runs.c.attempt + 1)
            )
        assert await asyncio.wait_for(execution, DEADLINE) is None
        assert lines(tmp_path / "second") == []
        async with running.database.connect() as conn:
            rows = (
                await conn.execute(
                    select(step_results.c.name, step_results.c.status).where(
                        step_results.c.run_id == run_id
                    )
                )
            ).all()
        assert [tuple(row) for row in rows] == [("first", "running")]
