"""A streamed chat completions answer: server-sent chunks turned into pydantic-ai events.

The server sends ``data:`` chunks until ``[DONE]``, usage in the last; an error may come
inside the stream (llama.cpp and vLLM send one), and is raised as the error a status would
have been. The body is read to its end so the connection can be reused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
from pydantic_ai.messages import ModelResponseStreamEvent
from pydantic_ai.models import StreamedResponse

from punching_fist.agent.providers import chat_response
from punching_fist.agent.providers.chat_errors import connection_error, stream_error


@dataclass(kw_only=True)
class ChatStream(StreamedResponse):
    """A streamed answer: server-sent ``data:`` chunks until ``[DONE]``, usage in the last."""

    _response: aiohttp.ClientResponse = field(repr=False)
    _model_name: str
    _system: str
    _base_url: str
    _timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))
    _usage_received: bool | None = field(default=False, init=False)

    async def _get_event_iterator(self) -> AsyncIterator[ModelResponseStreamEvent]:
        finished = done = False
        async for event, data in self._server_events():
            # Read on past [DONE] to the body's end: a connection left mid-body is not reused.
            done = done or data == b"[DONE]"
            if done:
                continue
            chunk = chat_response.parse_chunk(data)
            if (error := chunk.get("error")) or event == b"error":
                raise stream_error(error or dict(chunk), self._model_name)
            if (usage := chunk.get("usage")) is not None:
                self._add_usage(chat_response.usage_of(usage), reported=True)
            if response_id := chunk.get("id"):
                self.provider_response_id = response_id
            if model := chunk.get("model"):
                self._model_name = model
            for choice in chunk.get("choices") or ():
                if raw_finish := choice.get("finish_reason"):
                    finished = True
                    self.finish_reason = chat_response.FINISH_REASONS.get(raw_finish)
                    self.provider_details = {"finish_reason": raw_finish}
                if delta := choice.get("delta"):
                    for each in self._deltas(delta):
                        yield each
                break  # one choice was asked for (n=1)
        if not finished and not self.cancelled:
            self.finish_reason = "stop"  # some servers never say

    def _deltas(self, delta: chat_response.WireDelta) -> Iterator[ModelResponseStreamEvent]:
        parts = self._parts_manager
        if reasoning := chat_response.reasoning_of(delta):
            name, content = reasoning
            yield from parts.handle_thinking_delta(
                vendor_part_id=name, id=name, content=content, provider_name=self._system
            )
        if text := chat_response.text_of(delta.get("content")):
            yield from parts.handle_text_delta(vendor_part_id="content", content=text)
        for call in delta.get("tool_calls") or ():
            function = call.get("function") or {}
            yield from parts.handle_tool_call_delta_events(
                vendor_part_id=call["index"],
                tool_name=function.get("name"),
                args=function.get("arguments"),
                tool_call_id=call.get("id"),
            )

    async def _server_events(self) -> AsyncIterator[tuple[bytes, bytes]]:
        """(event name, data) per server-sent event; transport failures as ModelAPIErrors."""
        lines = _SSELines()
        try:
            async for received in self._response.content.iter_any():
                for event in lines.feed(received):
                    yield event
        except aiohttp.ClientError as exc:
            raise connection_error(exc, self._model_name) from exc
        for event in lines.feed(b"\n\n"):  # a last event without its blank line
            yield event

    async def close_stream(self) -> None:
        self._response.release()

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def provider_name(self) -> str:
        return self._system

    @property
    def provider_url(self) -> str:
        return self._base_url

    @property
    def timestamp(self) -> datetime:
        return self._timestamp


class _SSELines:
    """Splits a server-sent event stream into (event name, data) as bytes arrive."""

    def __init__(self) -> None:
        self._pending = b""
        self._event = b""
        self._data: list[bytes] = []

    def feed(self, received: bytes) -> Iterator[tuple[bytes, bytes]]:
        *lines, self._pending = (self._pending + received).split(b"\n")
        for line in lines:
            line = line.rstrip(b"\r")
            if not line:
                if self._data:
                    yield self._event, b"\n".join(self._data)
                self._event, self._data = b"", []
            elif line.startswith(b"data:"):
                self._data.append(line[6:] if line.startswith(b"data: ") else line[5:])
            elif line.startswith(b"event:"):
                self._event = line[6:].strip()
