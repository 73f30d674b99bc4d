"""How git is run: no prompts, few transports, and a token that never shows."""

from __future__ import annotations

import base64
from pathlib import Path

from punching_fist.knowledge.runbooks_git import GitCheckout
from punching_fist.knowledge.runbooks_sync import RunbookSync
from punching_fist.resources.runbooks import RunbooksConfig
from punching_fist.secret_refs import EnvResolver, SecretResolver
from tests.support.server import free_port

TOKEN = "ghp_runbooktoken123"


def test_git_runs_without_prompts_and_the_token_only_as_a_header(tmp_path: Path) -> None:
    config = RunbooksConfig(repository="https://git.example/ops/runbooks.git")
    checkout = GitCheckout(config, tmp_path, {"PATH": "/usr/bin", "AWS_SECRET": "x"})
    env = checkout._env(TOKEN)
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert env["GIT_ALLOW_PROTOCOL"] == "https:ssh:file"
    assert env["GIT_SSH_COMMAND"] == "ssh -o BatchMode=yes"
    assert "AWS_SECRET" not in env  # the server's other variables stay out
    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    assert (env["GIT_CONFIG_KEY_0"], env["GIT_CONFIG_VALUE_0"]) == (
        "http.extraHeader",
        f"Authorization: Basic {basic}",
    )
    assert not any(TOKEN in value for value in env.values())
    assert "GIT_CONFIG_COUNT" not in checkout._env(None)


async def test_a_failed_https_sync_never_shows_the_token(tmp_path: Path) -> None:
    url = f"https://127.0.0.1:{free_port()}/ops/runbooks.git"
    config = RunbooksConfig(repository=url, token_ref="env://GIT_TOKEN")
    sync = RunbookSync(
        lambda: config,
        tmp_path / "runbooks",
        SecretResolver({"env": EnvResolver({"GIT_TOKEN": TOKEN})}),
        environ={"PATH": "/usr/bin:/bin"},
    )
    await sync.sync()
    status = sync.status()
    assert status["error"].startswith("git clone failed: fatal: unable to access")
    assert TOKEN not in str(status)
    assert status["lastSuccess"] is None
    assert status["runbooks"] == []


async def test_a_missing_token_is_a_sync_error_naming_the_reference(tmp_path: Path) -> None:
    config = RunbooksConfig(repository="https://git.example/rb.git", token_ref="env://GIT_TOKEN")
    sync = RunbookSync(
        lambda: config,
        tmp_path / "runbooks",
        SecretResolver({"env": EnvResolver({})}),
        environ={"PATH": "/usr/bin:/bin"},
    )
    await sync.sync()
    assert sync.status()["error"] == ("secret 'env://GIT_TOKEN': environment variable is not set")
