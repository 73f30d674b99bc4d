"""One background task per Source of a given type, kept in step with the live resources.

Schedule ticks and Kubernetes watches both follow the same life: start when their Source
appears, restart when its spec changes, stop when it goes away or the server stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

import structlog

from punching_fist.resources.loader import ResourceSet
from punching_fist.resources.registry import ResourceRegistry

log = structlog.get_logger(__name__)

Spec = TypeVar("Spec")


class PerSourceTasks(Generic[Spec]):
    """Runs ``work(name, spec)`` for every Source whose spec is a ``spec_type``."""

    def __init__(
        self,
        registry: ResourceRegistry,
        spec_type: type[Spec],
        work: Callable[[str, Spec], Coroutine[Any, Any, None]],
        *,
        kind: str,
    ) -> None:
        self._registry = registry
        self._spec_type = spec_type
        self._work = work
        self._kind = kind
        self._tasks: dict[str, tuple[Spec, asyncio.Task[None]]] = {}
        self._running = False

    def start(self) -> None:
        self._running = True
        self._registry.subscribe(self._apply)
        self._apply(self._registry.current())

    async def stop(self) -> None:
        self._running = False
        tasks = [task for _, task in self._tasks.values()]
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def names(self) -> set[str]:
        """Sources whose task is running now."""
        return set(self._tasks)

    def _apply(self, resources: ResourceSet) -> None:
        if not self._running:
            return
        wanted = {
            name: source.spec
            for name, source in resources.sources.items()
            if isinstance(source.spec, self._spec_type)
        }
        for name in list(self._tasks):
            spec, task = self._tasks[name]
            if wanted.get(name) != spec:
                task.cancel()
                del self._tasks[name]
                log.info(f"{self._kind} stopped", source=name)
        for name, spec in wanted.items():
            if name not in self._tasks:
                task = asyncio.get_running_loop().create_task(
                    self._work(name, spec), name=f"{self._kind}-{name}"
                )
                self._tasks[name] = (spec, task)
                log.info(f"{self._kind} started", source=name)
