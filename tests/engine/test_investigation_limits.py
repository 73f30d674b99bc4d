"""Global investigation limits (issue 15): excess agent steps wait durably, in order.

With ``spec.limits.investigationsPerMinute`` N, the N+1th investigation of a minute parks its
run ``waiting_limit`` (the gauge and the API say so) and starts when the rolling window frees,
oldest first; a new server over the same SQLite file picks the waiting runs up. With
``llmTokensPerHour`` the tokens the audit trail recorded in the last hour decide. Time is a
fake clock; the runs are real, executed by the served engine.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select

from punching_fist.agent.base import AgentOutcome, AgentRequest, Ending
from punching_fist.config import Settings
from punching_fist.engine.status import RunStatus
from punching_fist.server.service import Service
from punching_fist.store.queries import list_runs, run_detail
from punching_fist.store.tables import audit_events, utcnow, workflow_runs
from tests.support.fake_clock import FakeClock
from tests.support.payloads import alert, notification
from tests.support.server import resources_from_yaml, running_server

DEADLINE = 20.0


def resources(limits: str) -> str:
    return f"""
apiVersion: punchingfist.io/v1alpha1
kind: OperatorConfig
metadata: {{name: op}}
spec: {{limits: {limits}}}
---
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {{name: wf}}
spec:
  steps:
    - {{name: look, type: cli, command: 'true'}}
    - {{name: investigate, type: agent, goal: "Investigate", tools: [kubectl], evidence: "off"}}
"""


class CountingAgent:
    """Records which run each investigation was for; spends ``tokens`` as an LLM would,
    in an ``llm`` audit row stamped with the fake clock."""

    def __init__(self, clock: FakeClock, *, tokens: int = 0) -> None:
        self.clock = clock
        self.tokens = tokens
        self.runs: list[uuid.UUID] = []
        self.service: Service | None = None

    async def investigate(self, request: AgentRequest) -> AgentOutcome:
        self.runs.append(request.run_id)
        if self.tokens and self.service is not None:
            async with self.service.database.transaction() as conn:
                await conn.execute(
                    insert(audit_events),
                    {
                        "id": uuid.uuid4(),
                        "run_id": request.run_id,
                        "step_name": request.step_name,
                        "kind": "llm",
                        "name": "fake-model",
                        "usage": {"input_tokens": self.tokens - 100, "output_tokens": 100},
                        "created_at": self.clock.now(),
                    },
                )
        return AgentOutcome(ending=Ending.ANSWERED, result={"summary": "ok"})


@asynccontextmanager
async def served(
    database_url: str,
    limits: str,
    agent: CountingAgent,
    clock: FakeClock,
    *,
    owner: str = "test-server",
) -> AsyncIterator[Service]:
    settings = Settings(
        database_url=database_url,
        base_env={"PATH": "/usr/bin:/bin"},
        run_concurrency=1,
        owner=owner,
    )
    service = Service.build(
        settings,
        resources_from_yaml(resources(limits)),
        agent=agent,
        clock=clock,
    )
    agent.service = service
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


async def store_runs(service: Service, count: int) -> list[uuid.UUID]:
    """``count`` pending runs of ``wf``, created a second apart, handed to the run queue."""
    base = utcnow() - timedelta(minutes=5)
    ids = [uuid.uuid4() for _ in range(count)]
    async with service.database.transaction() as conn:
        await conn.execute(
            insert(workflow_runs),
            [
                {
                    "id": run_id,
                    "workflow_name": "wf",
                    "status": RunStatus.PENDING.value,
                    "source_context": {},
                    "created_at": base + timedelta(seconds=n),
                }
                for n, run_id in enumerate(ids)
            ],
        )
    service.dispatcher.queue.submit(ids, workflow="wf")
    return ids


async def statuses(service: Service, ids: list[uuid.UUID]) -> list[str]:
    async with service.database.connect() as conn:
        rows = await conn.execute(
            select(workflow_runs.c.id, workflow_runs.c.status).where(workflow_runs.c.id.in_(ids))
        )
        found = {row.id: row.status for row in rows}
    return [found[run_id] for run_id in ids]


async def until(reached: Callable[[], Any], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not await reached():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE}s: {what}")
        await asyncio.sleep(0.02)


async def settle(service: Service, clock: FakeClock, ids: list[uuid.UUID], done: int) -> None:
    """Until ``done`` of ``ids`` succeeded, the rest wait, and the waker sleeps on the clock."""
    wanted = [RunStatus.SUCCEEDED.value] * done + [RunStatus.WAITING_LIMIT.value] * (
        len(ids) - done
    )

    async def reached() -> bool:
        gate = service.investigations
        return (
            await statuses(service, ids) == wanted
            and gate.waiting == len(ids) - done
            and gate.sleeping
            and clock.sleeping == 1
        )

    await until(reached, f"{done} of {len(ids)} runs investigated, the rest waiting")


def queued_gauge(service: Service) -> float | None:
    return service.metrics.registry.get_sample_value("punchingfist_investigations_queued")


async def test_the_n_plus_first_investigation_of_a_minute_waits_for_the_window(
    database_url: str,
) -> None:
    clock = FakeClock(utcnow())
    agent = CountingAgent(clock)
    async with served(database_url, "{investigationsPerMinute: 2}", agent, clock) as service:
        ids = await store_runs(service, 5)

        await settle(service, clock, ids, done=2)
        assert agent.runs == ids[:2]
        assert queued_gauge(service) == 3
        page = await list_runs(service.database, {"status": "waiting_limit"}, limit=10, offset=0)
        assert page["total"] == 3
        assert {item["waitingFor"] for item in page["items"]} == {"investigation-limit"}
        detail = await run_detail(service.database, ids[2])
        assert detail is not None
        # The step before the agent ran; the agent step was never started (not interrupted).
        assert [step["name"] for step in detail["steps"]] == ["look"]

        await clock.advance(59)
        await asyncio.sleep(0.2)
        assert agent.runs == ids[:2]  # the window has not moved yet

        await clock.advance(2)
        await settle(service, clock, ids, done=4)
        assert agent.runs == ids[:4]
        assert queued_gauge(service) == 1

        await clock.advance(60)
        await settle(service, clock, ids, done=5)
        assert agent.runs == ids  # oldest first, none dropped
        assert queued_gauge(service) == 0


async def test_a_new_run_does_not_overtake_waiting_ones(sqlite_url: str) -> None:
    clock = FakeClock(utcnow())
    agent = CountingAgent(clock)
    async with served(sqlite_url, "{investigationsPerMinute: 1}", agent, clock) as service:
        first = await store_runs(service, 2)
        await settle(service, clock, first, done=1)
        await clock.advance(61)  # budget for one: the waiting run takes it
        await settle(service, clock, first, done=2)
        later = await store_runs(service, 2)
        await settle(service, clock, later, done=0)

        await clock.advance(61)
        await settle(service, clock, later, done=1)
        assert agent.runs == [*first, later[0]]


async def test_waiting_runs_survive_a_restart(sqlite_url: str) -> None:
    clock = FakeClock(utcnow())
    agent = CountingAgent(clock)
    async with served(sqlite_url, "{investigationsPerMinute: 1}", agent, clock) as service:
        ids = await store_runs(service, 3)
        await settle(service, clock, ids, done=1)

    await clock.advance(61)
    restarted = CountingAgent(clock)
    async with served(sqlite_url, "{investigationsPerMinute: 1}", restarted, clock) as service:
        await settle(service, clock, ids, done=2)
        assert restarted.runs == [ids[1]]
        await clock.advance(61)
        await settle(service, clock, ids, done=3)
        assert restarted.runs == ids[1:]


async def test_the_token_budget_counts_recorded_llm_usage_over_an_hour(
    database_url: str,
) -> None:
    clock = FakeClock(utcnow())
    agent = CountingAgent(clock, tokens=600)
    async with served(database_url, "{llmTokensPerHour: 1000}", agent, clock) as service:
        ids = await store_runs(service, 3)
        # 0 and 600 tokens used are under 1,000: two start; 1,200 is not.
        await settle(service, clock, ids, done=2)
        assert queued_gauge(service) == 1

        await clock.advance(3000)
        await asyncio.sleep(0.2)
        assert agent.runs == ids[:2]
        await clock.advance(601)  # the first 600 tokens are older than an hour now
        await settle(service, clock, ids, done=3)
        assert agent.runs == ids


async def test_without_limits_nothing_waits(sqlite_url: str) -> None:
    clock = FakeClock(utcnow())
    agent = CountingAgent(clock)
    async with served(sqlite_url, "{}", agent, clock) as service:
        ids = await store_runs(service, 4)
        await until(lambda: _all_succeeded(service, ids), "every run investigated without waiting")
        assert agent.runs == ids
        assert queued_gauge(service) == 0


async def _all_succeeded(service: Service, ids: list[uuid.UUID]) -> bool:
    return set(await statuses(service, ids)) == {RunStatus.SUCCEEDED.value}


async def test_the_api_readyz_and_metrics_show_the_waiting_runs(sqlite_url: str) -> None:
    source = """
---
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata: {name: am}
spec: {type: webhook, config: {path: /hook}, triggerWorkflow: wf}
"""
    served_resources = resources_from_yaml(resources("{investigationsPerMinute: 1}") + source)
    agent = CountingAgent(FakeClock(utcnow()))
    async with running_server(served_resources, sqlite_url, agent=agent) as server:
        for name in ("checkout", "payments"):  # two incidents: two investigations
            body = notification(alert(fingerprint=f"fp-{name}", labels={"pod": f"{name}-1"}))
            body["groupKey"] = f"{{}}:{{service={name!r}}}"
            assert (await server.post_alert("/hook", body)).status_code == 202

        async def one_waits() -> bool:
            return server.service.investigations.waiting == 1 and len(agent.runs) == 1

        await until(one_waits, "one run investigated, one waiting for the limit")
        runs = (await server.client.get("/api/v1/runs", params={"status": "waiting_limit"})).json()
        [waiting] = runs["items"]
        assert waiting["waitingFor"] == "investigation-limit"
        detail = (await server.client.get(f"/api/v1/runs/{waiting['id']}")).json()
        assert detail["waitingFor"] == "investigation-limit"
        ready = (await server.client.get("/readyz", params={"verbose": ""})).text
        assert "[+]investigation-limit ok: 1 runs waiting for spec.limits" in ready
        metrics = (await server.client.get("/metrics")).text
        assert "punchingfist_investigations_queued 1.0" in metrics


async def test_two_replicas_share_one_budget(postgres_url: str) -> None:
    clock = FakeClock(utcnow())
    first, second = CountingAgent(clock), CountingAgent(clock)
    limits = "{investigationsPerMinute: 2}"
    async with (
        served(postgres_url, limits, first, clock, owner="replica-a") as one,
        served(postgres_url, limits, second, clock, owner="replica-b") as other,
    ):
        ids = await store_runs(one, 6)
        other.dispatcher.queue.submit(ids, workflow="wf")  # both replicas race for every run

        async def two_ran_four_wait() -> bool:
            found = await statuses(one, ids)
            return (
                found.count(RunStatus.SUCCEEDED.value) == 2
                and found.count(RunStatus.WAITING_LIMIT.value) == 4
                and one.investigations.sleeping
                and other.investigations.sleeping
            )

        await until(two_ran_four_wait, "two investigations across both replicas, four waiting")
        await asyncio.sleep(0.3)
        admitted = first.runs + second.runs
        assert len(admitted) == 2
        waited = [run_id for run_id in ids if run_id not in admitted]

        await clock.advance(61)

        async def four_ran() -> bool:
            found = await statuses(one, ids)
            return found.count(RunStatus.SUCCEEDED.value) == 4

        await until(four_ran, "two more a minute later, across both replicas")
        await asyncio.sleep(0.3)
        # The oldest waiting runs went first, whichever replica released them.
        assert set(first.runs + second.runs) == {*admitted, *waited[:2]}
