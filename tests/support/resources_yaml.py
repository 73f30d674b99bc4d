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
