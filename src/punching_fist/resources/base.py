"""Shared pieces of every resource: the camelCase model base and Kubernetes-style metadata."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

API_VERSION = "punchingfist.io/v1alpha1"
GROUP = "punchingfist.io"
VERSION = "v1alpha1"

ApiVersion = Literal["punchingfist.io/v1alpha1"]


class SpecModel(BaseModel):
    """Base of every spec model: camelCase on the wire, unknown fields rejected.

    Rejecting unknown fields is what turns a typo such as ``triggerWorkfow`` into an error
    naming the field, instead of a silently ignored setting.
    """

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        alias_generator=to_camel,
        frozen=True,
        validate_by_name=True,
        serialize_by_alias=True,
    )


class StatusModel(BaseModel):
    """Base of status models: written by us; unknown fields are tolerated (forward compatible)."""

    model_config = ConfigDict(
        extra="ignore",
        populate_by_name=True,
        alias_generator=to_camel,
        validate_by_name=True,
        serialize_by_alias=True,
    )


class ObjectMeta(BaseModel):
    """The part of Kubernetes ``metadata`` we use; server-set fields are accepted and ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str | None = Field(default=None, description="Resource name, unique per kind.")
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class Condition(StatusModel):
    """A Kubernetes-style status condition."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str | None = None
    message: str | None = None
    last_transition_time: str | None = None
