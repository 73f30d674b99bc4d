"""The one error hierarchy of Punching Fist.

::

    PunchingFistError
    ├── ConfigurationError        the user's to fix (file, document, field)
    │   ├── ResourceValidationError
    │   ├── TemplateError
    │   └── SecretResolutionError
    ├── IntakeError               a request we refuse (carries an HTTP status)
    └── RuntimeFailure            something failed while running
        ├── TemporaryFailure      worth retrying (carries a delay)
        ├── PermanentFailure      retrying will not help
        ├── StepFailed
        ├── CommandRejected       a command refused by a safety policy
        └── DeliveryFailed

Foreign exceptions are translated at the boundary: ``raise OurError(...) from exc``.
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


class IntakeError(PunchingFistError):
    """An incoming request is refused; ``status_code`` is the HTTP answer."""

    def __init__(self, status_code: int, detail: str) -> None:
        self.status_code = status_code
        self.detail = detail
        super().__init__(f"{status_code}: {detail}")


class RuntimeFailure(PunchingFistError):
    """Something failed while running a workflow, step, tool or sink."""


class TemporaryFailure(RuntimeFailure):
    """A failure that may pass; retry after ``delay`` seconds."""

    def __init__(self, message: str, *, delay: float = 1.0) -> None:
        self.delay = delay
        super().__init__(message)


class PermanentFailure(RuntimeFailure):
    """A failure that retrying will not fix."""


class StepFailed(RuntimeFailure):
    """A workflow step ended unsuccessfully."""


class CommandRejected(RuntimeFailure):
    """A command was refused by a safety policy before it ran."""


class DeliveryFailed(RuntimeFailure):
    """A sink could not deliver a result."""
