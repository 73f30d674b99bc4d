"""A fake Jira REST API (v2 and v3) speaking the real request and response formats.

Issues: create (``POST /issue`` → 201 ``{id, key, self}``), read, edit (``PUT`` → 204);
comments: add (201), list, edit; search (``/search`` for v2, ``/search/jql`` for v3) with the
JQL subset ``project = "X" AND labels = "y"``. Errors come as Jira sends them:
``{"errorMessages": [...], "errors": {field: message}}`` with 400/401/404, and 429 with
``Retry-After``. Version 3 requires descriptions and comments in Atlassian Document Format,
version 2 plain text, and each rejects the other.
"""

from __future__ import annotations

import base64
import itertools
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from tests.support.fake_http import FakeHTTPService, FakeRequest, FakeResponse

_PATH = re.compile(r"^/rest/api/(?P<v>[23])(?P<rest>/.*)$")
_JQL = re.compile(
    r'project\s*=\s*"?(?P<project>[^"\s]+)"?\s+AND\s+labels\s*=\s*"?(?P<label>[^"\s]+)"?'
)


@dataclass
class JiraIssue:
    id: str
    key: str
    project: str
    issue_type: str
    summary: str
    description: Any
    labels: list[str]
    comments: list[dict[str, Any]] = field(default_factory=list)
    edits: int = 0


class FakeJira(FakeHTTPService):
    def __init__(
        self,
        *,
        email: str,
        token: str,
        projects: tuple[str, ...] = ("OPS",),
        issue_types: tuple[str, ...] = ("Incident", "Bug", "Task"),
    ) -> None:
        super().__init__()
        self.email = email
        self.token = token
        self.projects = projects
        self.issue_types = issue_types
        self.issues: dict[str, JiraIssue] = {}
        self._ids = itertools.count(10001)
        self._state = threading.Lock()

    def handle(self, request: FakeRequest) -> FakeResponse:
        expected = base64.b64encode(f"{self.email}:{self.token}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return _errors(
                401,
                ["You are not authenticated. Authentication required to perform this operation."],
            )
        match = _PATH.match(request.path)
        if match is None:
            return FakeResponse(404, "Not Found")
        version, rest = match.group("v"), match.group("rest")
        with self._state:
            return self._route(request, version, rest)

    def _route(self, request: FakeRequest, version: str, rest: str) -> FakeResponse:
        parts = rest.strip("/").split("/")
        method = request.method
        if parts == ["issue"] and method == "POST":
            return self._create(version, request.json())
        if parts[:1] == ["search"] and method == "GET":
            if (version == "3") != (parts == ["search", "jql"]):
                return FakeResponse(404, "Not Found")
            return self._search(request.query.get("jql", ""))
        if len(parts) >= 2 and parts[0] == "issue":
            issue = self.issues.get(parts[1])
            if issue is None:
                return _errors(
                    404, ["Issue does not exist or you do not have permission to see it."]
                )
            if len(parts) == 2 and method == "GET":
                return FakeResponse(200, self._wire(issue, version))
            if len(parts) == 2 and method == "PUT":
                return self._edit(issue, version, request.json())
            if parts[2:] == ["comment"] and method == "POST":
                return self._comment(issue, version, request.json())
            if parts[2:] == ["comment"] and method == "GET":
                comments = list(reversed(issue.comments))  # orderBy=-created
                return FakeResponse(
                    200,
                    {"startAt": 0, "maxResults": 50, "total": len(comments), "comments": comments},
                )
            if len(parts) == 4 and parts[2] == "comment" and method == "PUT":
                return self._edit_comment(issue, parts[3], version, request.json())
        return FakeResponse(405, "Method Not Allowed")

    def _body_problem(self, version: str, value: Any, name: str) -> dict[str, str] | None:
        if version == "3" and not (isinstance(value, dict) and value.get("type") == "doc"):
            return {
                name: "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
            }
        if version == "2" and not isinstance(value, str):
            return {name: "Operation value must be a string"}
        return None

    def _create(self, version: str, body: Any) -> FakeResponse:
        fields = (body or {}).get("fields") or {}
        errors: dict[str, str] = {}
        project = (fields.get("project") or {}).get("key")
        if project not in self.projects:
            errors["project"] = "valid project is required"
        issue_type = (fields.get("issuetype") or {}).get("name")
        if issue_type not in self.issue_types:
            errors["issuetype"] = "valid issue type is required"
        summary = fields.get("summary") or ""
        if not summary.strip():
            errors["summary"] = "You must specify a summary of the issue."
        elif len(summary) > 255 or "\n" in summary:
            errors["summary"] = "Summary must be less than 255 characters and a single line."
        if "description" in fields:
            errors.update(self._body_problem(version, fields["description"], "description") or {})
        if errors:
            return _errors(400, [], errors)
        assert isinstance(project, str)  # a known project's key, checked above
        assert isinstance(issue_type, str)
        issue_id = str(next(self._ids))
        key = f"{project}-{len([i for i in self.issues.values() if i.project == project]) + 1}"
        self.issues[key] = JiraIssue(
            id=issue_id,
            key=key,
            project=project,
            issue_type=issue_type,
            summary=summary,
            description=fields.get("description"),
            labels=list(fields.get("labels") or []),
        )
        return FakeResponse(
            201,
            {"id": issue_id, "key": key, "self": f"{self.url}/rest/api/{version}/issue/{issue_id}"},
        )

    def _edit(self, issue: JiraIssue, version: str, body: Any) -> FakeResponse:
        fields = (body or {}).get("fields") or {}
        if "description" in fields:
            problem = self._body_problem(version, fields["description"], "description")
            if problem:
                return _errors(400, [], problem)
            issue.description = fields["description"]
        if "summary" in fields:
            issue.summary = fields["summary"]
        issue.edits += 1
        return FakeResponse(204)

    def _comment(self, issue: JiraIssue, version: str, body: Any) -> FakeResponse:
        text = (body or {}).get("body")
        problem = self._body_problem(version, text, "comment")
        if problem or not text:
            return _errors(400, [], problem or {"comment": "Comment body can not be empty!"})
        comment = {"id": str(next(self._ids)), "body": text, "self": f"{self.url}/comment"}
        issue.comments.append(comment)
        return FakeResponse(201, comment)

    def _edit_comment(
        self, issue: JiraIssue, comment_id: str, version: str, body: Any
    ) -> FakeResponse:
        comment = next((c for c in issue.comments if c["id"] == comment_id), None)
        if comment is None:
            return _errors(404, ["Can not find a comment for the id: " + comment_id])
        comment["body"] = (body or {}).get("body")
        comment["edited"] = True
        return FakeResponse(200, comment)

    def _search(self, jql: str) -> FakeResponse:
        match = _JQL.search(jql)
        if match is None:
            return _errors(400, [f"Error in the JQL Query: {jql!r} is not supported here."])
        found = [
            {"id": i.id, "key": i.key}
            for i in self.issues.values()
            if i.project == match.group("project") and match.group("label") in i.labels
        ]
        return FakeResponse(200, {"issues": found, "total": len(found), "isLast": True})

    @staticmethod
    def _wire(issue: JiraIssue, version: str) -> dict[str, Any]:
        return {
            "id": issue.id,
            "key": issue.key,
            "fields": {"summary": issue.summary, "status": {"name": "Open"}},
        }


def _errors(status: int, messages: list[str], errors: dict[str, str] | None = None) -> FakeResponse:
    return FakeResponse(status, {"errorMessages": messages, "errors": errors or {}})
