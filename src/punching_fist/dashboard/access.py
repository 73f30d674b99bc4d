"""Who is looking at a dashboard page, and whether a form they sent may change anything.

Pages need a signed-in session (``sessions.py``) or, on an open tokenless API on loopback,
nobody at all, exactly as the API does. A form that changes something needs the role the
matching API route needs and the session's CSRF token; on an open API ``ApiAuth.identify``
also refuses requests a browser sent from another site.
"""

from __future__ import annotations

from urllib.parse import parse_qs, quote

from fastapi import HTTPException, Request

from punching_fist.api.auth import ApiAuth, Role
from punching_fist.dashboard.sessions import COOKIE, Session, SessionCodec

ANONYMOUS_SID = "anonymous"
FORM_LIMIT = 64 * 1024
"""Bytes of a form body: a note and a few fields."""


class Access:
    """Reads sessions from requests and checks forms."""

    def __init__(self, auth: ApiAuth, codec: SessionCodec) -> None:
        self.auth = auth
        self.codec = codec

    async def session(self, request: Request, *, page: bool = True) -> Session:
        """The caller's session; else a redirect to sign in (``page``) or 401."""
        session = self.codec.read(request.cookies.get(COOKIE))
        if session is not None:
            return session
        try:  # an open API lets anyone on this machine in, as it does for the API
            identity = await self.auth.identify(request, None, Role.VIEWER)
        except HTTPException:
            if not page:
                raise HTTPException(status_code=401, detail="sign in at /ui/login") from None
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise HTTPException(
                status_code=303, headers={"Location": f"/ui/login?next={quote(target)}"}
            ) from None
        return Session(identity=identity, expires=0, sid=ANONYMOUS_SID)

    def csrf(self, session: Session) -> str:
        return self.codec.csrf(session.sid)

    async def form(self, request: Request, role: Role) -> tuple[Session, dict[str, str]]:
        """A state-changing form's fields, once its sender may do what needs ``role``.

        403 when the role is too weak, the CSRF token missing or wrong, or (open API) the
        request came from another site.
        """
        session = await self.session(request)
        if session.sid == ANONYMOUS_SID:
            await self.auth.identify(request, None, role)  # the cross-site refusal
        if not session.identity.role.allows(role):
            raise HTTPException(
                status_code=403,
                detail=f"{session.identity.name!r} has the role {session.identity.role}; "
                f"this needs {role}",
            )
        fields = await read_form(request)
        if not self.codec.csrf_ok(session.sid, fields.get("csrf")):
            raise HTTPException(
                status_code=403, detail="the form's CSRF token is missing or wrong: reload"
            )
        return session, fields


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body, first value of each field."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise HTTPException(status_code=415, detail="send the form as a browser does")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            raise HTTPException(status_code=413, detail="form too large")
    try:
        parsed = parse_qs(body.decode(), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError) as exc:
        raise HTTPException(status_code=400, detail="malformed form") from exc
    return {name: values[0] for name, values in parsed.items()}


def safe_next(target: str | None) -> str:
    """Where to go after signing in: only a dashboard path, never another site."""
    if target and target.startswith("/ui/") and not target.startswith("//"):
        return target
    return "/ui/"
