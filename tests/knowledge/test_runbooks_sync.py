"""The runbook repository synced with real git: a local bare repository as the remote."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from punching_fist.knowledge.runbooks_sync import RunbookMetrics, RunbookSync
from punching_fist.resources.runbooks import RunbooksConfig
from punching_fist.secret_refs import SecretResolver
from tests.knowledge.git_repos import Remote
from tests.support.fake_clock import FakeClock

CRASHLOOP = """---
alertnames: [KubePodCrashLooping]
---
# Crash loops
```bash
kubectl describe pod $POD -n $NAMESPACE
```
"""
ALERT = {"labels": {"alertname": "KubePodCrashLooping", "namespace": "prod", "pod": "api-1"}}


class Synced:
    def __init__(self, tmp_path: Path, config: RunbooksConfig | None, clock: FakeClock) -> None:
        self.registry = CollectorRegistry()
        self.config: RunbooksConfig | None = config
        self.sync = RunbookSync(
            lambda: self.config,
            tmp_path / "state" / "runbooks",
            SecretResolver(),
            environ={"PATH": "/usr/local/bin:/usr/bin:/bin"},
            metrics=RunbookMetrics(self.registry),
            clock=clock,
        )

    def metric(self, name: str) -> float | None:
        return self.registry.get_sample_value(name)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 12, 7, 3, 0, tzinfo=UTC))


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    return Remote(tmp_path / "remote")


@pytest.fixture
async def synced(tmp_path: Path, remote: Remote, clock: FakeClock) -> AsyncIterator[Synced]:
    config = RunbooksConfig(repository=remote.url, sync_interval="10m")
    synced = Synced(tmp_path, config, clock)
    yield synced
    await synced.sync.stop()


async def test_the_first_sync_at_start_loads_the_runbooks(
    synced: Synced, remote: Remote, clock: FakeClock
) -> None:
    commit = remote.push({"crashloop.md": CRASHLOOP, "README.md": "# Our runbooks\n"})
    synced.sync.start()
    await clock.wait_for_sleepers(1)
    status = synced.sync.status()
    assert status["commit"] == commit
    assert status["error"] is None
    assert status["lastSuccess"] == "2026-12-07T03:00:00+00:00"
    assert [r["path"] for r in status["runbooks"]] == ["README.md", "crashloop.md"]
    brief = synced.sync.brief_for_alert(ALERT)
    assert brief is not None
    assert (brief.path, brief.commit, brief.evidence) == (
        "crashloop.md",
        commit,
        ("describe pod api-1 -n prod",),
    )
    assert synced.metric("punchingfist_runbooks_loaded") == 2
    assert (
        synced.metric("punchingfist_runbooks_last_sync_timestamp_seconds")
        == clock.now().timestamp()
    )


async def test_a_pushed_change_is_picked_up_within_one_interval(
    synced: Synced, remote: Remote, clock: FakeClock
) -> None:
    remote.push({"crashloop.md": CRASHLOOP})
    synced.sync.start()
    await clock.wait_for_sleepers(1)
    changed = CRASHLOOP.replace("# Crash loops", "# Crash loops, revised")
    commit = remote.push({"crashloop.md": changed, "disk.md": "---\nalertnames: [DiskFull]\n---\n"})
    await clock.advance(599)
    assert synced.sync.status()["commit"] != commit  # not before the interval
    await clock.advance(1)
    assert synced.sync.status()["commit"] == commit
    brief = synced.sync.brief_for_alert(ALERT)
    assert brief is not None
    assert "Crash loops, revised" in brief.section
    assert synced.sync.brief_for_alert({"labels": {"alertname": "DiskFull"}}) is not None
    remote.push({"disk.md": None})
    await clock.advance(600)
    assert synced.sync.brief_for_alert({"labels": {"alertname": "DiskFull"}}) is None


async def test_a_broken_remote_keeps_the_last_good_copy_and_says_so(
    synced: Synced, remote: Remote, clock: FakeClock
) -> None:
    good = remote.push({"crashloop.md": CRASHLOOP})
    synced.sync.start()
    await clock.wait_for_sleepers(1)
    remote.bare.rename(remote.bare.with_name("moved.git"))
    await clock.advance(600)
    status = synced.sync.status()
    assert status["commit"] == good
    assert status["error"].startswith("git fetch failed: ")
    assert "does not appear to be a git repository" in status["error"]
    assert status["lastAttempt"] == "2026-12-07T03:10:00+00:00"
    assert status["lastSuccess"] == "2026-12-07T03:00:00+00:00"
    assert synced.sync.brief_for_alert(ALERT) is not None
    assert synced.metric("punchingfist_runbooks_sync_failures_total") == 1
    assert synced.metric("punchingfist_runbooks_loaded") == 1
    # Back again: the next sync clears the error.
    remote.bare.with_name("moved.git").rename(remote.bare)
    await clock.advance(600)
    assert synced.sync.status()["error"] is None
    assert synced.sync.status()["lastSuccess"] == "2026-12-07T03:20:00+00:00"


async def test_a_restart_with_the_remote_away_serves_the_copy_left_behind(
    tmp_path: Path, synced: Synced, remote: Remote, clock: FakeClock
) -> None:
    good = remote.push({"crashloop.md": CRASHLOOP})
    await synced.sync.sync()
    remote.bare.rename(remote.bare.with_name("moved.git"))
    again = Synced(tmp_path, synced.config, clock)
    await again.sync.sync()
    assert again.sync.status()["commit"] == good
    assert again.sync.status()["error"] is not None
    assert again.sync.status()["lastSuccess"] is None
    assert again.sync.brief_for_alert(ALERT) is not None


async def test_a_broken_runbook_is_skipped_and_reported(synced: Synced, remote: Remote) -> None:
    remote.push({"crashloop.md": CRASHLOOP, "ops/bad.md": "---\nmatchers: ['x=~\"(\"']\n---\n"})
    await synced.sync.sync()
    status = synced.sync.status()
    assert [r["path"] for r in status["runbooks"]] == ["crashloop.md"]
    assert status["problems"] == [
        "ops/bad.md: front matter matchers[0]: 'x=~\"(\"': not a valid regular expression:"
        " missing ), unterminated subpattern at position 0"
    ]
    assert status["error"] is None


async def test_branch_and_path_choose_what_is_read(
    tmp_path: Path, remote: Remote, clock: FakeClock
) -> None:
    remote.push({"crashloop.md": CRASHLOOP})
    commit = remote.push(
        {"ops/runbooks/disk.md": "---\nalertnames: [DiskFull]\n---\n", "top.md": CRASHLOOP},
        branch="release",
    )
    config = RunbooksConfig(repository=remote.url, branch="release", path="ops/runbooks")
    synced = Synced(tmp_path, config, clock)
    await synced.sync.sync()
    status = synced.sync.status()
    assert (status["commit"], status["branch"]) == (commit, "release")
    assert [r["path"] for r in status["runbooks"]] == ["ops/runbooks/disk.md"]


async def test_a_local_directory_is_read_as_it_is(tmp_path: Path, clock: FakeClock) -> None:
    directory = tmp_path / "plain"
    directory.mkdir()
    (directory / "crashloop.md").write_text(CRASHLOOP)
    synced = Synced(tmp_path, RunbooksConfig(repository=str(directory), sync_interval="1m"), clock)
    synced.sync.start()
    await clock.wait_for_sleepers(1)
    assert synced.sync.status()["commit"] is None
    assert synced.sync.brief_for_alert(ALERT) is not None
    (directory / "crashloop.md").unlink()
    await clock.advance(60)
    assert synced.sync.brief_for_alert(ALERT) is None
    await synced.sync.stop()


async def test_a_changed_setting_syncs_at_once(
    tmp_path: Path, synced: Synced, remote: Remote, clock: FakeClock
) -> None:
    remote.push({"crashloop.md": CRASHLOOP})
    synced.sync.start()
    await clock.wait_for_sleepers(1)
    other = Remote(tmp_path / "other")
    commit = other.push({"disk.md": "---\nalertnames: [DiskFull]\n---\n"})
    synced.config = RunbooksConfig(repository=other.url)
    synced.sync.config_changed()
    for _ in range(500):
        if synced.sync.status()["commit"] == commit:
            break
        await asyncio.sleep(0.01)
    assert synced.sync.status()["repository"] == other.url
    assert synced.sync.brief_for_alert(ALERT) is None


async def test_a_config_that_arrives_after_start_syncs_at_once_then_on_its_interval(
    tmp_path: Path, remote: Remote, clock: FakeClock
) -> None:
    synced = Synced(tmp_path, RunbooksConfig(repository=remote.url), clock)
    synced.config = None  # Kubernetes mode: no OperatorConfig yet at start
    synced.sync.start()
    await clock.wait_for_sleepers(1)
    assert synced.sync.status()["configured"] is False
    first = remote.push({"crashloop.md": CRASHLOOP})
    synced.config = RunbooksConfig(repository=remote.url, sync_interval="5m")
    synced.sync.config_changed()
    for _ in range(500):
        if synced.sync.status()["commit"] == first and clock.sleeping == 1:
            break
        await asyncio.sleep(0.01)
    assert synced.sync.status()["commit"] == first
    second = remote.push({"disk.md": "# Disk\n"})
    await clock.advance(300)  # the new interval, not the hour the loop slept before
    assert synced.sync.status()["commit"] == second
    await synced.sync.stop()


async def test_symlinks_do_not_lead_outside_the_repository(
    tmp_path: Path, clock: FakeClock
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("---\nalertnames: [KubePodCrashLooping]\n---\nsecret\n")
    directory = tmp_path / "plain"
    directory.mkdir()
    (directory / "crashloop.md").write_text(CRASHLOOP)
    (directory / "linked").symlink_to(outside, target_is_directory=True)
    (directory / "file.md").symlink_to(outside / "secret.md")
    synced = Synced(tmp_path, RunbooksConfig(repository=str(directory)), clock)
    await synced.sync.sync()
    status = synced.sync.status()
    assert [r["path"] for r in status["runbooks"]] == ["crashloop.md"]
    assert status["problems"] == ["file.md: not a regular file"]


async def test_a_path_that_is_a_symlink_out_of_the_repository_is_refused(
    tmp_path: Path, clock: FakeClock
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "crashloop.md").write_text(CRASHLOOP)
    directory = tmp_path / "plain"
    directory.mkdir()
    (directory / "ops").symlink_to(outside, target_is_directory=True)
    config = RunbooksConfig(repository=str(directory), path="ops")
    synced = Synced(tmp_path, config, clock)
    await synced.sync.sync()
    assert synced.sync.status()["runbooks"] == []
    assert synced.sync.status()["problems"] == ["ops is not a directory in the repository"]
