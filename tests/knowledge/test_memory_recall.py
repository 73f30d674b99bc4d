"""``Memory`` over a real store, with each OperatorConfig setting doing what it says:
``knowledge.enabled``, ``knowledge.similarIncidents`` and ``cache.ttl`` (a fake clock)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from punching_fist.knowledge.memory import Asker, Memory
from punching_fist.knowledge.signature import Signature
from punching_fist.resources.loader import ResourceSet, build_resource_set, parse_yaml
from punching_fist.store.database import Database
from punching_fist.store.knowledge import KnowledgeStore
from tests.support.fake_clock import FakeClock

ALERT: dict[str, Any] = {
    "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "web-1"},
    "annotations": {"summary": "web crash-loops"},
}
SIGNATURE = Signature(
    alertname="KubePodCrashLooping", namespace="shop", workload="web", container=None
)
RESULT = {"root_cause": "CACHE_SIZE is not a number", "summary": "web crash-loops", "findings": []}


def resources(spec: str) -> ResourceSet:
    text = f"apiVersion: punchingfist.io/v1alpha1\nkind: OperatorConfig\nmetadata: {{name: c}}\nspec: {spec}\n"
    return build_resource_set(parse_yaml(text, origin="test.yaml"))


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[KnowledgeStore]:
    db = Database(database_url)
    await db.migrate()
    yield KnowledgeStore(db)
    await db.close()


def asker(step: str = "investigate") -> Asker:
    return Asker(run_id=uuid.uuid4(), workflow="wf", step_name=step)


async def remember(memory: Memory, **result: Any) -> None:
    await memory.remember(
        asker=asker(),
        signature=SIGNATURE,
        labels=ALERT["labels"],
        result={**RESULT, **result},
        evidence_digest="d1",
        recalled=None,
    )


async def test_the_cache_lasts_its_ttl_and_zero_turns_it_off(store: KnowledgeStore) -> None:
    clock = FakeClock(datetime(2026, 12, 7, 10, 0, tzinfo=UTC))
    config = resources("{cache: {ttl: 10m}}")
    memory = Memory(store, lambda: config, clock=clock.now)
    await remember(memory)
    recalled = await memory.recall(ALERT, SIGNATURE, asker())
    assert recalled is not None
    assert recalled.recollection.cached is not None
    assert recalled.recollection.cached.evidence_digest == "d1"
    assert recalled.recollection.cached.result["root_cause"] == RESULT["root_cause"]
    # another step of the workflow asks another question
    other = await memory.recall(ALERT, SIGNATURE, asker("double-check"))
    assert other is not None
    assert other.recollection.cached is None

    await clock.advance(timedelta(minutes=11).total_seconds())
    later = await memory.recall(ALERT, SIGNATURE, asker())
    assert later is not None
    assert later.recollection.cached is None
    assert [p.root_cause for p in later.recollection.similar] == [RESULT["root_cause"]]

    start = FakeClock(datetime(2026, 12, 7, 10, 0, tzinfo=UTC))
    off = Memory(store, lambda: resources('{cache: {ttl: "0"}}'), clock=start.now)
    assert (await off.recall(ALERT, SIGNATURE, asker())).recollection.cached is None  # type: ignore[union-attr]


async def test_similar_incidents_counts_and_disabled_memory_neither_reads_nor_writes(
    store: KnowledgeStore,
) -> None:
    memory = Memory(store, lambda: resources("{knowledge: {similarIncidents: 1}}"))
    for cause in ("first cause", "second cause"):
        await remember(memory, root_cause=cause)
    recalled = await memory.recall(ALERT, SIGNATURE, asker())
    assert recalled is not None
    assert [p.root_cause for p in recalled.recollection.similar] == ["second cause"]

    none = Memory(store, lambda: resources("{knowledge: {similarIncidents: 0}}"))
    nothing = await none.recall(ALERT, SIGNATURE, asker())
    assert nothing is not None
    assert nothing.recollection.similar == ()

    disabled = Memory(store, lambda: resources("{knowledge: {enabled: false}}"))
    assert await disabled.recall(ALERT, SIGNATURE, asker()) is None
    await remember(disabled, root_cause="never kept")
    _, total = await store.page(limit=10, offset=0)
    assert total == 2


async def test_partial_results_are_not_kept(store: KnowledgeStore) -> None:
    memory = Memory(store, lambda: resources("{}"))
    await remember(memory, error_message="the LLM was unreachable")
    assert (await store.page(limit=10, offset=0))[1] == 0
    await remember(memory, root_cause="", inconclusive=True)
    [entry], _ = await store.page(limit=10, offset=0)
    assert entry.outcome == "inconclusive"
