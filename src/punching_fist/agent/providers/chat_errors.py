"""Errors of a chat completions endpoint as the pydantic-ai exceptions the retry policy reads.

An error status, or an error sent inside an open stream, becomes a ``ModelHTTPError`` that is
also the category pydantic-ai gives it for OpenAI-compatible APIs (``ModelRateLimitError``
for a 429...); a transport failure becomes a ``ModelConnectionError`` naming the phase that
failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import aiohttp
import pydantic_core
from pydantic_ai.exceptions import (
    ModelAPIError,
    ModelAuthenticationError,
    ModelConnectionError,
    ModelContextWindowExceededError,
    ModelHTTPError,
    ModelNotFoundError,
    ModelOverloadedError,
    ModelQuotaExceededError,
    ModelRateLimitError,
    ModelRequestRejectedError,
    ModelServerError,
    ModelTimeoutError,
    ModelUnavailableError,
)

_PHASES: tuple[tuple[type[aiohttp.ClientError], Literal["connect", "write", "read"]], ...] = (
    # In this order: a connect timeout is also a ServerConnectionError.
    (aiohttp.ClientConnectorError, "connect"),  # DNS, refused, TLS, proxy
    (aiohttp.ConnectionTimeoutError, "connect"),
    (aiohttp.ClientHttpProxyError, "connect"),  # the proxy refused CONNECT
    (aiohttp.ClientConnectionResetError, "write"),  # closed while the request was sent
    (aiohttp.ServerConnectionError, "read"),  # disconnected, silent past sock_read
    (aiohttp.ClientPayloadError, "read"),  # a body cut short
)


def connection_error(error: aiohttp.ClientError, model_name: str) -> ModelConnectionError:
    """A transport failure as the retryable pydantic-ai error, naming the phase that failed."""
    phase = next((p for kind, p in _PHASES if isinstance(error, kind)), None)
    kind = (
        ModelTimeoutError if isinstance(error, aiohttp.ServerTimeoutError) else ModelConnectionError
    )
    return kind(model_name, f"{type(error).__name__}: {error}", phase=phase)


# As pydantic-ai classifies errors from OpenAI-compatible APIs (``openai_compatible_category``
# and ``stream_error`` in its private ``_model_errors``); tests/drift compares the two.

_Category = type[
    ModelRateLimitError
    | ModelQuotaExceededError
    | ModelUnavailableError
    | ModelServerError
    | ModelTimeoutError
    | ModelRequestRejectedError
]

_QUOTA_CODES = frozenset(
    {
        "insufficient_quota",
        "billing_hard_limit_reached",
        "credit_balance_exhausted",
        "organization_spend_limit_exceeded",
        "project_spend_limit_exceeded",
        "organization_usage_limit_exceeded",
        "usage_limit_reached",
    }
)
_CONTEXT_WINDOW_MESSAGES = (
    "maximum context length",
    "reduce the length of the messages",
    "exceeded max context length",
)
_OVERLOADED_PHRASES = ("overloaded", "over capacity")
_IN_STREAM_STATUS = {
    "rate_limit_exceeded": 429,
    "rate_limit_error": 429,
    "too_many_requests": 429,
    **dict.fromkeys(_QUOTA_CODES, 429),
    "context_length_exceeded": 400,
    "service_unavailable": 503,
    "service_unavailable_error": 503,
    "server_is_overloaded": 503,
    "overloaded": 503,
    "server_error": 500,
}
"""The status an error sent inside a stream would have had, by its ``code`` or ``type``."""


def status_error(
    status: int, raw: bytes, headers: Mapping[str, str], model_name: str, *, in_stream: bool = False
) -> ModelHTTPError:
    """A ``ModelHTTPError`` that is also the pydantic-ai category its status and code mean.

    ``Retry-After`` (or ``retry-after-ms``) in ``headers`` becomes ``retry_after``.
    """
    body: object
    try:
        body = pydantic_core.from_json(raw)
    except ValueError:
        body = body_text(raw)
    error = body.get("error", body) if isinstance(body, dict) else body
    code = error.get("code") if isinstance(error, dict) else None
    kind = error.get("type") if isinstance(error, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return ModelHTTPError.for_category(
        _category(status, code, kind, message),
        status_code=status,
        model_name=model_name,
        body=error,
        headers=headers,
        provider_error_code=code if isinstance(code, str) else None,
        provider_error_type=kind if isinstance(kind, str) else None,
        in_stream=in_stream,
    )


def stream_error(error: dict[str, Any] | str, model_name: str) -> ModelAPIError:
    """An error object sent inside an open stream (llama.cpp and vLLM do), as if sent before it."""
    fields = error if isinstance(error, dict) else {"message": error}
    raw_code, raw_kind = fields.get("code"), fields.get("type")
    code = str(raw_code) if isinstance(raw_code, str | int) else None
    kind = raw_kind if isinstance(raw_kind, str) else None
    status = _IN_STREAM_STATUS.get(code or "") or _IN_STREAM_STATUS.get(kind or "")
    if status is None and code is not None and code.isdigit() and 400 <= int(code) < 600:
        status = int(code)  # llama.cpp and gateways send the HTTP status as the code
    message = str(fields.get("message") or error)
    category = _category(status, code, kind, message)
    if status is None:
        return (category or ModelAPIError)(
            model_name=model_name,
            message=message,
            body=fields,
            provider_error_code=code,
            provider_error_type=kind,
            in_stream=True,
        )
    return ModelHTTPError.for_category(
        category,
        status_code=status,
        model_name=model_name,
        body=fields,
        provider_error_code=code,
        provider_error_type=kind,
        in_stream=True,
    )


def _category(status: int | None, code: object, kind: object, message: object) -> _Category | None:
    if code in _QUOTA_CODES or kind in _QUOTA_CODES:
        return ModelQuotaExceededError  # also a 429, but waiting will not help
    if code == "context_length_exceeded" or (
        isinstance(message, str) and any(m in message.lower() for m in _CONTEXT_WINDOW_MESSAGES)
    ):
        return ModelContextWindowExceededError
    if _says_overloaded(code, kind):
        return ModelOverloadedError
    if code == "model_not_found":
        return ModelNotFoundError
    if code == "invalid_api_key":
        return ModelAuthenticationError
    return None if status is None else _status_category(status, message)


def _status_category(status: int, message: object) -> _Category | None:
    """What the status says on its own."""
    if status == 408:
        return ModelTimeoutError
    if status in (401, 403):
        return ModelAuthenticationError
    if status == 404:
        return ModelNotFoundError
    if status in (400, 413, 422):
        return ModelRequestRejectedError
    if status == 402:
        return ModelQuotaExceededError
    if status == 429:
        return ModelRateLimitError
    if status == 529:
        return ModelOverloadedError
    if status == 503:
        return ModelOverloadedError if _says_overloaded(message) else ModelUnavailableError
    if 500 <= status < 600:
        return ModelServerError
    return None


def _says_overloaded(*texts: object) -> bool:
    return any(
        isinstance(text, str) and any(phrase in text.lower() for phrase in _OVERLOADED_PHRASES)
        for text in texts
    )


def body_text(raw: bytes | str) -> str:
    """A response body as text, for an error to show."""
    return raw.decode(errors="replace") if isinstance(raw, bytes) else raw
