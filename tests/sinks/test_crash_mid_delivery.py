"""A server killed (SIGKILL) while a delivery is in flight delivers it exactly once after restart.

The worst moment is chosen on purpose: Slack has received the message, but the answer never
reaches the server, which dies before recording anything. The restarted server resumes the
run, knows from the attempt counter that an earlier attempt may have arrived, finds the
message by its metadata and records it instead of posting a second one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.sinks.support import SLACK_TOKEN, pipeline_yaml
from tests.sinks.test_slack import slack_sink
from tests.support.fake_slack import FakeSlack
from tests.support.payloads import alert, notification
from tests.support.process import ServerProcess

pytestmark = pytest.mark.integration


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack(token=SLACK_TOKEN)
    with fake.running():
        yield fake


@pytest.fixture
def server(tmp_path: Path, slack: FakeSlack) -> Iterator[ServerProcess]:
    resources = tmp_path / "resources"
    resources.mkdir()
    (resources / "all.yaml").write_text(pipeline_yaml(slack_sink(slack), ["slack"]))
    process = ServerProcess(
        resources=resources,
        database_url=f"sqlite:///{tmp_path / 'pf.db'}",
        workdir=tmp_path,
        extra_args=["--lease-seconds", "2"],
        env={"SLACK_TOKEN": SLACK_TOKEN},
    )
    process.start()
    try:
        yield process
    finally:
        slack.release()
        process.stop()


def wait(predicate: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.05)


def test_killed_mid_delivery_then_restarted_delivers_exactly_once(
    server: ServerProcess, slack: FakeSlack, tmp_path: Path
) -> None:
    slack.hold()
    accepted = httpx.post(
        f"{server.url}/hook", json=notification(alert(fingerprint="crash-1")), timeout=10
    )
    assert accepted.status_code == 202
    run_id = accepted.json()["alerts"][0]["runId"]
    wait(lambda: slack.held_count >= 1)  # chat.postMessage is on the wire

    server.kill()
    slack.release()  # Slack now stores the message; its answer goes to a dead process
    wait(lambda: len(slack.posted()) == 1)
    server.start()

    def delivered() -> dict[str, object] | None:
        detail = httpx.get(f"{server.url}/api/v1/runs/{run_id}", timeout=5).json()
        [delivery] = detail["deliveries"] or [None]
        if delivery and delivery["status"] == "delivered" and detail["status"] == "succeeded":
            return dict(delivery)
        return None

    wait(delivered)
    delivery = delivered()
    assert delivery is not None
    assert delivery["attempts"] == 2
    assert delivery["response"] == {
        "channel": "C0OPS0001",
        "ts": slack.posted()[0].ts,
        "adopted": True,
    }
    assert len(slack.posted()) == 1
    assert len(slack.requests_to("/api/chat.postMessage")) == 1
    logs = "".join(
        (tmp_path / f"server-{n}.err").read_text(errors="replace") for n in (1, server.generation)
    )
    assert SLACK_TOKEN not in logs
    assert '"run_id"' in logs  # the logs are there, just without the token
