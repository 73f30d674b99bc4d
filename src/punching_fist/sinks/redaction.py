"""Keeping credentials out of what we store and log about deliveries.

Everything a destination answers (error bodies included) and every error message passes
through ``Redactor`` before it reaches ``sink_deliveries``, ``sink_status`` or a log line:
secret values the resolver handed out are replaced, and token shapes we know (Slack's
``xox?-``, bearer headers, PagerDuty routing keys in echoed request bodies) are masked even
when they came from somewhere we did not resolve.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from punching_fist.secret_refs import REDACTED, SecretResolver

_PATTERNS = (
    re.compile(r"xox[abposr]-[A-Za-z0-9-]+"),
    re.compile(r"(?i)((?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r'(?i)("?(?:routing_key|token|api_key|password)"?\s*[:=]\s*"?)[^",\s}]+'),
)


class Redactor:
    def __init__(self, secrets: SecretResolver) -> None:
        self._secrets = secrets

    def text(self, text: str) -> str:
        text = self._secrets.redact(text)
        for pattern in _PATTERNS:
            text = pattern.sub(_mask, text)
        return text

    def document(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """``document`` with every string in it redacted (it is stored as JSON)."""
        cleaned: dict[str, Any] = json.loads(self.text(json.dumps(document, default=str)))
        return cleaned


def _mask(match: re.Match[str]) -> str:
    if match.re.groups:
        return match.group(1) + REDACTED
    return REDACTED
