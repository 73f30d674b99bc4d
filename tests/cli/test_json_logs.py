"""Every log line is one bounded JSON object: long values cut, tracebacks as fields.

The first test runs the real ``punching-fist serve`` and reads its stderr; the others
configure logging in this process and write through structlog and through the standard
library's loggers, as uvicorn and asyncio do.
"""

from __future__ import annotations

import io
import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from punching_fist.observability.log_lines import LINE_LIMIT, STRING_LIMIT
from punching_fist.observability.logging import configure_logging
from tests.support.api_auth import PIPELINE
from tests.support.payloads import alert, notification
from tests.support.process import ServerProcess

MEGABYTE = 1_000_000


def json_lines(text: str) -> list[dict[str, Any]]:
    """Each line of ``text`` parsed, failing on one that is not a JSON object or too long."""
    lines = []
    for line in text.splitlines():
        assert len(line.encode()) <= LINE_LIMIT, line[:300]
        parsed = json.loads(line)
        assert isinstance(parsed, dict), line[:300]
        lines.append(parsed)
    return lines


def test_serve_logs_bounded_json_lines_with_a_structured_exception_for_a_500(
    tmp_path: Path,
) -> None:
    resources = tmp_path / "resources"
    resources.mkdir()
    (resources / "pipeline.yaml").write_text(PIPELINE)
    database = tmp_path / "pf.db"
    server = ServerProcess(
        resources=resources, database_url=f"sqlite+aiosqlite:///{database}", workdir=tmp_path
    )
    server.start()
    try:
        big = alert("Big", fingerprint="big", labels={"blob": "x" * MEGABYTE})
        with httpx.Client(base_url=server.url, timeout=30) as client:
            assert client.post("/hook", json=notification(big)).status_code == 202
            with sqlite3.connect(database) as db:  # the API's next read fails: a 500
                db.execute("ALTER TABLE alerts RENAME TO alerts_gone")
            assert client.get("/api/v1/alerts").status_code == 500
        small = notification(alert("Small", fingerprint="small"))
        # A new connection: after a 500 uvicorn closes the one it came on.
        assert httpx.post(f"{server.url}/hook", json=small).status_code == 503  # nor this
    finally:
        server.stop()
    lines = json_lines(server.stderr())
    [failure] = [line for line in lines if line["event"].startswith("Exception in ASGI")]
    assert failure["level"] == "error"
    assert failure["logger"] == "uvicorn.error"
    [stack, *_] = failure["exception"]
    assert stack["exc_type"] == "OperationalError"
    assert "no such table: alerts" in stack["exc_value"]
    assert {"filename", "lineno", "name"} <= set(stack["frames"][-1])
    assert all("locals" not in frame for frame in stack["frames"])


UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.access")


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Logging configured as ``serve`` does, into a buffer; restored afterwards.

    uvicorn's loggers are as ``serve`` leaves them (``log_config=None``): no handlers of their
    own, passing records on to the root. Servers started by other tests in this process gave
    them uvicorn's default configuration.
    """
    saved = structlog.get_config()
    loggers = [logging.getLogger(), *map(logging.getLogger, UVICORN)]
    before = [(lg.handlers[:], lg.level, lg.propagate) for lg in loggers]
    for logger in loggers[1:]:
        logger.handlers, logger.propagate = [], True
        logger.setLevel(logging.NOTSET)
    stream = io.StringIO()
    configure_logging(level="info", stream=stream)
    # serve caches each logger on first use; here a logger cached with this buffer would keep
    # writing to it after the test, out of reach of later tests' capture_logs.
    structlog.configure(cache_logger_on_first_use=False)
    try:
        yield stream
    finally:
        structlog.reset_defaults()
        structlog.configure(**saved)
        for logger, (handlers, level, propagate) in zip(loggers, before, strict=True):
            logger.handlers, logger.propagate = handlers, propagate
            logger.setLevel(level)


def test_a_megabyte_value_is_cut_with_a_note_and_the_line_stays_bounded(
    log_stream: io.StringIO,
) -> None:
    log = structlog.get_logger("test")
    log.info("alert received", label="x" * MEGABYTE, source="am")
    log.info("alert received", labels={f"label{n}": "v" * 100 for n in range(10_000)})
    logging.getLogger("uvicorn.error").warning("odd request: %s", "y" * MEGABYTE)
    first, many, foreign = json_lines(log_stream.getvalue())
    assert (
        first["label"] == "x" * STRING_LIMIT + f"…[{MEGABYTE - STRING_LIMIT} more characters cut]"
    )
    assert first["source"] == "am"
    assert many["truncated"] is True
    assert many["labels"]["…"].endswith("more entries cut")
    assert foreign["logger"] == "uvicorn.error"
    assert foreign["event"].startswith("odd request: yyy")
    assert foreign["event"].endswith("more characters cut]")


def test_tracebacks_become_a_field_from_structlog_and_from_the_standard_library(
    log_stream: io.StringIO,
) -> None:
    def fail() -> None:
        raise ValueError("x" * 10 * STRING_LIMIT)

    try:
        try:
            fail()
        except ValueError as exc:
            raise RuntimeError("while handling") from exc
    except RuntimeError:
        structlog.get_logger("test").exception("step crashed", step="s")
        logging.getLogger("asyncio").exception("Task exception was never retrieved")
    text = log_stream.getvalue()
    assert "Traceback" not in text
    for line in json_lines(text):
        effect, cause = line["exception"]  # the exception, then its cause
        assert cause["exc_type"] == "ValueError"
        assert cause["is_cause"] is True
        assert cause["exc_value"].endswith("more characters cut]")
        assert effect["exc_type"] == "RuntimeError"
        assert (
            effect["frames"][-1]["name"]
            == "test_tracebacks_become_a_field_from_structlog_and_from_the_standard_library"
        )


def test_uvicorn_access_lines_are_json_too(log_stream: io.StringIO) -> None:
    access = logging.getLogger("uvicorn.access")
    level = access.level
    access.setLevel(logging.INFO)  # as uvicorn sets it for --log-level info with access logs
    try:
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/healthz", "1.1", 200)
    finally:
        access.setLevel(level)
    [line] = json_lines(log_stream.getvalue())
    assert line["event"] == '127.0.0.1:5000 - "GET /healthz HTTP/1.1" 200'
    assert line["logger"] == "uvicorn.access"
    assert line["level"] == "info"
