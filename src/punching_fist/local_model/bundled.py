"""``provider: local`` without an ``endpoint``: the bundled Qwen2.5-Coder 1.5B on llama-server.

Nothing starts with the server. The first agent step that needs the bundled model checks
that it is installed (from the cache's markers, without hashing), so a machine without it
ends that step with a partial result telling the user to run ``punching-fist model
install`` rather than with a traceback. It then opens the loopback gateway, whose first
request starts llama-server (see ``local_model.gateway`` for why a gateway sits in front).
With an ``endpoint`` configured (Ollama, vLLM, a remote llama.cpp) the runtime never calls
this, so nothing is started. ``aclose`` stops everything; a later use starts it again.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import structlog

from punching_fist.agent.providers.config import LLMChoice
from punching_fist.local_model.cache import LocalModelPaths
from punching_fist.local_model.gateway import LlamaGateway
from punching_fist.local_model.server import LlamaServerSupervisor, ServerSettings
from punching_fist.local_model.status import require_ready

log = structlog.get_logger(__name__)


class BundledLocalModel:
    """The ``LocalEndpointProvider`` that serves the installed local model."""

    def __init__(
        self, settings: ServerSettings, *, check_installed: Callable[[], object] | None = None
    ) -> None:
        """``check_installed`` raises ``ModelNotInstalled`` when the model cannot be used."""
        self._settings = settings
        self._check_installed = check_installed or (lambda: None)
        self._supervisor: LlamaServerSupervisor | None = None
        self._gateway: LlamaGateway | None = None

    @classmethod
    def for_cache(cls, paths: LocalModelPaths, **overrides: Any) -> BundledLocalModel:
        """The model and llama-server installed in ``paths`` (``ServerSettings`` overrides)."""
        return cls(
            ServerSettings.for_cache(paths, **overrides),
            check_installed=partial(require_ready, paths),
        )

    @property
    def supervisor(self) -> LlamaServerSupervisor | None:
        """The supervisor once something asked for the model; ``None`` before."""
        return self._supervisor

    @property
    def gateway(self) -> LlamaGateway | None:
        return self._gateway

    async def endpoint(self, choice: LLMChoice) -> str:
        """The gateway's base URL; raises ``ModelNotInstalled`` (a ``ConfigurationError``)."""
        self._check_installed()
        if self._supervisor is None or self._gateway is None:
            if choice.model:
                log.info(
                    "provider local without endpoint serves the bundled model", asked=choice.model
                )
            self._supervisor = LlamaServerSupervisor(self._settings)
            self._gateway = LlamaGateway(self._supervisor, host=self._settings.host)
        return await self._gateway.start()

    async def aclose(self) -> None:
        """Stop llama-server, then the gateway; both start again on the next use.

        The server goes first: a request still in flight then ends at once (502) instead of
        holding the gateway's shutdown until the model finishes writing.
        """
        gateway, self._gateway = self._gateway, None
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            await supervisor.aclose()
        if gateway is not None:
            await gateway.aclose()
