"""The one error hierarchy of Punching Fist.

::

    PunchingFistError
    ├── ConfigurationError        the user's to fix (file, document, field)
    │   ├── ResourceValidationError
    │   ├── TemplateError
    │   └── SecretResolutionError
    ├── Refused                   a request we will not carry out, and why
    │   ├── InvalidRequest        malformed (``unprocessable``: well-formed but not valid)
    │   ├── Unauthenticated       no or wrong credentials
    │   ├── Forbidden             known caller, not allowed to do this
    │   ├── NotFound
    │   ├── Conflict              the thing's state does not allow it (decided, in flight)
    │   ├── TooLarge
    │   └── UnsupportedMediaType
    └── RuntimeFailure            something failed while running
        ├── TemporaryFailure      worth retrying (carries a delay)
        │   └── StoreUnavailable  the database cannot be reached or is busy
        ├── PermanentFailure      retrying will not help
        │   ├── CommandRejected   a command refused by a safety policy
        │   └── DeliveryFailed    a sink cannot take the result
        └── LeaseLost             another worker owns the run now; this one must stop

Foreign exceptions are translated at the boundary: ``raise OurError(...) from exc``. HTTP
statuses appear only at the HTTP edge (``api.errors``), which maps each kind to one.
"""

from __future__ import annotations


class PunchingFistError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigurationError(PunchingFistError):
    """Something in the user's configuration is wrong; fixing it is the user's job."""


class ResourceValidationError(ConfigurationError):
    """A resource document does not match its schema or refers to something missing."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class TemplateError(ConfigurationError):
    """A template cannot be parsed or rendered."""


class SecretResolutionError(ConfigurationError):
    """A secret reference cannot be resolved. The message never holds the secret value."""


class Refused(PunchingFistError):
    """A request we will not carry out; the subclass says why, ``detail`` tells the caller."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class InvalidRequest(Refused):
    """Malformed, or (``unprocessable``) well-formed but not what the endpoint takes."""

    def __init__(self, detail: str, *, unprocessable: bool = False) -> None:
        self.unprocessable = unprocessable
        super().__init__(detail)


class Unauthenticated(Refused):
    """Missing or wrong credentials."""


class Forbidden(Refused):
    """The caller is known but may not do this."""


class NotFound(Refused):
    """What the request names does not exist."""


class Conflict(Refused):
    """The thing exists, but its state does not allow this now."""


class TooLarge(Refused):
    """The request is bigger than the limit."""


class UnsupportedMediaType(Refused):
    """The body is not in a format the endpoint takes."""


class RuntimeFailure(PunchingFistError):
    """Something failed while running a workflow, step, tool or sink."""


class TemporaryFailure(RuntimeFailure):
    """A failure that may pass; retry after ``delay`` seconds."""

    def __init__(self, message: str, *, delay: float = 1.0) -> None:
        self.delay = delay
        super().__init__(message)


class StoreUnavailable(TemporaryFailure):
    """The database did not answer (connection refused or cut, a timeout, locked)."""


class PermanentFailure(RuntimeFailure):
    """A failure that retrying will not fix."""


class CommandRejected(PermanentFailure):
    """A command was refused by a safety policy before it ran."""


class DeliveryFailed(PermanentFailure):
    """A sink could not deliver a result."""


class LeaseLost(RuntimeFailure):
    """This worker's lease on a run lapsed or was taken over: its writes are refused.

    Neither temporary nor permanent for the run: the run goes on, under its new owner.
    """
