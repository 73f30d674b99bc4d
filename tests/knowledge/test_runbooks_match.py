"""Runbooks: front matter, Alertmanager matchers, runbook_url, and which commands run."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from punching_fist.agent.runbook import ToolRead
from punching_fist.agent.tools.kubectl_policy import classify_kubectl
from punching_fist.errors import ConfigurationError
from punching_fist.knowledge.runbooks_match import RunbookSet, brief_for, fill
from punching_fist.knowledge.runbooks_parse import parse_matcher, parse_runbook, shell_commands
from punching_fist.knowledge.runbooks_prompt import SECTION_CHARS

CRASHLOOP = """---
title: Pod crash looping
alertnames: [KubePodCrashLooping]
matchers: ['severity=~"critical|warning"', 'namespace!="kube-system"']
owner: platform
---
# Crash loops

Check the pod first:

```bash
kubectl describe pod $POD -n ${NAMESPACE}
kubectl logs {{ $labels.pod }} -n <namespace> \\
  --previous --tail=50
# the deployment's rollout
kubectl get deployment $DEPLOYMENT -n $NAMESPACE
curl -s http://api.prod.svc/healthz
kubectl get secret db -n $NAMESPACE -o yaml
```

```console
$ kubectl top pod $POD -n $NAMESPACE
NAME   CPU(cores)
```

If it is a bad config, roll back:

```sh
kubectl rollout undo deployment/$DEPLOYMENT -n $NAMESPACE
kubectl delete pod $POD -n $NAMESPACE
```

```python
print("not a shell fence")
```
"""

LABELS = {
    "alertname": "KubePodCrashLooping",
    "severity": "critical",
    "namespace": "prod",
    "pod": "api-7d9f-x2x",
}


def runbooks(*extra: tuple[str, str]) -> RunbookSet:
    files = [("ops/runbooks/crashloop.md", CRASHLOOP), *extra]
    return RunbookSet(
        runbooks=tuple(parse_runbook(path, text) for path, text in files),
        commit="a" * 40,
        root="ops/runbooks",
    )


def test_front_matter_and_commands_are_read() -> None:
    runbook = parse_runbook("crashloop.md", CRASHLOOP)
    assert runbook.title == "Pod crash looping"
    assert runbook.alertnames == ("KubePodCrashLooping",)
    assert [str(m) for m in runbook.matchers] == [
        'severity=~"critical|warning"',
        'namespace!="kube-system"',
    ]
    assert runbook.body.startswith("# Crash loops")
    assert runbook.commands == (
        "kubectl describe pod $POD -n ${NAMESPACE}",
        "kubectl logs {{ $labels.pod }} -n <namespace> --previous --tail=50",
        "kubectl get deployment $DEPLOYMENT -n $NAMESPACE",
        "curl -s http://api.prod.svc/healthz",
        "kubectl get secret db -n $NAMESPACE -o yaml",
        "kubectl top pod $POD -n $NAMESPACE",
        "kubectl rollout undo deployment/$DEPLOYMENT -n $NAMESPACE",
        "kubectl delete pod $POD -n $NAMESPACE",
    )


def test_a_file_without_front_matter_takes_its_heading_as_title() -> None:
    runbook = parse_runbook("disk.md", "# Disk full\n\n```shell\ndf -h\n```\n")
    assert (runbook.title, runbook.alertnames, runbook.commands) == ("Disk full", (), ("df -h",))
    assert not runbook.serves({"alertname": "DiskFull"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("---\nalertnames: [a\n---\nbody", "x.md: front matter is not YAML"),
        ("---\n- a\n---\nbody", "x.md: front matter must be a mapping"),
        ("---\nalertnames: {a: 1}\n---\nbody", "x.md: front matter alertnames"),
        ("---\nmatchers: ['severity=~\"(\"']\n---\n", "x.md: front matter matchers[0]"),
        ("---\nmatchers: ['no operator']\n---\n", "is not a matcher"),
    ],
)
def test_a_broken_runbook_is_an_error_naming_what(text: str, expected: str) -> None:
    with pytest.raises(ConfigurationError, match=expected.replace("[", r"\[")):
        parse_runbook("x.md", text)


@pytest.mark.parametrize(
    ("matcher", "labels", "matches"),
    [
        ('severity="critical"', {"severity": "critical"}, True),
        ("severity=critical", {"severity": "warning"}, False),
        ('severity!="info"', {}, True),
        ('severity=~"crit.*|warning"', {"severity": "critical"}, True),
        ('severity=~"crit"', {"severity": "critical"}, False),  # anchored, as Alertmanager
        ('team!~"db|storage"', {"team": "web"}, True),
        ('namespace=""', {}, True),
        ('msg="a \\"quoted\\" word"', {"msg": 'a "quoted" word'}, True),
    ],
)
def test_alertmanager_matchers(matcher: str, labels: dict[str, str], matches: bool) -> None:
    assert parse_matcher(matcher).matches(labels) is matches


def test_matching_by_alertname_and_matchers() -> None:
    generic = ("ops/runbooks/prod.md", "---\nmatchers: ['namespace=\"prod\"']\n---\n# Prod\n")
    found = runbooks(generic)
    assert found.for_alert({"labels": LABELS}).path == "ops/runbooks/crashloop.md"  # type: ignore[union-attr]
    # The alertname's runbook refuses kube-system: the namespace-wide one does not serve it either.
    assert found.for_alert({"labels": {**LABELS, "namespace": "kube-system"}}) is None
    other = found.for_alert({"labels": {**LABELS, "alertname": "HighLatency"}})
    assert other is not None
    assert other.path == "ops/runbooks/prod.md"
    info = found.for_alert({"labels": {**LABELS, "severity": "info", "namespace": "dev"}})
    assert info is None


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/company/ops/blob/main/ops/runbooks/disk.md",
        "https://github.com/company/ops/blob/main/ops/runbooks/disk.md#full",
        "https://wiki.example/runbooks/disk",
        "disk.md",
        "./ops/runbooks/disk.md",
    ],
)
def test_matching_by_runbook_url(url: str) -> None:
    found = runbooks(("ops/runbooks/disk.md", "# Disk\n"))
    alert = {"labels": LABELS, "annotations": {"runbook_url": url}}
    assert found.for_alert(alert).path == "ops/runbooks/disk.md"  # type: ignore[union-attr]


def test_a_runbook_url_into_nothing_falls_back_to_front_matter() -> None:
    alert = {"labels": LABELS, "annotations": {"runbook_url": "https://x.example/y/none.md"}}
    assert runbooks().for_alert(alert).path == "ops/runbooks/crashloop.md"  # type: ignore[union-attr]


def test_reads_become_evidence_writes_remediation_the_rest_skipped() -> None:
    brief = brief_for(
        parse_runbook("ops/runbooks/crashloop.md", CRASHLOOP), commit="c0ffee", labels=LABELS
    )
    assert brief.evidence == (
        "describe pod api-7d9f-x2x -n prod",
        "logs api-7d9f-x2x -n prod --previous --tail=50",
        "top pod api-7d9f-x2x -n prod",
    )
    assert brief.remediation == (
        "kubectl rollout undo deployment/$DEPLOYMENT -n prod",  # left for a person to fill
        "kubectl delete pod api-7d9f-x2x -n prod",
    )
    skipped = "\n".join(brief.skipped)
    assert "get deployment $DEPLOYMENT -n $NAMESPACE (no label for DEPLOYMENT)" in skipped
    assert brief.tool_reads == (
        ToolRead(
            tool="curl",
            arguments={"url": "http://api.prod.svc/healthz", "method": "GET"},
            shown="GET http://api.prod.svc/healthz",
        ),
    )
    assert "get secret db -n $NAMESPACE -o yaml (refused:" in skipped
    assert brief.reference() == {
        "path": "ops/runbooks/crashloop.md",
        "commit": "c0ffee",
        "evidence": [*brief.evidence, "curl GET http://api.prod.svc/healthz"],
        "remediation": list(brief.remediation),
    }
    assert brief.section.startswith(
        "Runbook for this alert (data: ops/runbooks/crashloop.md at commit c0ffee"
    )
    assert "- kubectl delete pod api-7d9f-x2x -n prod" in brief.section


def test_the_section_is_bounded_and_fenced_past_any_fence_inside() -> None:
    body = "# Big\n\n````\nnested fence\n````\n\n" + "lorem ipsum dolor " * 2000
    brief = brief_for(parse_runbook("big.md", body), commit=None, labels=LABELS)
    assert len(brief.section) <= SECTION_CHARS
    assert "\n`````markdown\n# Big" in brief.section
    assert "[runbook cut:" in brief.section
    assert brief.section.endswith("`````")


def test_a_label_value_that_is_not_a_name_skips_the_command() -> None:
    filled, missing = fill(
        "kubectl logs $POD -n $NAMESPACE", {"pod": "a;rm -rf /", "namespace": "p"}
    )
    assert (filled, missing) == ("kubectl logs $POD -n p", ["POD"])


@given(st.dictionaries(st.sampled_from(["pod", "namespace", "deployment"]), st.text(max_size=30)))
def test_a_label_value_never_changes_what_a_command_does(labels: dict[str, str]) -> None:
    for command in parse_runbook("c.md", CRASHLOOP).commands:
        filled, missing = fill(command, labels)
        if missing or not command.startswith("kubectl "):
            continue
        plain = classify_kubectl(command[len("kubectl ") :].replace("$", "x"))
        assert classify_kubectl(filled[len("kubectl ") :]).kind in (plain.kind, "refuse")


def test_shell_commands_join_continuations_and_skip_other_fences() -> None:
    text = "~~~bash\nkubectl get pods \\\n  -n prod\n~~~\n```yaml\nkubectl: no\n```\n"
    assert shell_commands(text) == ("kubectl get pods -n prod",)


def test_the_example_runbook_reads_and_proposes_what_it_says() -> None:
    path = Path(__file__).parents[2] / "examples" / "runbooks" / "pod-crashloop.md"
    runbook = parse_runbook("runbooks/pod-crashloop.md", path.read_text())
    labels = {**LABELS, "namespace": "shop", "deployment": "cart"}
    assert runbook.serves(labels)
    brief = brief_for(runbook, commit="c0ffee", labels=labels)
    assert len(brief.evidence) == 3
    assert brief.remediation == (
        "kubectl rollout undo deployment/cart -n shop",
        "kubectl delete pod api-7d9f-x2x -n shop",
    )
    assert brief.skipped == ()


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            "curl -sSf http://$SERVICE.$NAMESPACE.svc/healthz",
            ("read", "GET http://api.prod.svc/healthz"),
        ),
        ("curl -I https://api.example/status", ("read", "HEAD https://api.example/status")),
        ("curl -X GET http://x/", ("read", "GET http://x/")),
        ("curl -X POST http://x/flush", ("write", "")),
        ("curl -d 'a=1' http://x/", ("write", "")),
        ("curl --data-binary @f http://x/", ("write", "")),
        ("curl -H 'Authorization: x' http://x/", ("skip", "curl option -H is not supported")),
        ("curl -o /tmp/out http://x/", ("skip", "curl option -o is not supported")),
        ("curl file:///etc/passwd", ("skip", "not one http(s) URL")),
        ("curl 'http://x/", ("skip", "not a command line: No closing quotation")),
    ],
)
def test_curl_reads_writes_and_the_rest(command: str, expected: tuple[str, str]) -> None:
    text = f"---\nalertnames: [A]\n---\n```bash\n{command}\n```\n"
    labels = {"alertname": "A", "service": "api", "namespace": "prod"}
    brief = brief_for(parse_runbook("c.md", text), commit=None, labels=labels)
    kind, shown = expected
    if kind == "read":
        assert [read.shown for read in brief.tool_reads] == [shown]
    elif kind == "write":
        assert brief.remediation == (command,)
    else:
        assert brief.skipped == (f"{command} ({shown})",)


def test_promql_fences_become_queries_with_labels_filled() -> None:
    text = (
        "---\nalertnames: [A]\n---\n```promql\n# memory by pod\n"
        'sum(container_memory_working_set_bytes{namespace="$NAMESPACE", pod="{{ $labels.pod }}"})\n'
        '\nup{job="$JOB"}\n```\n'
    )
    brief = brief_for(parse_runbook("q.md", text), commit=None, labels=LABELS)
    query = 'sum(container_memory_working_set_bytes{namespace="prod", pod="api-7d9f-x2x"})'
    assert brief.tool_reads == (ToolRead(tool="promql", arguments={"query": query}, shown=query),)
    assert brief.skipped == ('up{job="$JOB"} (no label for JOB)',)
