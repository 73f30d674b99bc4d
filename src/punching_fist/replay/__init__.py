"""Replay: run a workflow on a recorded notification without side effects (issue 18)."""
