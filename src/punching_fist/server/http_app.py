"""The HTTP side of a running server: every router and route mounted on one ASGI app.

``server.service`` builds and runs the long-lived parts; this module only exposes them over
HTTP, in the order requests must meet them: the REST routers, the dashboard, Slack's signed
callbacks, the api and chat Sources' paths, then the webhook intake's catch-all, wrapped so
webhooks are served first and secrets are redacted from every answer. The app's lifespan is
the service's start and stop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from starlette.types import ASGIApp

from punching_fist import __version__
from punching_fist.api.api_sources import ApiSourceRoute
from punching_fist.api.deliveries import deliveries_router
from punching_fist.api.feedback import feedback_router
from punching_fist.api.incidents import incidents_router
from punching_fist.api.knowledge import knowledge_router
from punching_fist.api.kpis import kpis_router
from punching_fist.api.methods import WebhookFallback, method_not_allowed
from punching_fist.api.openapi import describe_webhooks
from punching_fist.api.redaction import RedactedApi
from punching_fist.api.routes import api_router, health_router
from punching_fist.api.runbooks import runbooks_router
from punching_fist.api.slack_events import SlackEventsRoute
from punching_fist.api.webhooks import WebhookApp, WebhooksFirst
from punching_fist.approvals.http import approvals_router
from punching_fist.approvals.slack_feedback import SlackFeedback
from punching_fist.approvals.slack_http import slack_interactions_router
from punching_fist.dashboard.router import DashboardDeps, dashboard_router
from punching_fist.incidents.feedback import FeedbackService
from punching_fist.server.tracing import TracedIntake
from punching_fist.sources.api import ApiIntake
from punching_fist.sources.chat import ChatIntake
from punching_fist.store.chat import ChatStore
from punching_fist.validation import check_resource

if TYPE_CHECKING:
    from punching_fist.server.service import Service


def build_asgi_app(service: Service) -> ASGIApp:
    """The server's ASGI app; its lifespan starts and stops ``service``."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title="Punching Fist",
        version=__version__,
        description="AI incident response for Kubernetes: alerts in, investigations out.",
        lifespan=lifespan,
    )
    auth = service.auth
    app.include_router(
        health_router(
            service.database,
            service.metrics,
            auth,
            service.dispatcher.queue.state,
            investigations_waiting=lambda: service.investigations.waiting,
        )
    )
    app.include_router(api_router(service.database, auth))
    app.include_router(incidents_router(service.database, auth))
    app.include_router(
        deliveries_router(service.database, service.sinks, service.registry.current, auth)
    )
    app.include_router(approvals_router(service.agent_services.approvals, auth))
    if service.runbooks is not None:
        app.include_router(runbooks_router(service.runbooks, auth))
    if service.memory is not None:
        app.include_router(knowledge_router(service.memory.store, auth))
    feedback = FeedbackService(service.database, service.metrics.kpis, knowledge=service.memory)
    app.include_router(dashboard_router(dashboard_deps(service, feedback)))
    app.include_router(feedback_router(feedback, auth))
    app.include_router(kpis_router(service.database, auth, service.registry.current))
    slack_feedback = SlackFeedback(
        approvals=service.slack_approvals,
        service=feedback,
        database=service.database,
        secrets=service.secrets,
    )
    # Slack's signature, not a token, authenticates the button clicks.
    app.include_router(slack_interactions_router(service.slack_approvals, slack_feedback))
    # api Sources' endpoints (sources/api.py), before the webhook intake's catch-all.
    api_intake = ApiIntake(
        service.registry, service.database, service.secrets, service.dispatcher.queue.submit
    )
    app.router.routes.append(ApiSourceRoute(api_intake, service.metrics))
    # chat Sources' paths (sources/chat.py): Slack events and slash commands, signed.
    chat = ChatIntake(
        service.registry,
        service.secrets,
        service.trigger_run,
        ChatStore(service.database).thread_source,
    )
    app.router.routes.append(SlackEventsRoute(chat, service.metrics))
    webhooks = WebhookApp(service.intake, service.metrics)
    # Unknown POST paths still reach the intake, which answers a precise 404.
    app.router.routes.append(WebhookFallback(webhooks, service.intake, lambda: app.router.routes))
    app.add_exception_handler(405, method_not_allowed)
    describe_webhooks(app, service.registry.current)
    served = WebhooksFirst(RedactedApi(app, service.secrets.redact_data), service.intake, webhooks)
    if not service.tracing.enabled:
        return served
    return TracedIntake(served, service.tracing, service.intake.serves)


def dashboard_deps(service: Service, feedback: FeedbackService | None = None) -> DashboardDeps:
    """What the web dashboard (``/ui/``) reads and acts through."""
    return DashboardDeps(
        database=service.database,
        auth=service.auth,
        approvals=service.agent_services.approvals,
        sinks=service.sinks,
        resources=service.registry.current,
        check=check_resource,
        redact=service.secrets.redact_data,
        feedback=feedback,
        try_workflow=service.try_workflow,
        public_url=service.settings.public_url,
    )
