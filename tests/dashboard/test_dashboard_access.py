"""The dashboard's doors: sign-in with an API token, a signed session cookie, roles, CSRF.

Over real HTTP on loopback against a server with one token per role
(``tests/support/api_auth.py``); the browser's side is in ``test_dashboard_browser.py``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import httpx

from punching_fist.api.auth import Identity, Role
from punching_fist.dashboard.sessions import COOKIE, SessionCodec
from tests.support.api_auth import ADMIN, APPROVER, VIEWER, fire, request_approval, serve
from tests.support.payloads import alert, notification
from tests.support.server import RunningServer


@asynccontextmanager
async def sign_in(server: RunningServer, token: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client holding the session cookie a sign-in with ``token`` gave it."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        response = await client.post("/ui/login", data={"token": token, "next": "/ui/approvals"})
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/ui/approvals"
        yield client


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


async def test_pages_redirect_to_sign_in_without_a_session_and_streams_answer_401(
    sqlite_url: str,
) -> None:
    async with serve(sqlite_url) as server:
        for path in ("/ui/runs", "/ui/approvals", "/ui/resources", "/ui/runs?status=failed"):
            response = await server.client.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/ui/login?next=/ui/")
        assert (await server.client.get("/ui/runs/stream")).status_code == 401
        login = await server.client.get("/ui/login?next=/ui/runs")
        assert login.status_code == 200
        assert 'name="token"' in login.text
        refused = await server.client.post("/ui/login", data={"token": "not-a-token"})
        assert refused.status_code == 401
        assert "unknown API token" in refused.text
        forged = await server.client.get("/ui/runs", headers={"Cookie": f"{COOKIE}=e30.AAAA"})
        assert forged.status_code == 303


async def test_the_session_cookie_is_signed_httponly_strict_and_ends(sqlite_url: str) -> None:
    async with serve(sqlite_url) as server:
        response = await server.client.post("/ui/login", data={"token": VIEWER})
        assert response.status_code == 303
        assert response.headers["location"] == "/ui/"
        header = response.headers["set-cookie"]
        assert header.startswith(f"{COOKIE}=")
        assert "HttpOnly" in header
        assert "SameSite=strict" in header
        assert "Path=/ui" in header
        assert "Max-Age=28800" in header
        assert "Secure" not in header  # plain http on loopback
        assert VIEWER not in header
        key = server.service.auth.session_key
        now = [1_000_000.0]
        codec = SessionCodec(key, clock=lambda: now[0])
        cookie, _ = codec.issue(Identity(name="dashboard", role=Role.VIEWER), seconds=60)
        assert codec.read(cookie) is not None
        page = await server.client.get("/ui/runs", headers={"Cookie": f"{COOKIE}={cookie}"})
        assert page.status_code == 303  # the server's clock is far past 1,000,060
        now[0] += 61
        assert codec.read(cookie) is None
        body, signature = cookie.split(".")
        assert codec.read(f"{body}x.{signature}") is None
        # Over https (a proxy saying so; it can only make the cookie stricter) it is Secure.
        proxied = await server.client.post(
            "/ui/login", data={"token": VIEWER}, headers={"X-Forwarded-Proto": "https"}
        )
        assert "Secure" in proxied.headers["set-cookie"]


async def test_a_viewer_sees_but_cannot_approve_and_a_form_needs_its_csrf_token(
    sqlite_url: str,
) -> None:
    async with serve(sqlite_url) as server:
        run_id = await fire(server)
        approval_id = await request_approval(server, run_id)
        async with sign_in(server, VIEWER) as viewer, sign_in(server, APPROVER) as approver:
            page = await viewer.get("/ui/approvals")
            assert page.status_code == 200
            assert "delete pod web-0 -n shop" in page.text
            assert "Approve" not in page.text  # a viewer gets no buttons
            token = csrf_of(page.text)
            form = {"csrf": token, "decision": "approve"}
            denied = await viewer.post(f"/ui/approvals/{approval_id}", data=form)
            assert denied.status_code == 403
            assert "approver" in denied.text

            page = await approver.get("/ui/approvals")
            assert "Approve" in page.text
            missing = await approver.post(
                f"/ui/approvals/{approval_id}", data={"decision": "approve"}
            )
            assert missing.status_code == 403
            assert "CSRF" in missing.text
            wrong = await approver.post(
                f"/ui/approvals/{approval_id}", data={**form, "csrf": token}
            )  # the viewer's session's token
            assert wrong.status_code == 403
            detail = await server.client.get(f"/api/v1/approvals/{approval_id}")
            assert detail.status_code == 401  # (the API itself still needs its header)

            decided = await approver.post(
                f"/ui/approvals/{approval_id}",
                data={
                    "csrf": csrf_of(page.text),
                    "decision": "deny",
                    "note": "not now",
                    "back": "/ui/approvals",
                },
            )
            assert decided.status_code == 303
            assert decided.headers["location"] == "/ui/approvals"
            shown = await approver.get(f"/ui/runs/{run_id}")
            assert "denied" in shown.text
            assert "by sre-lead" in shown.text
            assert "not now" in shown.text


async def test_only_an_admin_may_re_send_a_delivery(sqlite_url: str) -> None:
    async with serve(sqlite_url) as server:
        run_id = await fire(server)
        delivery = await server.client.get(f"/api/v1/runs/{run_id}", headers=_bearer(ADMIN))
        [row] = delivery.json()["deliveries"]
        async with sign_in(server, APPROVER) as approver, sign_in(server, ADMIN) as admin:
            page = await approver.get(f"/ui/runs/{run_id}")
            assert "Re-send" not in page.text
            refused = await approver.post(
                f"/ui/deliveries/{row['id']}/retry", data={"csrf": csrf_of(page.text)}
            )
            assert refused.status_code == 403
            page = await admin.get(f"/ui/runs/{run_id}")
            assert "Re-send" in page.text
            resent = await admin.post(
                f"/ui/deliveries/{row['id']}/retry",
                data={"csrf": csrf_of(page.text), "back": f"/ui/runs/{run_id}"},
            )
            assert resent.status_code == 303
            assert resent.headers["location"] == f"/ui/runs/{run_id}"
        await server.settle()
        assert server.sink_output().count("PodCrashLooping") >= 2


async def test_alert_text_and_output_are_escaped(database_url: str) -> None:
    hostile = "<script>alert('pwned')</script>"
    async with serve(database_url) as server:
        payload = notification(alert(annotations={"summary": hostile, "description": hostile}))
        response = await server.post_alert("/hook", payload)
        assert response.status_code == 202
        await server.settle()
        run_id = response.json()["alerts"][0]["runId"]
        async with sign_in(server, VIEWER) as viewer:
            for path in ("/ui/runs", f"/ui/runs/{run_id}"):
                page = await viewer.get(path)
                assert page.status_code == 200
                assert hostile not in page.text
                assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in page.text
                assert "script-src" in page.headers["content-security-policy"] or (
                    "default-src 'self'" in page.headers["content-security-policy"]
                )


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_an_https_public_url_makes_the_cookie_secure(sqlite_url: str) -> None:
    # serve reads no proxy headers: TLS ends at the ingress, and public_url says so.
    async with serve(sqlite_url, public_url="https://fist.example.com") as server:
        response = await server.client.post("/ui/login", data={"token": VIEWER})
        assert response.status_code == 303
        assert "Secure" in response.headers["set-cookie"]


async def test_changing_the_tokens_signs_everyone_out(sqlite_url: str) -> None:
    async with serve(sqlite_url) as server, sign_in(server, VIEWER) as viewer:
        assert (await viewer.get("/ui/runs")).status_code == 200
        # The OperatorConfig now without the approver's token: every session's key changes.
        current = server.service.registry.current()
        config = current.operator_config
        assert config is not None
        assert config.spec.api is not None
        kept = [t for t in config.spec.api.tokens if t.name != "sre-lead"]
        api = config.spec.api.model_copy(update={"tokens": kept})
        changed = config.model_copy(update={"spec": config.spec.model_copy(update={"api": api})})
        server.service.registry.replace(replace(current, operator_config=changed))
        await server.service.auth.refresh()
        gone = await viewer.get("/ui/runs")
        assert gone.status_code == 303
        assert gone.headers["location"].startswith("/ui/login")
