"""Punching Fist: AI incident response for Kubernetes.

Sources trigger workflows of shell commands and LLM agents; results go to sinks.
"""

__version__ = "0.1.0"
