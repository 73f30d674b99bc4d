"""``spec.kpis`` of the OperatorConfig: what an LLM token costs, for the cost KPIs.

``prices`` maps a model name, exactly as the agent reports it (``audit_events.name`` of its
``llm`` rows, e.g. ``gpt-4o-mini``), to its price per million input and output tokens in
``currency``. Tokens of models not in the table are counted and listed as unpriced, never
guessed. Checked at load, so ``validate`` names the field that is wrong.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from punching_fist.resources.base import SpecModel

_CURRENCY = re.compile(r"^[A-Z]{3}$")


class ModelPrice(SpecModel):
    input_per_million: float = Field(ge=0, le=1_000_000)
    """Price of a million input (prompt) tokens."""
    output_per_million: float = Field(ge=0, le=1_000_000)
    """Price of a million output (completion) tokens."""


class KpiSettings(SpecModel):
    prices: dict[str, ModelPrice] = Field(default_factory=dict, max_length=200)
    currency: str = "USD"
    """ISO 4217 code the prices are in; only shown beside the estimates."""

    @field_validator("prices")
    @classmethod
    def _model_names(cls, prices: dict[str, ModelPrice]) -> dict[str, ModelPrice]:
        blank = [name for name in prices if not name.strip() or len(name) > 255]
        if blank:
            raise ValueError(f"model names must be 1 to 255 characters, not {blank!r}")
        return prices

    @field_validator("currency")
    @classmethod
    def _currency_code(cls, currency: str) -> str:
        if not _CURRENCY.match(currency):
            raise ValueError(f"{currency!r} is not an ISO 4217 code such as USD or EUR")
        return currency
