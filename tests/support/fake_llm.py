"""Fake LLM servers that speak the real wire protocols, on 127.0.0.1, replaying scripts.

Two APIs are served by one process-local HTTP server (Starlette under uvicorn, in a thread
with its own event loop, so sync test code and subprocess servers can use it too):

* OpenAI chat completions, ``POST /v1/chat/completions``: non-streamed JSON and streamed SSE
  (``data:`` chunks, tool-call argument deltas, a usage chunk, ``data: [DONE]``).
* Anthropic Messages, ``POST /v1/messages``: ``tool_use`` content blocks, streamed or not.

A ``Script`` is the list of turns the model plays in one conversation. The server is
stateless about progress: the turn answered is the number of assistant messages already in
the request, so a conversation resumed after an approval or a server restart continues at
the right turn. A script is chosen by a ``match`` string found in the first user message
(the goal); the script without ``match`` is the default.

Failures (``fail(status, times, retry_after)``) are answered before a turn the given number
of times, to exercise retries; ``delay`` makes every answer slow, for concurrency benchmarks.
Every request is recorded (``requests``) so tests assert on what the agent really sent.
"""

from __future__ import annotations

import asyncio
import functools
import json
import multiprocessing
import socket
import threading
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, cast

import httptools
import uvicorn
import uvloop
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

FINAL_TOOL = "final_answer"


def count_tokens(text: str) -> int:
    """cl100k_base tokens (via the offline ``bpe-openai`` tables), else characters / 4."""
    encoding = _cl100k()
    if encoding is None:  # documented approximation when the tokenizer is not installed
        return max(1, len(text) // 4)
    return len(encoding.encode(text))


def _approximate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


@functools.cache
def _cl100k() -> Any:
    try:
        with warnings.catch_warnings():
            # bpe-openai reads its tables with a deprecated importlib.resources call.
            warnings.simplefilter("ignore", DeprecationWarning)
            import bpe_openai

            return bpe_openai.get_encoding("cl100k_base")
    except ImportError:
        return None


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Turn:
    """One model answer: tool calls, or text, or both."""

    tool_calls: tuple[ToolCall, ...] = ()
    text: str | None = None
    raw_arguments: str | None = None
    """Sent verbatim as the first tool call's arguments (to send broken JSON)."""


Reply = Turn | Callable[[list[dict[str, Any]]], Turn]


def call(name: str, **arguments: Any) -> Turn:
    return Turn(tool_calls=(ToolCall(name, arguments),))


def calls(*pairs: tuple[str, dict[str, Any]]) -> Turn:
    return Turn(tool_calls=tuple(ToolCall(n, a) for n, a in pairs))


def kubectl(command: str) -> Turn:
    return call("kubectl", command=command)


def final(**result: Any) -> Turn:
    return call(FINAL_TOOL, **result)


def say(text: str) -> Turn:
    return Turn(text=text)


@dataclass(frozen=True)
class Failure:
    status: int
    times: int = 1
    retry_after: float | None = None


def fail(status: int, times: int = 1, retry_after: float | None = None) -> Failure:
    return Failure(status=status, times=times, retry_after=retry_after)


@dataclass
class Script:
    turns: Sequence[Reply]
    match: str | None = None
    failures: dict[int, Failure] = field(default_factory=dict)
    """Failures answered before turn ``i`` (``{0: fail(429, 2)}``)."""


@dataclass(frozen=True)
class Answer:
    """An answer before HTTP: a JSON payload, or SSE chunks for a streamed one."""

    status: int
    payload: dict[str, Any] | AsyncIterator[str]
    headers: dict[str, str]


@dataclass(frozen=True)
class Recorded:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    turn: int
    status: int
    prompt_tokens: int

    @property
    def tool_names(self) -> list[str]:
        names = []
        for tool in self.body.get("tools") or []:
            names.append(tool["function"]["name"] if "function" in tool else tool["name"])
        return names

    def text(self) -> str:
        return json.dumps(self.body)


class FakeLLM:
    """The server; use ``with FakeLLM(scripts) as llm:`` and point providers at ``llm.url``."""

    def __init__(
        self,
        scripts: Script | Sequence[Script],
        *,
        delay: float = 0.0,
        model: str = "fake-model",
        exact_tokens: bool = True,
    ) -> None:
        """``exact_tokens=False`` reports characters / 4 (cheap, for load tests)."""
        self.scripts = [scripts] if isinstance(scripts, Script) else list(scripts)
        self.delay = delay
        self.model = model
        self._count = count_tokens if exact_tokens else _approximate_tokens
        self.requests: list[Recorded] = []
        self.record = True
        """False keeps only the newest request (load benchmarks answer thousands)."""
        self._failed: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """Base URL for OpenAI-compatible clients (``/v1`` included)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> FakeLLM:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._openai, methods=["POST"]),
                Route("/v1/messages", self._anthropic, methods=["POST"]),
            ]
        )
        config = uvicorn.Config(
            app, log_level="warning", lifespan="off", backlog=2048, timeout_keep_alive=30
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake LLM did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        assert self._thread is not None
        self._server.should_exit = True
        self._thread.join(10)

    # -- script selection ------------------------------------------------------------------

    def _script_for(self, first_user: str) -> Script:
        for script in self.scripts:
            if script.match is not None and script.match in first_user:
                return script
        for script in self.scripts:
            if script.match is None:
                return script
        raise LookupError(f"no script matches {first_user[:80]!r}")

    def _next(
        self,
        path: str,
        body: dict[str, Any],
        headers: dict[str, str],
        messages: list[dict[str, Any]],
    ) -> tuple[Turn | Failure, int]:
        """The scripted outcome for this request and the prompt's size in tokens."""
        first_user = next((_text(m) for m in messages if m.get("role") == "user"), "")
        turn = sum(1 for m in messages if m.get("role") == "assistant")
        script = self._script_for(first_user)
        key = (first_user, turn)
        outcome: Turn | Failure
        with self._lock:
            failure = script.failures.get(turn)
            if failure is not None and self._failed.get(key, 0) < failure.times:
                self._failed[key] = self._failed.get(key, 0) + 1
                outcome = failure
            elif turn >= len(script.turns):
                outcome = Failure(status=500)
            else:
                reply = script.turns[turn]
                outcome = reply(messages) if callable(reply) else reply
            status = outcome.status if isinstance(outcome, Failure) else 200
            prompt_tokens = self._count(json.dumps(body))
            if self.record:
                self.requests.append(
                    Recorded(
                        path=path,
                        body=body,
                        headers=headers,
                        turn=turn,
                        status=status,
                        prompt_tokens=prompt_tokens,
                    )
                )
        return outcome, prompt_tokens

    # -- OpenAI chat completions -----------------------------------------------------------

    async def _openai(self, request: Request) -> Response:
        answer = await self.openai_answer(
            request.url.path, await request.json(), dict(request.headers)
        )
        if isinstance(answer.payload, dict):
            return JSONResponse(answer.payload, status_code=answer.status, headers=answer.headers)
        return StreamingResponse(answer.payload, media_type="text/event-stream")

    async def openai_answer(
        self, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> Answer:
        """The chat-completions answer to ``body``, whatever HTTP server carries it."""
        outcome, prompt_tokens = self._next(path, body, headers, list(body.get("messages") or []))
        if self.delay:
            await asyncio.sleep(self.delay)
        if isinstance(outcome, Failure):
            error: dict[str, Any] = {"error": {"message": "fake failure", "type": "server_error"}}
            return Answer(outcome.status, error, _retry_after(outcome))
        completion_tokens = self._count(json.dumps([c.arguments for c in outcome.tool_calls]))
        completion_tokens += self._count(outcome.text or "")
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        tool_calls = [
            {
                "id": f"call_{uuid.uuid4().hex[:12]}",
                "type": "function",
                "function": {
                    "name": c.name,
                    "arguments": (
                        outcome.raw_arguments
                        if i == 0 and outcome.raw_arguments is not None
                        else json.dumps(c.arguments)
                    ),
                },
            }
            for i, c in enumerate(outcome.tool_calls)
        ]
        finish = "tool_calls" if tool_calls else "stop"
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:12]}"
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            chunks = self._openai_stream(
                completion_id, outcome.text, tool_calls, finish, usage if include_usage else None
            )
            return Answer(200, chunks, {})
        message: dict[str, Any] = {"role": "assistant", "content": outcome.text}
        if tool_calls:
            message["tool_calls"] = tool_calls
        payload: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage,
        }
        return Answer(200, payload, {})

    async def _openai_stream(
        self,
        completion_id: str,
        text: str | None,
        tool_calls: list[dict[str, Any]],
        finish: str,
        usage: dict[str, int] | None,
    ) -> AsyncIterator[str]:
        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
            payload = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            }
            return f"data: {json.dumps(payload)}\n\n"

        yield chunk({"role": "assistant", "content": ""})
        if text:
            for piece in _pieces(text):
                yield chunk({"content": piece})
        for index, tc in enumerate(tool_calls):
            yield chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": tc["id"],
                            "type": "function",
                            "function": {"name": tc["function"]["name"], "arguments": ""},
                        }
                    ]
                }
            )
            for piece in _pieces(tc["function"]["arguments"]):
                yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        yield chunk({}, finish)
        if usage is not None:
            payload = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": self.model,
                "choices": [],
                "usage": usage,
            }
            yield f"data: {json.dumps(payload)}\n\n"
        yield "data: [DONE]\n\n"

    # -- Anthropic Messages ----------------------------------------------------------------

    async def _anthropic(self, request: Request) -> Response:
        body = await request.json()
        outcome, prompt_tokens = self._next(
            request.url.path, body, dict(request.headers), list(body.get("messages") or [])
        )
        if self.delay:
            await asyncio.sleep(self.delay)
        if isinstance(outcome, Failure):
            error_type = "rate_limit_error" if outcome.status == 429 else "api_error"
            return _error(
                outcome,
                {"type": "error", "error": {"type": error_type, "message": "fake failure"}},
            )
        content: list[dict[str, Any]] = []
        if outcome.text:
            content.append({"type": "text", "text": outcome.text})
        for c in outcome.tool_calls:
            content.append(
                {
                    "type": "tool_use",
                    "id": f"toolu_{uuid.uuid4().hex[:12]}",
                    "name": c.name,
                    "input": c.arguments,
                }
            )
        stop = "tool_use" if outcome.tool_calls else "end_turn"
        usage = {
            "input_tokens": prompt_tokens,
            "output_tokens": self._count(json.dumps(content)),
        }
        message_id = f"msg_{uuid.uuid4().hex[:12]}"
        if body.get("stream"):
            return StreamingResponse(
                _anthropic_stream(message_id, self.model, content, stop, usage),
                media_type="text/event-stream",
            )
        return JSONResponse(
            {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": usage,
            }
        )

    # -- helpers for tests -------------------------------------------------------------------

    def answered(self) -> list[Recorded]:
        return [r for r in self.requests if r.status == 200]


async def _anthropic_stream(
    message_id: str, model: str, content: list[dict[str, Any]], stop: str, usage: dict[str, int]
) -> AsyncIterator[str]:
    def event(name: str, data: dict[str, Any]) -> str:
        return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"

    yield event(
        "message_start",
        {
            "message": {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": usage["input_tokens"], "output_tokens": 1},
            }
        },
    )
    for index, block in enumerate(content):
        if block["type"] == "text":
            yield event(
                "content_block_start",
                {"index": index, "content_block": {"type": "text", "text": ""}},
            )
            for piece in _pieces(block["text"]):
                yield event(
                    "content_block_delta",
                    {"index": index, "delta": {"type": "text_delta", "text": piece}},
                )
        else:
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            yield event("content_block_start", {"index": index, "content_block": start})
            for piece in _pieces(json.dumps(block["input"])):
                yield event(
                    "content_block_delta",
                    {"index": index, "delta": {"type": "input_json_delta", "partial_json": piece}},
                )
        yield event("content_block_stop", {"index": index})
    yield event(
        "message_delta",
        {
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]},
        },
    )
    yield event("message_stop", {})


def _retry_after(failure: Failure) -> dict[str, str]:
    if failure.retry_after is None:
        return {}
    return {"retry-after": f"{failure.retry_after:g}"}


def _error(failure: Failure, payload: dict[str, Any]) -> Response:
    return JSONResponse(payload, status_code=failure.status, headers=_retry_after(failure))


def _pieces(text: str, size: int = 7) -> Iterator[str]:
    for start in range(0, len(text), size):
        yield text[start : start + size]


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _serve(scripts: Script | Sequence[Script], delay: float, conn: Connection) -> None:
    uvloop.run(_serve_lean(scripts, delay, conn))


async def _serve_lean(scripts: Script | Sequence[Script], delay: float, conn: Connection) -> None:
    """OpenAI chat completions on a bare HTTP/1.1 protocol, for load benchmarks.

    Starlette under uvicorn spent ~1 ms of CPU per request here; with 200 requests arriving
    at once that delayed the last answer by ~0.2 s beyond ``delay``, so the fake, not the
    system under test, set the pace. This server answers the same wire format for a
    fraction of that (and records nothing).
    """
    llm = FakeLLM(scripts, delay=delay, exact_tokens=False)
    llm.record = False
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _LeanHTTP(llm), "127.0.0.1", 0, backlog=4096, reuse_address=True
    )
    conn.send(server.sockets[0].getsockname()[1])
    await loop.run_in_executor(None, conn.recv)  # until the parent says stop
    server.close()


class _LeanHTTP(asyncio.Protocol):
    """Just enough HTTP/1.1 (keep-alive, Content-Length bodies) for chat-completion POSTs."""

    def __init__(self, llm: FakeLLM) -> None:
        self._llm = llm
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            if self._transport is not None:
                self._transport.close()

    def on_url(self, url: bytes) -> None:
        self._url = url

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        body, self._body = b"".join(self._body), []
        asyncio.get_running_loop().create_task(self._answer(self._url.decode(), body))

    async def _answer(self, path: str, raw: bytes) -> None:
        transport = self._transport
        if transport is None:
            return
        if path != "/v1/chat/completions":
            self._write(404, b'{"error": "not found"}', {})
            return
        answer = await self._llm.openai_answer(path, json.loads(raw), {})
        if isinstance(answer.payload, dict):
            self._write(answer.status, json.dumps(answer.payload).encode(), answer.headers)
            return
        head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        transport.write(head + b"transfer-encoding: chunked\r\n\r\n")
        async for chunk in answer.payload:
            data = chunk.encode()
            transport.write(b"%x\r\n%s\r\n" % (len(data), data))
        transport.write(b"0\r\n\r\n")

    def _write(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        assert self._transport is not None
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        head = (
            f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n{extra}\r\n"
        )
        self._transport.write(head.encode() + body)


@contextmanager
def fake_llm_process(scripts: Script | Sequence[Script], *, delay: float = 0.0) -> Iterator[str]:
    """The fake in a child process (its CPU time off our GIL, as a real server's would be).

    Yields the OpenAI-compatible base URL; requests are not recorded in this process.
    """
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(scripts, delay, child), daemon=True)
    process.start()
    try:
        if not parent.poll(30):
            raise RuntimeError("fake LLM process did not start")
        yield f"http://127.0.0.1:{parent.recv()}/v1"
    finally:
        parent.send("stop")
        process.join(10)
        if process.is_alive():
            process.kill()


@contextmanager
def fake_llm(scripts: Script | Sequence[Script], *, delay: float = 0.0) -> Iterator[FakeLLM]:
    with FakeLLM(scripts, delay=delay) as llm:
        yield llm
