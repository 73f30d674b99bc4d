"""What ``validate`` (and loading a folder) says about chat Sources: a working one is clean;
two answering one command, a missing secret, a step that could never answer are named."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from punching_fist.cli import app, load_resources
from punching_fist.errors import ResourceValidationError
from punching_fist.resources.source import ChatConfig

HEAD = "apiVersion: punchingfist.io/v1alpha1\n"
WORKFLOW = f"""{HEAD}kind: Workflow
metadata: {{name: chat}}
spec:
  steps:
    - {{name: answer, type: agent, mode: chat, goal: "{{{{ .source.data.message.text }}}}",
        tools: [kubectl]}}
"""


def source(name: str, config: str) -> str:
    return (
        f"{HEAD}kind: Source\nmetadata: {{name: {name}}}\n"
        f"spec: {{type: chat, config: {config}, triggerWorkflow: chat}}\n"
    )


def validate(tmp_path: Path, *documents: str) -> tuple[int, str]:
    (tmp_path / "resources.yaml").write_text("\n---\n".join(documents))
    result = CliRunner().invoke(app, ["validate", str(tmp_path)])
    return result.exit_code, " ".join(result.output.split())


@pytest.fixture(autouse=True)
def slack_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "signing-test")


def test_a_mention_and_a_command_source_of_one_app_validate_clean(tmp_path: Path) -> None:
    code, output = validate(
        tmp_path,
        source("mentions", "{trigger: mention, channel: C0OPS0001}"),
        source("punch", "{trigger: command, command: /punch}"),
        WORKFLOW,
    )
    assert code == 0, output
    assert "0 warning(s)" in output


def test_the_same_command_twice_at_one_path_is_an_error(tmp_path: Path) -> None:
    code, output = validate(
        tmp_path,
        source("punch", "{trigger: command, command: /punch}"),
        source("punch2", "{trigger: command, command: punch}"),
        WORKFLOW,
    )
    assert code == 1
    assert "(Source/punch2): spec.config.command: /punch at '/slack/events' is already" in output


def test_a_missing_default_secret_names_the_source_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    code, output = validate(tmp_path, source("mentions", "{trigger: mention}"), WORKFLOW)
    assert code == 1
    assert (
        "(Source/mentions): spec.config.botToken: env://SLACK_BOT_TOKEN is not set in this"
        " environment: the chat Source could not answer" in output
    )


def test_serve_refuses_to_load_a_source_missing_its_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_SIGNING_SECRET")
    (tmp_path / "resources.yaml").write_text(
        "\n---\n".join([source("mentions", "{trigger: mention}"), WORKFLOW])
    )
    with pytest.raises(ResourceValidationError, match=r"Source/mentions.*signingSecret"):
        load_resources(tmp_path)


def test_a_path_of_the_servers_own_api_is_an_error(tmp_path: Path) -> None:
    code, output = validate(tmp_path, source("c", "{path: /slack/interactions}"), WORKFLOW)
    assert code == 1
    assert "spec.config.path: '/slack/interactions' is already served by the server's own API" in (
        output
    )


def test_a_chat_step_no_chat_source_starts_is_a_warning(tmp_path: Path) -> None:
    code, output = validate(tmp_path, WORKFLOW)
    assert code == 0, output
    assert "(Workflow/chat): spec.steps[0].mode: mode: chat answers the messages" in output


def test_a_command_trigger_needs_its_command_and_gets_its_slash() -> None:
    assert ChatConfig.model_validate({"trigger": "command", "command": "debug"}).command == "/debug"
    with pytest.raises(ValueError, match="trigger 'command' needs 'command'"):
        ChatConfig.model_validate({"trigger": "command"})
    with pytest.raises(ValueError, match="is not a slash command"):
        ChatConfig.model_validate({"trigger": "command", "command": "/Punch Now"})


def test_writes_that_would_wait_with_no_buttons_in_slack_are_a_warning(tmp_path: Path) -> None:
    waiting = WORKFLOW.replace("tools: [kubectl]}", "tools: [kubectl], approvalRequired: true}")
    code, output = validate(tmp_path, source("mentions", "{trigger: mention}"), waiting)
    assert code == 0, output
    assert (
        "(Workflow/chat): spec.steps[0].approvalRequired: the writes this chat step proposes"
        " would wait with no buttons in Slack" in output
    )


def test_the_chat_example_validates_clean() -> None:
    example = Path(__file__).parents[2] / "examples" / "chat"
    result = CliRunner().invoke(app, ["validate", str(example)])
    assert result.exit_code == 0, result.output
    assert "ok: 2 source(s), 1 workflow(s), 1 sink(s); 0 warning(s)" in result.output


def test_two_sources_answering_mentions_in_one_channel_is_an_error(tmp_path: Path) -> None:
    code, output = validate(
        tmp_path,
        source("ops", "{trigger: mention, channel: C0OPS0001}"),
        source("anywhere", "{trigger: mention}"),
        source("dev", "{trigger: mention, channel: C0DEV0001, path: /slack/dev}"),
        WORKFLOW,
    )
    assert code == 1
    assert (
        "(Source/ops): spec.config.channel: Source/anywhere at '/slack/events' answers mentions"
        " in C0OPS0001 too" in output
    )
    assert "Source/dev" not in output
