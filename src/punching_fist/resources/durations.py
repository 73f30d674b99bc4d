"""Durations as people write them in resources: ``30d``, ``12h``, ``1h30m``, ``90s``.

A resource keeps the text it was given (what ``kubectl get -o yaml`` shows back); code that
needs the length asks ``parse_duration``. The check runs at load, so ``validate`` and the
operator's Events name the field whose value is not a duration.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, Field

DURATION_PATTERN = r"^([0-9]+[wdhms])+$"
_PART = re.compile(r"([0-9]+)([wdhms])")
_UNIT_SECONDS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    """``30d`` → 30 days; units w, d, h, m, s, combinable (``1d12h``). Raises ``ValueError``."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"{text!r} is not a duration such as 30d, 12h or 1h30m")
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(text))
    if seconds == 0:
        raise ValueError(f"{text!r} is zero; a duration must be positive")
    return timedelta(seconds=seconds)


def _checked(text: str) -> str:
    parse_duration(text)
    return text


Duration = Annotated[
    str,
    AfterValidator(_checked),
    # In the CRD too, so the API server refuses what ``validate`` refuses.
    Field(json_schema_extra={"pattern": DURATION_PATTERN}),
]
"""A positive duration, kept as written."""
