"""The chart's Grafana dashboard: a ConfigMap for Grafana's sidecar holding a dashboard whose
every query reads a metric this code exposes, with labels it has.

The metrics are those of a built ``Service`` (every part registered, none started): the
registry's names, and the families its exposition lists (the run queue's are collected).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from punching_fist.config import Settings
from punching_fist.resources.loader import ResourceSet
from punching_fist.server.service import Service
from tests.operator.test_chart import CHART, render
from tests.operator.test_chart import helm as helm  # the fixture, used by name

pytestmark = pytest.mark.integration

METRIC = re.compile(r"\bpunchingfist_[a-z_]+\b")
GROUPING = re.compile(r"\bby \(([^)]*)\)")
SELECTOR = re.compile(r"(punchingfist_[a-z_]+)\{([^}]*)\}")
SUFFIXES = ("_total", "_bucket", "_sum", "_count", "_created")


def exposed(tmp_path: Path) -> dict[str, set[str]]:
    """Every series name the server can expose, with the labels it carries."""
    service = Service.build(
        Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'pf.db'}"), ResourceSet()
    )
    registry = service.metrics.registry
    labels: dict[str, set[str]] = {}
    for name, collector in registry._names_to_collectors.items():
        labels[name] = set(getattr(collector, "_labelnames", ()))
        if name.endswith("_bucket"):
            labels[name].add("le")
    for family in text_string_to_metric_families(service.metrics.exposition().decode()):
        for sample in family.samples:
            labels.setdefault(sample.name, set()).update(sample.labels)
        labels.setdefault(family.name, set())
    labels.update(
        {
            f"{name}{suffix}": {*found, "le"}
            for name, found in list(labels.items())
            for suffix in SUFFIXES
            if f"{name}{suffix}" not in labels
        }
    )
    return labels


def dashboard_of(documents: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    [config_map] = [
        d
        for d in documents
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-grafana-dashboard")
    ]
    return config_map, json.loads(config_map["data"]["punching-fist.json"])


def expressions(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_the_dashboard_configmap_carries_the_sidecar_label_and_parses(helm: Path) -> None:
    config_map, dashboard = dashboard_of(render(helm))
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["namespace"] == "pf-system"
    assert dashboard["uid"] == "punching-fist"
    assert dashboard == json.loads((CHART / "dashboards" / "punching-fist.json").read_text())
    titles = {panel["title"] for panel in dashboard["panels"]}
    for kpi in (
        "Mean time to triage (MTTT)",
        "Mean time to resolve (MTTR)",
        "Auto-resolution rate (24 h)",
        "AI accuracy (7 d)",
        "LLM tokens per hour and cost",
    ):
        assert kpi in titles


def test_the_dashboard_can_move_namespace_take_annotations_or_go(helm: Path) -> None:
    moved = render(
        helm,
        "--set",
        "grafanaDashboard.namespace=monitoring",
        "--set",
        "grafanaDashboard.annotations.grafana_folder=Incidents",
    )
    config_map, _ = dashboard_of(moved)
    assert config_map["metadata"]["namespace"] == "monitoring"
    assert config_map["metadata"]["annotations"] == {"grafana_folder": "Incidents"}
    off = render(helm, "--set", "grafanaDashboard.enabled=false")
    assert not [d for d in off if d["metadata"]["name"].endswith("-grafana-dashboard")]


def test_every_query_reads_a_metric_the_code_exposes_by_labels_it_has(
    helm: Path, tmp_path: Path
) -> None:
    metrics = exposed(tmp_path)
    _, dashboard = dashboard_of(render(helm))
    queried: set[str] = set()
    for expr in expressions(dashboard):
        names = set(METRIC.findall(expr))
        assert names, expr
        unknown = names - set(metrics)
        assert not unknown, f"{expr}: no such metric {unknown}"
        queried |= names
        available = set().union(*(metrics[name] for name in names))
        for group in GROUPING.findall(expr):
            wanted = {label.strip() for label in group.split(",")}
            assert wanted <= available, f"{expr}: no label {wanted - available}"
        for name, matchers in SELECTOR.findall(expr):
            label = matchers.split("=")[0].strip()
            assert label in metrics[name], f"{expr}: {name} has no label {label}"
    for kpi in (
        "punchingfist_time_to_triage_seconds_sum",
        "punchingfist_time_to_resolve_seconds_bucket",
        "punchingfist_alerts_auto_resolved_total",
        "punchingfist_feedback_total",
        "punchingfist_llm_tokens_total",
    ):
        assert kpi in queried
