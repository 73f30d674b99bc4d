"""The runtime driven directly (no HTTP server in front), with tools defined here.

These tools implement the ``AgentTool`` protocol themselves, which is how any tool plugs in;
the LLM is still the fake server speaking the real wire protocol.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from pydantic import BaseModel
from sqlalchemy import insert, select

from punching_fist.agent.base import AgentOutcome, AgentRequest, Ending
from punching_fist.agent.runtime import AgentRuntime, AgentRuntimeDeps
from punching_fist.agent.tools.base import AgentTool, SafetyCheck, ToolContext, ToolOutput
from punching_fist.resources.workflow import AgentStep
from punching_fist.secret_refs import SecretResolver
from punching_fist.store.approvals import ApprovalStore
from punching_fist.store.audit import AuditLog
from punching_fist.store.database import Database
from punching_fist.store.tables import audit_events, workflow_runs
from tests.agent.kit import workflow_yaml
from tests.support.fake_llm import FakeLLM, Script, call, final
from tests.support.server import resources_from_yaml


class Args(BaseModel):
    target: str


class Crashing:
    """A tool with a bug: it raises something no tool should."""

    name = "probe"
    description = "Probe a target."
    arguments: type[BaseModel] = Args
    read_only = True

    def check(self, arguments: BaseModel, context: ToolContext) -> SafetyCheck:
        return SafetyCheck(verdict="allow")

    async def call(self, arguments: BaseModel, context: ToolContext) -> ToolOutput:
        raise KeyError("bug in the probe")


class Echo(Crashing):
    """Echoes its target, with the context it was given."""

    async def call(self, arguments: BaseModel, context: ToolContext) -> ToolOutput:
        target = Args.model_validate(arguments.model_dump()).target
        return ToolOutput(text=f"probed {target} for step {context.step_name}", exit_code=0)


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'pf.db'}")
    await db.migrate()
    yield db
    await db.close()


async def investigate(database: Database, llm: FakeLLM, tools: Sequence[AgentTool]) -> AgentOutcome:
    resources = resources_from_yaml(workflow_yaml(llm.url, tools="[probe]"))
    workflow = resources.workflows["wf"]
    step = workflow.spec.steps[0]
    assert isinstance(step, AgentStep)
    run_id = uuid.uuid4()
    async with database.transaction() as conn:
        await conn.execute(
            insert(workflow_runs).values(
                id=run_id, workflow_name="wf", status="running", source_context={}
            )
        )
    audit = AuditLog(database)
    audit.start()
    runtime = AgentRuntime(
        AgentRuntimeDeps(
            resources=lambda: resources,
            secrets=SecretResolver(),
            audit=audit,
            approvals=ApprovalStore(database),
            tools=lambda request, context: tools,
        )
    )
    try:
        outcome = await runtime.investigate(
            AgentRequest(
                run_id=run_id,
                step_name="investigate",
                settings=step,
                goal="Probe the api",
                workflow=workflow,
                context={"env": {}},
            )
        )
    finally:
        await runtime.stop()
        await audit.stop()
    return outcome


async def test_a_custom_tool_implementing_the_protocol_is_called_with_its_context(
    database: Database,
) -> None:
    with FakeLLM(Script([call("probe", target="api"), final(summary="api probed")])) as llm:
        outcome = await investigate(database, llm, [Echo()])
    assert outcome.ending is Ending.ANSWERED
    assert outcome.result is not None
    assert outcome.result["summary"] == "api probed"
    assert "probed api for step investigate" in llm.requests[1].text()
    async with database.connect() as conn:
        rows = (await conn.execute(select(audit_events.c.kind, audit_events.c.name))).all()
    assert ("tool", "probe") in [tuple(r) for r in rows]


async def test_a_crashing_tool_still_ends_with_a_partial_result(database: Database) -> None:
    with FakeLLM(Script([call("probe", target="api"), final(summary="never")])) as llm:
        outcome = await investigate(database, llm, [Crashing()])
    assert outcome.ending is Ending.ANSWERED
    result = outcome.result
    assert result is not None
    assert "KeyError" in result["error_message"]
    assert result["summary"].startswith("Automated investigation incomplete")
