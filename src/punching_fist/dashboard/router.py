"""``/ui/``: the dashboard's pages and forms, behind the API's tokens (``access.py``).

Viewers see runs, approvals and resources; approvers decide approvals; admins re-send
deliveries (the same roles as the matching API routes). Every page is rendered on the
server from the store; live parts are re-rendered into server-sent events (``live.py``).
What the pages show passes through the secret resolver's redaction, as API answers do.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials
from markupsafe import Markup

from punching_fist.api.auth import Role
from punching_fist.api.errors import http_status
from punching_fist.dashboard.access import Access, read_form, safe_next
from punching_fist.dashboard.deps import DashboardDeps as DashboardDeps  # the server builds it
from punching_fist.dashboard.incident_views import IncidentViews
from punching_fist.dashboard.live import fragment_stream, version
from punching_fist.dashboard.render import render, static_file
from punching_fist.dashboard.sessions import COOKIE, SESSION_SECONDS, Session, SessionCodec
from punching_fist.dashboard.views import Views
from punching_fist.errors import ConfigurationError, Refused
from punching_fist.store import dashboard_queries
from punching_fist.store.approval_rows import ApprovalConflict

log = structlog.get_logger(__name__)

Text = Annotated[str | None, Query(max_length=100)]


def dashboard_router(deps: DashboardDeps) -> APIRouter:
    router = APIRouter(prefix="/ui", include_in_schema=False)
    access = Access(deps.auth, SessionCodec(deps.auth.session_key, clock=deps.clock))
    views = Views(deps.database, deps.redact, deps.resources, deps.check)
    incident_views = IncidentViews(deps.database, deps.redact, deps.resources, views.run, deps.now)

    def page(request: Request, session: Session, template: str, **context: Any) -> HTMLResponse:
        html = render(
            template,
            me=session.identity,
            csrf=access.csrf(session),
            signed_in=session.expires > 0,
            path=request.url.path,
            **context,
        )
        return HTMLResponse(html, headers=_PAGE_HEADERS)

    @router.get("/")
    async def home() -> RedirectResponse:
        return RedirectResponse("/ui/incidents", status_code=303)

    @router.get("/static/{name}")
    async def static(name: str) -> Response:
        found = static_file(name)
        if found is None:
            raise HTTPException(status_code=404, detail="no such file")
        body, media_type = found
        return Response(body, media_type=media_type, headers={"Cache-Control": "max-age=300"})

    @router.get("/login")
    async def login_page(next: Text = None) -> HTMLResponse:
        html = render("login.html", next=safe_next(next), error=None, me=None)
        return HTMLResponse(html, headers=_PAGE_HEADERS)

    @router.post("/login")
    async def login(request: Request) -> Response:
        if request.headers.get("sec-fetch-site") not in (None, "same-origin", "none"):
            raise HTTPException(status_code=403, detail="sign in from this dashboard's own page")
        fields = await read_form(request)
        target = safe_next(fields.get("next"))
        token = fields.get("token", "").strip()
        credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)
        try:
            identity = await deps.auth.identify(request, credentials, Role.VIEWER)
        except HTTPException as exc:
            log.warning("dashboard sign-in refused", status=exc.status_code)
            html = render("login.html", next=target, error=str(exc.detail), me=None)
            return HTMLResponse(html, status_code=exc.status_code, headers=_PAGE_HEADERS)
        cookie, _ = access.codec.issue(identity)
        log.info("dashboard sign-in", name=identity.name, role=identity.role.value)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE,
            cookie,
            max_age=SESSION_SECONDS,
            path="/ui",
            httponly=True,
            samesite="strict",
            secure=_over_https(request, deps.public_url),
        )
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        await access.form(request, Role.VIEWER)
        response = RedirectResponse("/ui/login", status_code=303)
        response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict")
        return response

    def live(
        request: Request, session: Session, template: str, fragment: str, **context: Any
    ) -> HTMLResponse:
        """A page around a live fragment, which its event stream then keeps current."""
        # Rendered by the autoescaping templates above: already safe HTML.
        context.update(fragment=Markup(fragment), version=version(fragment))  # noqa: S704
        return page(request, session, template, **context)

    async def runs_fragment(session: Session, status: str | None, workflow: str | None) -> str:
        context = await views.runs(status=status, workflow=workflow)
        return render("_runs_table.html", me=session.identity, **context)

    async def run_fragment(session: Session, run_id: uuid.UUID) -> tuple[dict[str, Any], str]:
        detail = await views.run(run_id)
        html = render("_run_body.html", run=detail, me=session.identity, csrf=access.csrf(session))
        return detail, html

    async def approvals_fragment(session: Session, status: str | None) -> str:
        items = await views.approvals(status)
        context = {"approvals": items, "csrf": access.csrf(session), "back": "/ui/approvals"}
        return render("_approvals_list.html", me=session.identity, **context)

    async def incidents_fragment(
        session: Session, status: str | None, severity: str | None, since: str | None
    ) -> tuple[dict[str, Any], str]:
        context = await incident_views.incidents(status=status, severity=severity, since=since)
        return context, render("_incidents_table.html", me=session.identity, **context)

    async def incident_fragment(
        session: Session, incident_id: uuid.UUID
    ) -> tuple[dict[str, Any], str]:
        detail = await incident_views.incident(incident_id)
        csrf = access.csrf(session)
        html = render("_incident_body.html", incident=detail, me=session.identity, csrf=csrf)
        return detail, html

    @router.get("/incidents")
    async def incidents(
        request: Request, status: Text = None, severity: Text = None, since: Text = None
    ) -> HTMLResponse:
        session = await access.session(request)
        context, fragment = await incidents_fragment(session, status, severity, since)
        return live(request, session, "incidents.html", fragment, **context)

    @router.get("/incidents/stream")
    async def incidents_stream(
        request: Request, status: Text = None, severity: Text = None, since: Text = None
    ) -> Response:
        session = await access.session(request, page=False)

        async def fragment() -> str:
            return (await incidents_fragment(session, status, severity, since))[1]

        return fragment_stream(fragment)

    @router.get("/incidents/{incident_id}")
    async def incident(request: Request, incident_id: uuid.UUID) -> HTMLResponse:
        session = await access.session(request)
        detail, fragment = await incident_fragment(session, incident_id)
        return live(request, session, "incident.html", fragment, incident=detail)

    @router.get("/incidents/{incident_id}/stream")
    async def incident_stream(request: Request, incident_id: uuid.UUID) -> Response:
        session = await access.session(request, page=False)

        async def fragment() -> str:
            return (await incident_fragment(session, incident_id))[1]

        return fragment_stream(fragment)

    @router.post("/incidents/{incident_id}/feedback")
    async def feedback(request: Request, incident_id: uuid.UUID) -> Response:
        session, fields = await access.form(request, Role.APPROVER)
        correct = fields.get("correct")
        if correct not in ("true", "false"):
            raise HTTPException(status_code=400, detail="correct must be true or false")
        given = None
        if deps.feedback is not None:
            given = await deps.feedback.give(
                incident_id,
                root_cause_correct=correct == "true",
                human_needed=True if fields.get("human_needed") == "true" else None,
                notes=fields.get("notes", "").strip()[:4000] or None,
                resolution=fields.get("resolution", "").strip()[:4000] or None,
                given_by=session.identity.name,
                source="api",
            )
        if given is None:
            raise HTTPException(status_code=404, detail=f"incident {incident_id} not found")
        return RedirectResponse(f"/ui/incidents/{incident_id}", status_code=303)

    @router.get("/kpis")
    async def kpis(request: Request, window: Text = "7d") -> HTMLResponse:
        session = await access.session(request)
        return page(request, session, "kpis.html", **await incident_views.kpis(window or "7d"))

    @router.get("/runs")
    async def runs(request: Request, status: Text = None, workflow: Text = None) -> HTMLResponse:
        session = await access.session(request)
        fragment = await runs_fragment(session, status, workflow)
        context = await views.runs(status=status, workflow=workflow)
        return live(request, session, "runs.html", fragment, **context)

    @router.get("/runs/stream")
    async def runs_stream(request: Request, status: Text = None, workflow: Text = None) -> Response:
        session = await access.session(request, page=False)
        return fragment_stream(lambda: runs_fragment(session, status, workflow))

    @router.get("/runs/{run_id}")
    async def run(request: Request, run_id: uuid.UUID) -> HTMLResponse:
        session = await access.session(request)
        detail, fragment = await run_fragment(session, run_id)
        return live(request, session, "run.html", fragment, run=detail)

    @router.get("/runs/{run_id}/stream")
    async def run_stream(request: Request, run_id: uuid.UUID) -> Response:
        session = await access.session(request, page=False)

        async def fragment() -> str:
            return (await run_fragment(session, run_id))[1]

        return fragment_stream(fragment)

    @router.get("/approvals")
    async def approvals(request: Request, status: Text = "pending") -> HTMLResponse:
        session = await access.session(request)
        fragment = await approvals_fragment(session, status)
        return live(request, session, "approvals.html", fragment, status=status or "")

    @router.get("/approvals/stream")
    async def approvals_stream(request: Request, status: Text = "pending") -> Response:
        session = await access.session(request, page=False)
        return fragment_stream(lambda: approvals_fragment(session, status))

    @router.post("/approvals/{approval_id}")
    async def decide(request: Request, approval_id: uuid.UUID) -> Response:
        session, fields = await access.form(request, Role.APPROVER)
        decision = fields.get("decision")
        if decision not in ("approve", "deny"):
            raise HTTPException(status_code=400, detail="decision must be approve or deny")
        note = fields.get("note", "").strip()[:4000] or None
        approved = decision == "approve"
        if session.sid == "anonymous" and approved:
            current = await views.approval(approval_id)
            if current is not None and current.approvers_required > 1:
                raise HTTPException(
                    status_code=403,
                    detail=f"this needs {current.approvers_required} different people, and the"
                    " API has no tokens to tell them apart",
                )
        try:
            result = await deps.approvals.decide(
                approval_id, approved=approved, feedback=note, decided_by=session.identity.name
            )
        except ApprovalConflict as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from exc
        if result is None:
            raise HTTPException(status_code=404, detail=f"approval {approval_id} not found")
        back = fields.get("back") or f"/ui/runs/{result.approval.run_id}"
        return RedirectResponse(safe_next(back), status_code=303)

    @router.post("/deliveries/{delivery_id}/retry")
    async def retry(request: Request, delivery_id: uuid.UUID) -> Response:
        _, fields = await access.form(request, Role.ADMIN)
        try:
            await deps.sinks.retry(delivery_id)
        except Refused as exc:
            raise HTTPException(status_code=http_status(exc), detail=exc.detail) from exc
        return RedirectResponse(safe_next(fields.get("back")), status_code=303)

    @router.get("/alerts/{alert_id}/try")
    async def try_page(request: Request, alert_id: uuid.UUID) -> HTMLResponse:
        session = await access.session(request)
        found = await dashboard_queries.alert_as_notification(deps.database, alert_id)
        if found is None:
            raise HTTPException(status_code=404, detail=f"alert {alert_id} not found")
        notification, workflow = found
        context = {
            "alert_id": alert_id,
            "notification": deps.redact(notification),
            "workflow": workflow or "",
            "workflows": sorted(deps.resources().workflows),
            "offered": deps.try_workflow is not None,
            "replayed": None,
        }
        return page(request, session, "try.html", **context)

    @router.post("/alerts/{alert_id}/try")
    async def try_workflow(request: Request, alert_id: uuid.UUID) -> HTMLResponse:
        # An approver's: it spends LLM tokens and runs read-only tools as the server.
        session, fields = await access.form(request, Role.APPROVER)
        if deps.try_workflow is None:
            raise HTTPException(status_code=404, detail="this server does not offer replays")
        found = await dashboard_queries.alert_as_notification(deps.database, alert_id)
        if found is None:
            raise HTTPException(status_code=404, detail=f"alert {alert_id} not found")
        notification, stored_workflow = found
        workflow = fields.get("workflow") or stored_workflow
        if workflow not in deps.resources().workflows:
            raise HTTPException(status_code=422, detail=f"workflow: no Workflow {workflow!r}")
        try:
            text, report = await deps.try_workflow(json.dumps(notification).encode(), workflow)
        except ConfigurationError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc
        context = {
            "alert_id": alert_id,
            "notification": deps.redact(notification),
            "workflow": workflow,
            "workflows": sorted(deps.resources().workflows),
            "offered": True,
            "replayed": {"timeline": text, "report": report},
        }
        return page(request, session, "try.html", **context)

    @router.get("/resources")
    async def resources(request: Request) -> HTMLResponse:
        session = await access.session(request)
        return page(request, session, "resources.html", resources=views.resources())

    return router


def _over_https(request: Request, public_url: str | None) -> bool:
    """Whether people reach this over https. A forwarded header may only add ``Secure``,
    never remove it, so trusting it here costs nothing."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return (
        request.url.scheme == "https"
        or forwarded == "https"
        or (public_url or "").lower().startswith("https://")
    )


_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
"""Scripts and styles only from this server (no inline script can run), never framed."""
