"""Structured JSON logs with correlation ids (run id, alert fingerprint) bound per task."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any, TextIO

import structlog

from punching_fist.observability.log_lines import render_bounded, structured_exceptions

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
    stream: TextIO | None = None,
) -> None:
    """Configure structlog once at start-up; the stream is stderr so stdout stays for sinks.

    ``redact`` (the server's ``SecretResolver.redact_data``) takes every secret value the
    server resolved out of each line, tracebacks included, whatever the key.

    In JSON every line is one object of bounded length (``log_lines``), and the standard
    library's loggers (uvicorn's errors and access log, asyncio's) are rendered the same way:
    the root logger gets structlog's ``ProcessorFormatter``, so their tracebacks become an
    ``exception`` field too, never lines of text.
    """
    stream = stream or sys.stderr
    before: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_secrets,
    ]
    after: list[Any] = [
        structured_exceptions if json_output else structlog.processors.format_exc_info,
        *([_RedactValues(redact)] if redact is not None else []),
        render_bounded if json_output else structlog.dev.ConsoleRenderer(),
    ]
    numeric_level = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[*before, *after],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *before],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *after],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    # Other libraries' INFO (httpx's every request, alembic's every migration) stays out, as
    # before; loggers given a level of their own (uvicorn's, Slack's) keep it.
    root.setLevel(
        numeric_level if numeric_level <= logging.DEBUG else max(numeric_level, logging.WARNING)
    )
