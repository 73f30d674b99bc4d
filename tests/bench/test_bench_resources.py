"""The benchmarks' resources load, and the eval measures investigations from nothing.

The eval runs every scenario on one server: without ``perAlert`` a scenario would join an
earlier one's incident, and with the cache or knowledge on it would reuse or recall another
scenario's answer, so the pass rate would not be the model's.
"""

from __future__ import annotations

from bench.eval import RESOURCES, WEBHOOK
from bench.memory import resources_text

from tests.support.server import resources_from_yaml


def test_the_eval_investigates_every_alert_from_nothing() -> None:
    resources = resources_from_yaml(RESOURCES % {"webhook": WEBHOOK, "timeout": 20, "endpoint": ""})
    config = resources.operator_config
    assert config is not None
    assert config.spec.cache.lifetime() is None
    assert config.spec.knowledge.enabled is False
    assert resources.workflows["eval-triage"].spec.investigate == "perAlert"


def test_the_memory_bench_keeps_memory_on_with_the_cache_it_is_given() -> None:
    resources = resources_from_yaml(resources_text("15m"))
    config = resources.operator_config
    assert config is not None
    assert config.spec.cache.ttl == "15m"
    assert config.spec.knowledge.enabled is True
    assert resources.workflows["eval-triage"].spec.investigate == "perAlert"
