"""Which runbook serves an alert, and what of it the investigation gets.

An alert's ``runbook_url`` annotation wins: it names the file (a URL whose path ends with a
runbook's path, or a path relative to the repository or its ``path`` directory). Otherwise
the runbooks whose front matter serves the alert compete, the most specific first (one that
names the alertname, then the most matchers, then by path).

The runbook's shell commands are sorted by the kubectl tool's own policy
(``classify_kubectl``, the check ``evidence:`` commands pass at load): reads become evidence,
writes become proposed remediation, the rest is left out and said so. Placeholders
(``$NAMESPACE``, ``${POD}``, ``<pod>``, ``{{ $labels.pod }}``) are filled from the alert's
labels; a value that is not a plain name, or a placeholder no label fills, skips the command.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from punching_fist.agent.runbook import RunbookBrief, ToolRead
from punching_fist.agent.tools.kubectl import without_kubectl
from punching_fist.agent.tools.kubectl_policy import classify_kubectl
from punching_fist.knowledge.runbooks_parse import Runbook
from punching_fist.knowledge.runbooks_prompt import runbook_section

MAX_EVIDENCE_COMMANDS = 6
"""Runbook reads (kubectl, curl, PromQL) run before the first request; more would crowd out
the standard evidence."""
_CURL_QUIET = re.compile(r"-[sSf]+|--silent|--show-error|--fail")
_CURL_SENDS = ("-d", "-F", "-T", "--data", "--form", "--upload-file", "--json")

_PLACEHOLDER = re.compile(
    r"\{\{-?\s*(?:\$labels|\.Labels|\.labels)\.([A-Za-z_][A-Za-z0-9_]*)\s*-?\}\}"
    r"|\$\{([A-Za-z_][A-Za-z0-9_]*)\}"
    r"|\$([A-Za-z_][A-Za-z0-9_]*)"
    r"|<([A-Za-z_][A-Za-z0-9_-]*)>"
)
_SAFE_VALUE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._:-]{0,251}[A-Za-z0-9])?")


@dataclass(frozen=True, kw_only=True)
class RunbookSet:
    """The runbooks of one sync, and the commit they were read at."""

    runbooks: tuple[Runbook, ...] = ()
    commit: str | None = None
    root: str = ""
    """The configured ``path`` inside the repository (runbook paths start with it)."""

    def for_alert(self, alert: Mapping[str, object]) -> Runbook | None:
        labels = _mapping(alert.get("labels"))
        url = _mapping(alert.get("annotations")).get("runbook_url")
        if isinstance(url, str) and url.strip():
            pointed = self.at_url(url)
            if pointed is not None:
                return pointed
        serving = [runbook for runbook in self.runbooks if runbook.serves(labels)]
        if not serving:
            return None
        return min(serving, key=lambda r: (not r.alertnames, -len(r.matchers), r.path))

    def at_url(self, url: str) -> Runbook | None:
        """The runbook ``url`` points into, the longest path that fits."""
        wanted = _url_path(url)
        if not wanted:
            return None
        best: tuple[int, Runbook] | None = None
        for runbook in self.runbooks:
            for candidate in _names(runbook.path, self.root):
                fits = wanted == candidate or wanted.endswith("/" + candidate)
                if fits and (best is None or len(candidate) > best[0]):
                    best = (len(candidate), runbook)
        return best[1] if best else None


def brief_for(
    runbook: Runbook,
    *,
    commit: str | None,
    labels: Mapping[str, object],
    require_approval_for: Collection[str] = (),
) -> RunbookBrief:
    """What the investigation gets of ``runbook`` for an alert with ``labels``."""
    evidence: list[str] = []
    reads: list[ToolRead] = []
    remediation: list[str] = []
    skipped: list[str] = []

    def room() -> bool:
        return len(evidence) + len(reads) < MAX_EVIDENCE_COMMANDS

    for command in runbook.commands:
        filled, missing = fill(command, labels)
        if command.startswith("curl "):
            kind, why = _curl(filled)
            if kind == "write":
                remediation.append(filled)
            elif kind == "skip":
                skipped.append(f"{command} ({why})")
            elif missing:
                skipped.append(f"{command} (no label for {', '.join(missing)})")
            elif not room():
                skipped.append(f"{command} (more than {MAX_EVIDENCE_COMMANDS} reads)")
            else:
                reads.append(ToolRead(tool="curl", arguments=_curl_arguments(filled), shown=why))
            continue
        if not command.startswith("kubectl "):
            skipped.append(f"{command} (not kubectl or curl)")
            continue
        # Judged with placeholders as plain words, so a label value cannot change the verb.
        decision = classify_kubectl(
            without_kubectl(_PLACEHOLDER.sub("x", command)),
            require_approval_for=require_approval_for,
        )
        if decision.kind == "approval":
            remediation.append(filled)
        elif decision.kind == "refuse":
            skipped.append(f"{command} (refused: {decision.reason})")
        elif missing:
            skipped.append(f"{command} (no label for {', '.join(missing)})")
        elif not room():
            skipped.append(f"{command} (more than {MAX_EVIDENCE_COMMANDS} reads)")
        else:
            evidence.append(without_kubectl(filled))
    for query in runbook.queries:
        filled, missing = fill(query, labels)
        if missing:
            skipped.append(f"{query} (no label for {', '.join(missing)})")
        elif not room():
            skipped.append(f"{query} (more than {MAX_EVIDENCE_COMMANDS} reads)")
        else:
            reads.append(ToolRead(tool="promql", arguments={"query": filled}, shown=filled))
    return RunbookBrief(
        path=runbook.path,
        commit=commit,
        section=runbook_section(
            runbook, commit=commit, reads=bool(evidence or reads), remediation=remediation
        ),
        evidence=tuple(dict.fromkeys(evidence)),
        tool_reads=tuple(reads),
        remediation=tuple(dict.fromkeys(remediation)),
        skipped=tuple(skipped),
    )


def fill(command: str, labels: Mapping[str, object]) -> tuple[str, list[str]]:
    """``command`` with the placeholders it can fill replaced by label values, and those it
    could not (no such label, or a value that is not a plain name), which stay as written."""
    missing: list[str] = []

    def value(found: re.Match[str]) -> str:
        name = next(group for group in found.groups() if group is not None)
        for key in (name, name.lower(), name.lower().replace("-", "_")):
            candidate = labels.get(key)
            if isinstance(candidate, str) and _SAFE_VALUE.fullmatch(candidate):
                return candidate
        missing.append(name)
        return found[0]

    return _PLACEHOLDER.sub(value, command), missing


def _curl(command: str) -> tuple[str, str]:
    """``("read", "GET <url>")`` for a plain GET or HEAD of one http(s) URL, ``("write",
    "")`` for a request that sends something, else ``("skip", why)``."""
    try:
        argv = shlex.split(command)[1:]
    except ValueError as exc:
        return "skip", f"not a command line: {exc}"
    method, urls, words = "GET", [], iter(argv)
    for word in words:
        if word in ("-X", "--request"):
            method = next(words, "").upper()
        elif word in ("-I", "--head"):
            method = "HEAD"
        elif word.startswith(_CURL_SENDS):
            return "write", ""
        elif word.startswith("-") and not _CURL_QUIET.fullmatch(word):
            return "skip", f"curl option {word} is not supported"
        elif not word.startswith("-"):
            urls.append(word)
    if method not in ("GET", "HEAD"):
        return "write", ""
    if len(urls) != 1 or not urls[0].startswith(("http://", "https://")):
        return "skip", "not one http(s) URL"
    return "read", f"{method} {urls[0]}"


def _curl_arguments(command: str) -> dict[str, str]:
    method, url = _curl(command)[1].split(" ", 1)
    return {"url": url, "method": method}


def _names(path: str, root: str) -> Sequence[str]:
    names = [path]
    if root and path.startswith(root + "/"):
        names.append(path[len(root) + 1 :])
    return names + [name.removesuffix(".md") for name in names if name.endswith(".md")]


def _url_path(url: str) -> str:
    parts = urlsplit(url.strip())
    path = unquote(parts.path if parts.scheme or parts.netloc else url.split("#", 1)[0])
    return path.removeprefix("./").strip("/")


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}
