"""The resources the running engine uses, swappable while it runs (the operator updates them)."""

from __future__ import annotations

from collections.abc import Callable

from punching_fist.resources.loader import ResourceSet
from punching_fist.resources.source import Source, WebhookSourceSpec

Listener = Callable[[ResourceSet], None]


class ResourceRegistry:
    """Holds the current ``ResourceSet``; readers always see a complete, consistent set."""

    def __init__(self, resources: ResourceSet | None = None) -> None:
        self._current = resources or ResourceSet()
        self._webhooks = _webhook_index(self._current)
        self._listeners: list[Listener] = []

    def current(self) -> ResourceSet:
        return self._current

    def replace(self, resources: ResourceSet) -> None:
        self._current = resources
        self._webhooks = _webhook_index(resources)
        for listener in self._listeners:
            listener(resources)

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def webhook(self, path: str) -> tuple[str, Source] | None:
        """The webhook source serving ``path``, with its name."""
        return self._webhooks.get(path)


def _webhook_index(resources: ResourceSet) -> dict[str, tuple[str, Source]]:
    index: dict[str, tuple[str, Source]] = {}
    for name, source in sorted(resources.sources.items()):
        if isinstance(source.spec, WebhookSourceSpec):
            index.setdefault(source.spec.config.path, (name, source))
    return index
