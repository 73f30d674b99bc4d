"""The one error hierarchy: every exception the package defines is in it, and only the HTTP
edge turns error kinds into statuses."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import punching_fist
from punching_fist.api.errors import http_status
from punching_fist.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    PunchingFistError,
    Refused,
    TooLarge,
    Unauthenticated,
    UnsupportedMediaType,
)

SKIP = ("punching_fist.spawner.__main__",)


def defined_exceptions() -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    for info in pkgutil.walk_packages(punching_fist.__path__, "punching_fist."):
        if info.name in SKIP or ".migrations" in info.name:
            continue
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == info.name:
                found.append(value)
    return found


def test_every_exception_of_the_package_is_in_the_one_hierarchy() -> None:
    exceptions = defined_exceptions()
    assert len(exceptions) > 20  # the walk really found the package's errors
    outside = [f"{e.__module__}.{e.__qualname__}" for e in exceptions]
    outside = [name for e, name in zip(exceptions, outside, strict=True)
               if not issubclass(e, PunchingFistError)]  # fmt: skip
    assert outside == []


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidRequest("x"), 400),
        (InvalidRequest("x", unprocessable=True), 422),
        (Unauthenticated("x"), 401),
        (Forbidden("x"), 403),
        (NotFound("x"), 404),
        (Conflict("x"), 409),
        (TooLarge("x"), 413),
        (UnsupportedMediaType("x"), 415),
    ],
)
def test_the_http_edge_maps_each_refusal_to_its_status(error: Refused, status: int) -> None:
    assert http_status(error) == status


def test_http_statuses_are_chosen_only_at_the_http_edge() -> None:
    """Below ``api/`` (and the routers of ``approvals``, and the dashboard's pages), errors carry
    kinds, not statuses."""
    root = Path(punching_fist.__file__).parent
    edge = {
        root / "api",
        root / "approvals" / "http.py",
        root / "approvals" / "slack_http.py",
        root / "dashboard",
    }
    offenders = []
    for path in root.rglob("*.py"):
        if any(path == e or e in path.parents for e in edge):
            continue
        text = path.read_text()
        if "HTTPException" in text or "status_code: int, detail" in text:
            offenders.append(str(path.relative_to(root)))
    assert offenders == []
