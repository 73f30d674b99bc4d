"""HTTP plumbing the hosted sinks share: sending, and turning answers into retry meaning.

Transport problems and 408/425/429/5xx answers become ``TemporaryFailure`` (a ``Retry-After``
header becomes its delay); any other non-2xx answer is ``DeliveryFailed``, because sending
the same request again would get the same answer. httpx's exceptions stop here, so the
engine only ever sees our error types.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from punching_fist.errors import DeliveryFailed, TemporaryFailure

RETRYABLE_STATUS = frozenset({408, 425, 429})
DETAIL_LIMIT = 300


def join_url(endpoint: str, path: str) -> str:
    return endpoint.rstrip("/") + "/" + path.lstrip("/")


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), if any."""
    value = headers.get("retry-after") or headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


async def send(
    client: httpx.AsyncClient, method: str, url: str, *, service: str, **kwargs: Any
) -> httpx.Response:
    """One request; transport failures become ``TemporaryFailure``."""
    try:
        return await client.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise TemporaryFailure(f"{service}: request timed out", delay=0.0) from exc
    except httpx.TransportError as exc:
        raise TemporaryFailure(f"{service}: {type(exc).__name__}: {exc}", delay=0.0) from exc


def body_detail(response: httpx.Response) -> str:
    """The error body, shortened: enough to tell what went wrong, never a whole page."""
    text = response.text.strip().replace("\n", " ")
    return text[:DETAIL_LIMIT] + ("…" if len(text) > DETAIL_LIMIT else "")


def check(
    response: httpx.Response,
    *,
    service: str,
    detail: Callable[[httpx.Response], str] = body_detail,
) -> httpx.Response:
    """``response`` if it succeeded; otherwise the failure, with its retry meaning."""
    if response.is_success:
        return response
    message = f"{service} answered {response.status_code}: {detail(response)}"
    if response.status_code in RETRYABLE_STATUS or response.status_code >= 500:
        raise TemporaryFailure(message, delay=retry_after(response.headers) or 0.0)
    raise DeliveryFailed(message)
