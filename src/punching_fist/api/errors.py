"""The one place error kinds become HTTP statuses."""

from __future__ import annotations

from punching_fist.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    Refused,
    TooLarge,
    Unauthenticated,
    UnsupportedMediaType,
)

_STATUS: dict[type[Refused], int] = {
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    TooLarge: 413,
    UnsupportedMediaType: 415,
}


def http_status(error: Refused) -> int:
    """The HTTP status that answers ``error``."""
    if isinstance(error, InvalidRequest):
        return 422 if error.unprocessable else 400
    for kind, status in _STATUS.items():
        if isinstance(error, kind):
            return status
    return 400
