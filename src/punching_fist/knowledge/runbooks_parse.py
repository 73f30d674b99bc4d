"""Reading one runbook: its YAML front matter, label matchers, and fenced shell commands.

A runbook is markdown. Its front matter says which alerts it serves::

    ---
    title: Pod crash looping
    alertnames: [KubePodCrashLooping]
    matchers: ['severity=~"critical|warning"', 'namespace="prod"']
    ---

Matchers use Alertmanager's syntax (``=``, ``!=``, ``=~``, ``!~``; regexes anchored, as
Alertmanager anchors them). A file without front matter is still a runbook: an alert's
``runbook_url`` may point at it. A file whose front matter is broken raises
``ConfigurationError``; the sync skips it and reports it, it never stops the others.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from punching_fist.errors import ConfigurationError

MatchType = Literal["=", "!=", "=~", "!~"]

_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.DOTALL)
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_FENCE = re.compile(r"^(```+|~~~+)[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)^\1[ \t]*$", re.M | re.S)
_SHELL_FENCES = frozenset({"bash", "sh", "shell", "console", "zsh"})
_TITLE = re.compile(r"^#[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)


@dataclass(frozen=True, kw_only=True)
class Matcher:
    """One Alertmanager label matcher, such as ``severity=~"critical|warning"``."""

    name: str
    type: MatchType
    value: str

    def matches(self, labels: Mapping[str, object]) -> bool:
        raw = labels.get(self.name)
        value = raw if isinstance(raw, str) else ""  # a missing label matches as ""
        match self.type:
            case "=":
                return value == self.value
            case "!=":
                return value != self.value
            case "=~":
                return re.fullmatch(self.value, value) is not None
            case "!~":
                return re.fullmatch(self.value, value) is None

    def __str__(self) -> str:
        return f"{self.name}{self.type}{json.dumps(self.value)}"


def parse_matcher(text: str) -> Matcher:
    """``name="value"`` (or unquoted) in Alertmanager's syntax; ``ValueError`` otherwise."""
    found = _MATCHER.match(text)
    if found is None:
        raise ValueError(f'{text!r} is not a matcher such as severity="critical"')
    name, kind, value = found.groups()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{text!r}: the quoted value is not valid: {exc.msg}") from None
    elif '"' in value:
        raise ValueError(f"{text!r}: an unquoted value cannot hold '\"'")
    if kind in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"{text!r}: not a valid regular expression: {exc}") from None
    return Matcher(name=name, type=kind, value=value)  # type: ignore[arg-type]  # the regex


class _FrontMatter(BaseModel):
    """What the front matter may say; other keys (owner, tags) are the team's own."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    title: str | None = None
    alertnames: list[str] = Field(default_factory=list)
    matchers: list[str] = Field(default_factory=list)

    @field_validator("alertnames", "matchers", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


@dataclass(frozen=True, kw_only=True)
class Runbook:
    """One parsed runbook; ``path`` is relative to the repository's root."""

    path: str
    title: str
    alertnames: tuple[str, ...] = ()
    matchers: tuple[Matcher, ...] = ()
    body: str
    """The markdown after the front matter."""
    commands: tuple[str, ...] = ()
    """Each command line of the ``bash``/``sh``/``shell``/``console`` fences, in order."""
    queries: tuple[str, ...] = ()
    """The PromQL expressions of ``promql`` fences (one per blank-line separated block)."""

    def serves(self, labels: Mapping[str, object]) -> bool:
        """Whether its front matter names this alert: the alertname (if it lists any) and
        every matcher; a runbook naming neither is found only through ``runbook_url``."""
        if not self.alertnames and not self.matchers:
            return False
        if self.alertnames and labels.get("alertname") not in self.alertnames:
            return False
        return all(matcher.matches(labels) for matcher in self.matchers)


def parse_runbook(path: str, text: str) -> Runbook:
    """The runbook in ``text`` (found at ``path``); ``ConfigurationError`` naming what is wrong."""
    body = text
    front = _FrontMatter()
    found = _FRONT_MATTER.match(text)
    if found is not None:
        body = text[found.end() :]
        try:
            data = yaml.safe_load(found[1])
        except yaml.YAMLError as exc:
            raise ConfigurationError(
                f"{path}: front matter is not YAML: {_one_line(exc)}"
            ) from None
        if data is not None and not isinstance(data, dict):
            raise ConfigurationError(f"{path}: front matter must be a mapping")
        try:
            front = _FrontMatter.model_validate(data or {})
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            raise ConfigurationError(f"{path}: front matter {where}: {error['msg']}") from None
    matchers = []
    for index, text_matcher in enumerate(front.matchers):
        try:
            matchers.append(parse_matcher(text_matcher))
        except ValueError as exc:
            raise ConfigurationError(f"{path}: front matter matchers[{index}]: {exc}") from None
    heading = _TITLE.search(body)
    return Runbook(
        path=path,
        title=front.title or (heading[1] if heading else path.rsplit("/", 1)[-1]),
        alertnames=tuple(front.alertnames),
        matchers=tuple(matchers),
        body=body.strip(),
        commands=shell_commands(body),
        queries=promql_queries(body),
    )


def shell_commands(markdown: str) -> tuple[str, ...]:
    """The command lines of shell fences: comments and blank lines dropped, ``\\``
    continuations joined, a ``$ `` prompt removed (in ``console`` fences, only prompted
    lines are commands; the rest is their output)."""
    commands: list[str] = []
    for fence in _FENCE.finditer(markdown):
        language = fence[2].lower()
        if language not in _SHELL_FENCES:
            continue
        pending = ""
        for raw in fence[3].splitlines():
            line = raw.strip()
            if language == "console" and not (line.startswith("$ ") or pending):
                continue  # a console fence's output lines
            line = line.removeprefix("$ ").strip()
            if not pending and (not line or line.startswith("#")):
                continue
            if line.endswith("\\"):
                pending += line[:-1].strip() + " "
                continue
            commands.append((pending + line).strip())
            pending = ""
        if pending.strip():
            commands.append(pending.strip())
    return tuple(dict.fromkeys(commands))


def promql_queries(markdown: str) -> tuple[str, ...]:
    """The expressions of ``promql`` fences: blocks split at blank lines, ``#`` comments
    dropped, lines joined with spaces."""
    queries: list[str] = []
    for fence in _FENCE.finditer(markdown):
        if fence[2].lower() != "promql":
            continue
        for block in re.split(r"\n[ \t]*\n", fence[3]):
            lines = [line.strip() for line in block.splitlines()]
            query = " ".join(line for line in lines if line and not line.startswith("#"))
            if query:
                queries.append(query)
    return tuple(dict.fromkeys(queries))


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())[:200]
