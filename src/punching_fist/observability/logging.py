"""Structured JSON logs with correlation ids (run id, alert fingerprint) bound per task."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import structlog

# Keys whose values must never reach a log line.
_SECRET_KEYS = frozenset({"authorization", "token", "api_key", "apikey", "password", "secret"})


def _drop_secrets(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in list(event):
        if key.lower() in _SECRET_KEYS:
            event[key] = "[redacted]"
    return event


class _RedactValues:
    """Replaces known secret values anywhere in an event (``SecretResolver.redact_data``)."""

    def __init__(self, redact: Callable[[Any], Any]) -> None:
        self._redact = redact

    def __call__(self, _logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
        redacted: dict[str, Any] = self._redact(event)
        return redacted


def configure_logging(
    *,
    level: str = "info",
    json_output: bool = True,
    redact: Callable[[Any], Any] | None = None,
) -> None:
    """Configure structlog once at start-up; the stream is stderr so stdout stays for sinks.

    ``redact`` (the server's ``SecretResolver.redact_data``) takes every secret value the
    server resolved out of each line, tracebacks included, whatever the key.
    """
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_secrets,
        structlog.processors.format_exc_info,
        *([_RedactValues(redact)] if redact is not None else []),
        structlog.processors.JSONRenderer() if json_output else structlog.dev.ConsoleRenderer(),
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
