"""Reading and showing an HTTP response for the model: status, a few headers, a capped body.

Only headers that help an investigation are shown (type, length, redirect target, retry
and auth hints); the rest cost tokens and can carry cookies. Binary bodies are described,
not dumped.
"""

from __future__ import annotations

import codecs

import httpx

SHOWN_HEADERS = (
    "content-type",
    "content-length",
    "location",
    "retry-after",
    "www-authenticate",
    "server",
)
_TEXTUAL = ("text/", "json", "xml", "yaml", "javascript", "x-www-form-urlencoded")


async def read_capped(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """Up to ``limit`` bytes of the (decoded) body; ``True`` when more was left unread."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            return bytes(body[:limit]), True
    return bytes(body), False


def render_response(response: httpx.Response, body: bytes, cut: bool, notes: list[str]) -> str:
    """The status line, shown headers, notes (redirects) and the body as text."""
    lines = [f"{response.http_version} {response.status_code} {response.reason_phrase}"]
    lines += [
        f"{name}: {response.headers[name]}" for name in SHOWN_HEADERS if name in response.headers
    ]
    lines += notes
    text = _body_text(response, body)
    if text:
        lines += ["", text]
    if cut:
        lines.append(f"[body cut after {len(body)} bytes]")
    return "\n".join(lines)


def _body_text(response: httpx.Response, body: bytes) -> str:
    if not body:
        return ""
    content_type = response.headers.get("content-type", "").lower()
    text = body.decode(_encoding(response), errors="replace")
    if any(marker in content_type for marker in _TEXTUAL):
        return text
    if "\0" in text or text.count("\ufffd") > len(text) // 10:
        return f"[binary body: {len(body)} bytes of {content_type or 'unknown type'}]"
    return text


def _encoding(response: httpx.Response) -> str:
    """The declared charset if Python knows it (servers send odd names), else UTF-8."""
    declared = response.charset_encoding
    if declared:
        try:
            return codecs.lookup(declared).name
        except LookupError:
            pass
    return "utf-8"
