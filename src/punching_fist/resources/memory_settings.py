"""``OperatorConfig.spec.knowledge`` and ``spec.cache``: how investigations use memory.

``knowledge.similarIncidents`` past incidents go into each investigation's first message;
``cache.ttl`` is how long a finished investigation may stand in for a new alert of the same
signature that shows the same evidence (``"0"`` turns the cache off).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, Field

from punching_fist.resources.base import SpecModel
from punching_fist.resources.durations import DURATION_PATTERN, parse_duration

MAX_SIMILAR = 10


def _ttl(text: str) -> str:
    if text != "0":
        parse_duration(text)
    return text


CacheTtl = Annotated[
    str,
    AfterValidator(_ttl),
    Field(json_schema_extra={"pattern": f"^0$|{DURATION_PATTERN}"}),
]
"""A duration such as ``15m``, or ``"0"``: off."""


class KnowledgeSettings(SpecModel):
    """What each investigation is told about past incidents (docs/memory.md)."""

    enabled: bool = True
    """``false``: investigations neither read nor write the knowledge base."""
    similar_incidents: int = Field(default=3, ge=0, le=MAX_SIMILAR)
    """How many similar past incidents go into the first message (0: none)."""


class CacheSettings(SpecModel):
    """The response cache: a recent investigation reused without an LLM request."""

    ttl: CacheTtl = "15m"
    """How long after an investigation its result may be reused; ``"0"`` disables."""

    def lifetime(self) -> timedelta | None:
        """The TTL, or None when the cache is off."""
        return None if self.ttl == "0" else parse_duration(self.ttl)
