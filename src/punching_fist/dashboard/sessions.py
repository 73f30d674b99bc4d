"""Dashboard sessions: a signed cookie naming who signed in, and the CSRF token of each form.

A browser cannot send ``Authorization: Bearer``, so the sign-in page takes a token once,
checks it exactly as the API does (``ApiAuth.identify``) and answers with a cookie holding
the identity it found: its name, role, expiry and a random session id, signed with
HMAC-SHA256. Nothing is stored server-side, so every replica accepts it; the key is derived
from the configured tokens (``ApiAuth.session_key``), so changing or revoking any token
signs everyone out. The token itself is never in the cookie.

The cookie is HttpOnly, SameSite=Strict and Secure over https. Every state-changing form
also carries ``csrf``, an HMAC of the session id: a page on another site can neither read it
nor, with SameSite=Strict, send the cookie along.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from punching_fist.api.auth import Identity, Role

COOKIE = "pf_session"
SESSION_SECONDS = 8 * 3600
"""A session lasts a working shift; then the token is asked for again."""


@dataclass(frozen=True, kw_only=True)
class Session:
    """A signed-in browser: who, until when, and the id its CSRF token is bound to."""

    identity: Identity
    expires: int
    sid: str


class SessionCodec:
    """Signs and checks session cookies and CSRF tokens with a key it asks for each time."""

    def __init__(self, key: Callable[[], bytes], *, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self._clock = clock

    def issue(self, identity: Identity, *, seconds: int = SESSION_SECONDS) -> tuple[str, Session]:
        """A new session for ``identity``: the cookie value and what it says."""
        session = Session(
            identity=identity,
            expires=int(self._clock()) + seconds,
            sid=secrets.token_urlsafe(16),
        )
        payload = json.dumps(
            {
                "n": identity.name,
                "r": identity.role.value,
                "e": session.expires,
                "s": session.sid,
            },
            separators=(",", ":"),
        ).encode()
        body = _b64(payload)
        return f"{body}.{self._sign(body.encode())}", session

    def read(self, cookie: str | None) -> Session | None:
        """The session a cookie holds; ``None`` when absent, forged, malformed or expired."""
        if not cookie or cookie.count(".") != 1:
            return None
        body, signature = cookie.split(".")
        if not hmac.compare_digest(self._sign(body.encode()), signature):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            session = Session(
                identity=Identity(name=str(data["n"]), role=Role(data["r"])),
                expires=int(data["e"]),
                sid=str(data["s"]),
            )
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires <= self._clock():
            return None
        return session

    def csrf(self, sid: str) -> str:
        """The token a form of session ``sid`` must send back."""
        return self._sign(b"csrf:" + sid.encode())

    def csrf_ok(self, sid: str, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(self.csrf(sid), presented)

    def _sign(self, data: bytes) -> str:
        return _b64(hmac.new(self._key(), data, hashlib.sha256).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
