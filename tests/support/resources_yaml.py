"""YAML resources many server tests start from."""

from __future__ import annotations


def webhook_source(workflow: str = "wf", *, name: str = "am", path: str = "/hook") -> str:
    """A webhook Source at ``path`` starting ``workflow``, then ``---`` for the next document.

    Written without braces, so it can lead a template that ``str.format`` fills in.
    """
    return f"""
apiVersion: punchingfist.io/v1alpha1
kind: Source
metadata:
  name: {name}
spec:
  type: webhook
  config:
    path: {path}
  triggerWorkflow: {workflow}
---"""


_SUFFIX_LETTERS = "bcdfghjklmnpqrstvwxz"


def pod_name(deployment: str, n: int) -> str:
    """The ``n``-th of up to 400 pods of ``deployment``, named as its ReplicaSet would."""
    return f"{deployment}-5d8b9c7f4d-{_SUFFIX_LETTERS[n % 20]}{_SUFFIX_LETTERS[n // 20 % 20]}xqz"


def storm_triage(llm: str, *, max_iterations: int, model: str = "test-model") -> str:
    """The alert storm's resources: Alertmanager's webhook Source at ``/webhook/alerts``
    starting ``triage``, one agent step investigating with ``kubectl`` through ``llm``.

    Ends inside the Workflow's spec, so a ``  sinks: [...]`` line and more documents may follow.
    """
    return (
        webhook_source("triage", name="alertmanager", path="/webhook/alerts")
        + f"""
apiVersion: punchingfist.io/v1alpha1
kind: Workflow
metadata: {{name: triage}}
spec:
  runtime:
    llmConfig: {{provider: local, endpoint: "{llm}", model: {model}}}
  steps:
    - name: investigate
      type: agent
      goal: "Investigate {{{{ .source.data.alert.alertname }}}}"
      tools: [kubectl]
      evidence: "off"
      maxIterations: {max_iterations}
"""
    )
