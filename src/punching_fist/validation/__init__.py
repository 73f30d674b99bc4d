"""Everything we can tell about resources before they run, in one pass.

``check_folder`` is what ``punching-fist validate`` and folder-mode ``serve`` use; Kubernetes
mode checks one object at a time with ``check_resource`` (``operator/checks.py``). Schema
errors, references, templates and settings are reported together: one resource failing its
schema does not hide the problems of the others, and a reference to it is not reported as
missing on top. Each line names the file, the document, the resource and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from punching_fist.errors import ResourceValidationError
from punching_fist.resources.findings import Finding
from punching_fist.resources.loader import Resource, ResourceSet, index_resources, read_directory
from punching_fist.resources.operator_config import OperatorConfig
from punching_fist.resources.references import check_references, template_findings
from punching_fist.resources.sink import Sink
from punching_fist.resources.source import Source
from punching_fist.resources.workflow import Workflow
from punching_fist.validation.partial import partial_findings
from punching_fist.validation.settings import (
    operator_config_findings,
    sink_findings,
    source_findings,
)
from punching_fist.validation.workflows import workflow_findings

__all__ = ["FolderReport", "check_folder", "check_resource"]


def check_resource(resource: Resource) -> list[Finding]:
    """What one resource gets wrong on its own: templates, tools, settings, credentials."""
    name = resource.metadata.name or ""
    findings = template_findings(resource.kind, name, resource)
    if isinstance(resource, Workflow):
        findings += workflow_findings(resource)
    elif isinstance(resource, Source):
        findings += source_findings(resource)
    elif isinstance(resource, Sink):
        findings += sink_findings(resource)
    elif isinstance(resource, OperatorConfig):
        findings += operator_config_findings(resource)
    return findings


@dataclass(frozen=True, kw_only=True)
class FolderReport:
    """What a folder holds and everything wrong with it."""

    resources: ResourceSet
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """Settings that load but do nothing (or less than they say)."""
    skipped: list[str] = field(default_factory=list)
    """YAML documents that are not resources of ours (manifests, snippets)."""

    def raise_for_errors(self) -> ResourceSet:
        """The resources, or ``ResourceValidationError`` with every error."""
        if self.errors:
            raise ResourceValidationError(self.errors)
        return self.resources


def check_folder(directory: Path) -> FolderReport:
    """Read every resource below ``directory`` and check them all, alone and together."""
    parsed = read_directory(directory)
    resources, problems = index_resources(parsed.loaded)
    where = {
        (item.kind, item.name): (item.origin, item.document)
        for item in reversed(parsed.loaded)  # the first of two equal names is the one indexed
        if item.name
    }
    findings = check_references(resources, parsed.unloaded)
    for table in (resources.sources, resources.workflows, resources.sinks):
        for resource in table.values():
            findings += check_resource(resource)
    if resources.operator_config is not None:
        findings += check_resource(resources.operator_config)
    for origin, document, raw in parsed.rejected:
        for finding in partial_findings(raw, check_resource):
            where.setdefault((finding.kind, finding.name), (origin, document))
            findings.append(finding)

    def line(finding: Finding) -> tuple[tuple[str, int], str]:
        origin, document = where.get((finding.kind, finding.name), ("?", 0))
        place = f"{origin}: document {document} ({finding.kind}/{finding.name})"
        return (origin, document), f"{place}: {finding.text}"

    errors = sorted(line(f) for f in findings if not f.warning)
    warnings = sorted(line(f) for f in findings if f.warning)
    return FolderReport(
        resources=resources,
        errors=parsed.problems + problems + [text for _, text in errors],
        warnings=[text for _, text in warnings],
        skipped=parsed.skipped,
    )
