"""The Jira sink against a local Jira REST API: an issue per alert, comments for repeats."""

from __future__ import annotations

from pathlib import Path

from tests.sinks.support import FAST, JIRA_EMAIL, JIRA_TOKEN, delivery_of, fire, pipeline, serve
from tests.support.fake_http import FakeRequest, FakeResponse
from tests.support.fake_jira import FakeJira


def jira_sink(jira: FakeJira, *, version: str = "2", extra: str = "") -> str:
    return f"""
apiVersion: punchingfist.io/v1alpha1
kind: Sink
metadata: {{name: jira}}
spec:
  type: jira
  config:
    project: OPS
    issueType: Incident
    endpoint: {jira.url}
    userEmail: {JIRA_EMAIL}
    apiToken: env://JIRA_TOKEN
    apiVersion: "{version}"
{extra}{FAST}
"""


async def test_first_result_creates_an_issue_and_repeats_comment_on_it(
    jira: FakeJira, tmp_path: Path
) -> None:
    extra = """    summary: "{{ .source.data.alert.alertname }} in {{ .source.data.alert.labels.namespace }}"
    template: |
      Alert {{ .source.data.alert.alertname }} ({{ .source.data.alert.status }})
      Root cause: {{ .workflow.outputs.root_cause }}
"""
    resources = pipeline(jira_sink(jira, extra=extra), ["jira"], on_resolved=True)
    async with serve(resources, tmp_path) as server:
        first_run = await fire(server, fingerprint="fp-jira")
        first = await delivery_of(server, first_run, "jira")
        second_run = await fire(server, fingerprint="fp-jira", status="resolved")
        second = await delivery_of(server, second_run, "jira")

    [issue] = jira.issues.values()
    assert first["status"] == "delivered"
    assert first["external_ref"] == issue.key == "OPS-1"
    assert first["response"] == {"issue": "OPS-1", "created": True}
    assert issue.summary == "PodCrashLooping in shop"
    assert issue.issue_type == "Incident"
    assert issue.description.startswith(
        "Alert PodCrashLooping (firing)\nRoot cause: OOMKilled: the memory limit of 128Mi is too low"
    )
    assert f"Punching Fist · run {first_run}" in issue.description
    assert issue.labels[0] == "punching-fist"
    assert issue.labels[1].startswith("pf-")

    [comment] = issue.comments
    assert second["status"] == "delivered"
    assert second["external_ref"] == f"OPS-1/comment/{comment['id']}"
    assert comment["body"].startswith("Alert PodCrashLooping (resolved)")


async def test_api_version_3_sends_atlassian_document_format(
    jira: FakeJira, tmp_path: Path
) -> None:
    resources = pipeline(jira_sink(jira, version="3"), ["jira"])
    async with serve(resources, tmp_path) as server:
        run_id = await fire(server)
        delivery = await delivery_of(server, run_id, "jira")
    assert delivery["status"] == "delivered", delivery
    [issue] = jira.issues.values()
    assert issue.summary == (
        "[CRITICAL] PodCrashLooping: Pod checkout-7d9f is crash looping after a deploy"
    )
    document = issue.description
    assert document["type"] == "doc"
    texts = [
        node["text"]
        for paragraph in document["content"]
        for node in paragraph["content"]
        if node["type"] == "text"
    ]
    assert texts[0] == "Pod checkout-7d9f is crash looping after a deploy"
    assert "Root cause:" in texts
    assert "- Raise the memory limit to 256Mi" in texts
    assert "Confidence: 87%" in texts


async def test_validation_errors_are_dead_lettered_with_jiras_messages(
    jira: FakeJira, tmp_path: Path
) -> None:
    sink = jira_sink(jira).replace("issueType: Incident", "issueType: Outage")
    resources = pipeline(sink, ["jira"])
    async with serve(resources, tmp_path) as server:
        run_id = await fire(server)
        delivery = await delivery_of(server, run_id, "jira")
    assert delivery["status"] == "failed"
    assert delivery["attempts"] == 1
    assert delivery["error"] == "jira answered 400: issuetype: valid issue type is required"
    assert jira.issues == {}


async def test_wrong_credentials_fail_without_leaking_them(jira: FakeJira, tmp_path: Path) -> None:
    jira.token = "a-different-token"
    resources = pipeline(jira_sink(jira), ["jira"])
    async with serve(resources, tmp_path) as server:
        run_id = await fire(server)
        delivery = await delivery_of(server, run_id, "jira")
    assert delivery["status"] == "failed"
    assert delivery["error"] == (
        "jira answered 401: You are not authenticated. Authentication required to perform this"
        " operation."
    )
    assert JIRA_TOKEN not in str(delivery)


async def test_rate_limited_create_waits_and_a_lost_answer_does_not_create_twice(
    jira: FakeJira, tmp_path: Path
) -> None:
    # First a 429 with Retry-After, then a create whose answer is lost (a 502 from a proxy
    # after Jira created the issue): the third attempt finds the issue by its label.
    jira.fail_next(
        1,
        429,
        {"errorMessages": ["Rate limit exceeded."], "errors": {}},
        headers={"Retry-After": "1"},
        path="/rest/api/2/issue",
    )
    original = jira.handle
    calls = {"creates": 0}

    def lose_first_answer(request: FakeRequest) -> FakeResponse:
        response = original(request)
        if request.path == "/rest/api/2/issue" and request.method == "POST":
            calls["creates"] += 1
            if calls["creates"] == 1:
                return FakeResponse(502, "Bad Gateway")
        return response

    jira.handle = lose_first_answer  # type: ignore[method-assign]
    resources = pipeline(jira_sink(jira), ["jira"])
    async with serve(resources, tmp_path) as server:
        run_id = await fire(server)
        delivery = await delivery_of(server, run_id, "jira")
    assert delivery["status"] == "delivered", delivery
    assert delivery["attempts"] == 3
    assert delivery["attempt_log"][0]["error"] == "jira answered 429: Rate limit exceeded."
    assert delivery["attempt_log"][1]["error"] == "jira answered 502: Bad Gateway"
    assert delivery["response"] == {"issue": "OPS-1", "adopted": True}
    assert len(jira.issues) == 1
