"""Approval rules: which writes need a person, or several people, whatever the step says.

The design asks for approval gates "based on alert severity, affected resources". A rule
names the namespaces, resource kinds and alert severities it covers; a write an agent wants
to make that falls under every condition a rule sets waits for ``approvers`` different
people. Rules sit in a Workflow (``spec.approvalRules``) or, for every workflow, in the
OperatorConfig; the agent runtime matches them (``agent/approval_rules.py``).
"""

from __future__ import annotations

from pydantic import Field

from punching_fist.resources.base import SpecModel

MAX_APPROVERS = 5


class ApprovalRule(SpecModel):
    """Writes that wait for ``approvers`` people; an empty list sets no condition."""

    name: str = Field(min_length=1, max_length=100)
    """Shown with every approval request the rule applies to."""
    namespaces: list[str] = Field(default_factory=list)
    """Namespaces the write touches, as shell patterns (``prod``, ``prod-*``)."""
    kinds: list[str] = Field(default_factory=list)
    """Kinds of the resources it changes, spelled as kubectl takes them (``deployment``,
    ``deploy``, ``pods``)."""
    severities: list[str] = Field(default_factory=list)
    """Severities (the ``severity`` label) of the alert the run started from."""
    approvers: int = Field(default=1, ge=1, le=MAX_APPROVERS)
    """How many different people must approve before the write runs."""


def unique_rule_names(rules: list[ApprovalRule]) -> list[ApprovalRule]:
    """Rule names are what a person deciding sees; two rules of one name would be ambiguous."""
    names = [rule.name for rule in rules]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"rule names must be unique: {repeated}")
    return rules
