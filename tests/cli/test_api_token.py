"""The command line and the API's tokens: ``--token`` or ``PUNCHING_FIST_TOKEN``; ``serve``'s refusal."""

from __future__ import annotations

import asyncio
from pathlib import Path

from typer.testing import CliRunner, Result

from punching_fist.cli import app
from tests.support.api_auth import APPROVER, VIEWER, fire, request_approval, serve

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


async def invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
    # In a thread: the server under test runs on this event loop.
    return await asyncio.to_thread(runner.invoke, app, args, env=env)


async def test_approvals_take_the_token_from_the_option_or_the_environment(
    sqlite_url: str,
) -> None:
    async with serve(sqlite_url) as server:
        url = ["--url", server.url]
        without = await invoke(["approvals", "list", *url], env={"PUNCHING_FIST_TOKEN": ""})
        wrong = await invoke(["approvals", "list", *url, "--token", "guessed-token-123"])
        option = await invoke(["approvals", "list", *url, "--token", VIEWER])
        environment = await invoke(["approvals", "list", *url], env={"PUNCHING_FIST_TOKEN": VIEWER})
    assert without.exit_code == 1
    assert "401" in without.output
    assert "--token" in without.output
    assert wrong.exit_code == 1
    assert "unknown API token" in wrong.output
    assert "guessed-token-123" not in wrong.output
    assert option.exit_code == 0, option.output
    assert "no pending approvals" in option.output
    assert environment.exit_code == 0, environment.output


async def test_a_decision_from_the_command_line_is_recorded_under_the_tokens_name(
    sqlite_url: str,
) -> None:
    async with serve(sqlite_url) as server:
        approval_id = str(await request_approval(server, await fire(server)))
        base = ["--url", server.url, "-f", "looks safe"]
        weak = await invoke(["approvals", "approve", approval_id, *base, "--token", VIEWER])
        listed = await invoke(["approvals", "list", "--url", server.url, "--token", VIEWER])
        approved = await invoke(
            ["approvals", "approve", approval_id, *base], env={"PUNCHING_FIST_TOKEN": APPROVER}
        )
        stored = await server.client.get(
            f"/api/v1/approvals/{approval_id}", headers={"Authorization": f"Bearer {VIEWER}"}
        )
    assert weak.exit_code == 1
    assert "403" in weak.output
    assert "'dashboard' has the role viewer; this needs approver" in weak.output
    assert approval_id in listed.output
    assert approved.exit_code == 0, approved.output
    assert f"approved {approval_id}" in approved.output
    assert stored.json()["decided_by"] == "sre-lead"
    assert stored.json()["feedback"] == "looks safe"


def test_serve_refuses_a_non_loopback_address_without_tokens(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "serve",
            "--resources",
            str(ROOT / "examples" / "quickstart"),
            "--host",
            "0.0.0.0",
            "--db",
            f"sqlite:///{tmp_path / 'pf.db'}",
        ],
    )
    flat = " ".join(result.output.split())
    assert result.exit_code == 1
    assert "serve listens on 0.0.0.0, not a loopback address, and the API has no tokens" in flat
    assert "spec.api.tokens" in flat
    assert not (tmp_path / "pf.db").exists()  # refused before anything started
