"""The sink tests' local PagerDuty and Jira, taking the credentials of ``tests.sinks.support``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sinks.support import JIRA_EMAIL, JIRA_TOKEN, PD_ROUTING_KEY
from tests.support.fake_jira import FakeJira
from tests.support.fake_pagerduty import FakePagerDuty


@pytest.fixture
def pagerduty() -> Iterator[FakePagerDuty]:
    fake = FakePagerDuty(routing_key=PD_ROUTING_KEY)
    with fake.running():
        yield fake


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    fake = FakeJira(email=JIRA_EMAIL, token=JIRA_TOKEN)
    with fake.running():
        yield fake
