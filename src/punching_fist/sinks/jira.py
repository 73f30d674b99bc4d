"""The ``jira`` sink: one issue per alert or incident, a comment for every later result.

The first result about an alert creates an issue (``POST /rest/api/{2|3}/issue``) in
``project`` with ``issueType``, the rendered ``summary`` and the description (the sink's
``template``, or a default layout of the result). The issue key is stored per alert, so the
next result (the resolution, a repeat after a restart of the alert) becomes a comment on it.

Idempotency: the issue is labelled ``pf-<hash of the alert key>`` and every text ends with a
``Punching Fist · run <id>`` line. An attempt after one whose outcome is unknown looks
for them (a JQL search by label, the issue's recent comments) and adopts what it finds
instead of creating a second issue or comment. API version 3 takes Atlassian Document
Format, so text is wrapped into paragraphs for it; version 2 takes the text as is.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from punching_fist.engine.status import DeliveryStatus
from punching_fist.resources.sink import JiraConfig
from punching_fist.secret_refs import SecretResolver
from punching_fist.sinks.base import Correlation, Delivery, DeliveryReport
from punching_fist.sinks.correlation import short_hash
from punching_fist.sinks.credentials import credential
from punching_fist.sinks.http import check, join_url, send
from punching_fist.sinks.summary import ResultSummary, summarize
from punching_fist.templating import render

SERVICE = "jira"
SUMMARY_LIMIT = 255


def error_detail(response: httpx.Response) -> str:
    """Jira's ``{"errorMessages": [...], "errors": {field: message}}`` as one line."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if not isinstance(body, dict):
        return str(body)[:300]
    messages = [str(m) for m in body.get("errorMessages") or []]
    messages += [f"{field}: {text}" for field, text in (body.get("errors") or {}).items()]
    return "; ".join(messages)[:300] or response.text[:300]


def adf(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document: one paragraph per non-empty block."""
    paragraphs = [block.strip() for block in text.split("\n\n") if block.strip()]
    content = []
    for paragraph in paragraphs:
        nodes: list[dict[str, Any]] = []
        for index, line in enumerate(paragraph.splitlines()):
            if index:
                nodes.append({"type": "hardBreak"})
            if line:
                nodes.append({"type": "text", "text": line})
        content.append({"type": "paragraph", "content": nodes})
    return {"type": "doc", "version": 1, "content": content}


class JiraSink:
    def __init__(
        self,
        config: JiraConfig,
        client: httpx.AsyncClient,
        *,
        secrets: SecretResolver,
        run_url: Callable[[uuid.UUID], str | None],
    ) -> None:
        self._config = config
        self._client = client
        self._secrets = secrets
        self._run_url = run_url

    async def deliver(self, delivery: Delivery) -> DeliveryReport:
        headers = await self._headers()
        result = summarize(delivery.context)
        text = self._text(delivery, result)
        if delivery.delivered_ref:
            return await self._update(headers, delivery.delivered_ref, text, result, delivery)
        issue = delivery.previous.external_ref if delivery.previous else None
        if issue is not None and await self._exists(headers, issue):
            return await self._comment(headers, issue, text, delivery)
        return await self._create(headers, text, result, delivery)

    async def _headers(self) -> dict[str, str]:
        token = await credential(self._secrets, self._config.api_token, field="apiToken")
        if self._config.user_email:
            pair = f"{self._config.user_email}:{token}".encode()
            authorization = "Basic " + base64.b64encode(pair).decode()
        else:
            authorization = f"Bearer {token}"
        return {"Authorization": authorization, "Accept": "application/json"}

    def _text(self, delivery: Delivery, result: ResultSummary) -> str:
        if self._config.template:
            body = render(self._config.template, delivery.context).strip()
        else:
            parts = [result.summary or f"{result.alertname} ({result.severity})"]
            if result.root_cause:
                parts.append(f"Root cause:\n{result.root_cause}")
            if result.recommendations:
                parts.append(
                    "Recommendations:\n" + "\n".join(f"- {r}" for r in result.recommendations)
                )
            if result.confidence is not None:
                parts.append(f"Confidence: {result.confidence:.0%}")
            body = "\n\n".join(parts)
        link = self._run_url(delivery.run_id)
        footer = _footer(delivery.run_id) + (f" · {link}" if link else "")
        return f"{body}\n\n{footer}"

    def _summary(self, delivery: Delivery, result: ResultSummary) -> str:
        if self._config.summary:
            text = render(self._config.summary, delivery.context)
        else:
            text = f"[{result.severity.upper()}] {result.alertname}: {result.summary}"
        line = " ".join(text.split())
        return line[: SUMMARY_LIMIT - 1] + "…" if len(line) > SUMMARY_LIMIT else line

    def _body(self, text: str) -> Any:
        return adf(text) if self._config.api_version == "3" else text

    async def _create(
        self, headers: dict[str, str], text: str, result: ResultSummary, delivery: Delivery
    ) -> DeliveryReport:
        label = f"pf-{short_hash(delivery.correlation_key)}"
        if delivery.attempt > 1:
            found = await self._find_issue(headers, label)
            if found is not None:
                return _report(found, created=False, adopted=True)
        fields = {
            "project": {"key": self._config.project},
            "issuetype": {"name": self._config.issue_type},
            "summary": self._summary(delivery, result),
            "description": self._body(text),
            "labels": [*self._config.labels, label],
        }
        response = await self._call("POST", "/issue", headers, json={"fields": fields})
        return _report(str(response.json()["key"]), created=True)

    async def _comment(
        self, headers: dict[str, str], issue: str, text: str, delivery: Delivery
    ) -> DeliveryReport:
        if delivery.attempt > 1:
            found = await self._find_comment(headers, issue, _footer(delivery.run_id))
            if found is not None:
                return _report(issue, comment=found, adopted=True)
        response = await self._call(
            "POST", f"/issue/{issue}/comment", headers, json={"body": self._body(text)}
        )
        return _report(issue, comment=str(response.json()["id"]))

    async def _update(
        self,
        headers: dict[str, str],
        ref: str,
        text: str,
        result: ResultSummary,
        delivery: Delivery,
    ) -> DeliveryReport:
        """Re-sending a delivered result edits what it created, rather than adding to it."""
        issue, _, comment = ref.partition("/comment/")
        if comment:
            await self._call(
                "PUT",
                f"/issue/{issue}/comment/{comment}",
                headers,
                json={"body": self._body(text)},
            )
            return _report(issue, comment=comment, updated=True)
        fields = {"summary": self._summary(delivery, result), "description": self._body(text)}
        await self._call("PUT", f"/issue/{issue}", headers, json={"fields": fields})
        return _report(issue, updated=True)

    async def _exists(self, headers: dict[str, str], issue: str) -> bool:
        response = await send(
            self._client,
            "GET",
            self._url(f"/issue/{issue}"),
            service=SERVICE,
            headers=headers,
            params={"fields": "status"},
        )
        if response.status_code == 404:
            return False  # deleted or moved: the next result opens a new issue
        check(response, service=SERVICE, detail=error_detail)
        return True

    async def _find_issue(self, headers: dict[str, str], label: str) -> str | None:
        path = "/search/jql" if self._config.api_version == "3" else "/search"
        response = await self._call(
            "GET",
            path,
            headers,
            params={
                "jql": f'project = "{self._config.project}" AND labels = "{label}"',
                "fields": "key",
                "maxResults": "1",
            },
        )
        issues = response.json().get("issues") or []
        return str(issues[0]["key"]) if issues else None

    async def _find_comment(self, headers: dict[str, str], issue: str, footer: str) -> str | None:
        response = await self._call(
            "GET",
            f"/issue/{issue}/comment",
            headers,
            params={"orderBy": "-created", "maxResults": "50"},
        )
        for comment in response.json().get("comments") or []:
            if footer in json.dumps(comment.get("body"), ensure_ascii=False):
                return str(comment["id"])
        return None

    async def _call(
        self, method: str, path: str, headers: dict[str, str], **kwargs: Any
    ) -> httpx.Response:
        response = await send(
            self._client, method, self._url(path), service=SERVICE, headers=headers, **kwargs
        )
        return check(response, service=SERVICE, detail=error_detail)

    def _url(self, path: str) -> str:
        return join_url(self._config.endpoint, f"/rest/api/{self._config.api_version}{path}")


def _footer(run_id: uuid.UUID) -> str:
    return f"Punching Fist · run {run_id}"


def _report(
    issue: str,
    *,
    comment: str | None = None,
    created: bool = False,
    adopted: bool = False,
    updated: bool = False,
) -> DeliveryReport:
    response: dict[str, Any] = {"issue": issue}
    if comment:
        response["comment"] = comment
    for flag, value in (("created", created), ("adopted", adopted), ("updated", updated)):
        if value:
            response[flag] = True
    return DeliveryReport(
        status=DeliveryStatus.DELIVERED,
        response=response,
        external_ref=f"{issue}/comment/{comment}" if comment else issue,
        remember=Correlation(external_ref=issue),
    )
