"""Screenshots of the dashboard's main pages, for docs/dashboard.md.

Run: ``.venv/bin/python bench/screenshots.py`` (needs ``chromium`` and ``chromium-driver``:
``make test-deps``). A server on loopback with one token per role, an agent workflow on the
OpenAI-compatible stand-in (``tests/support/fake_llm.py``) and a kubectl stand-in: one alert
is investigated to a conclusion and gets feedback, a second waits for approval of a delete,
and the first is replayed with "try a workflow". Headless Chromium then saves each page to
``docs/screenshots/<page>.png``.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.agent.kit import kubectl_stand_in, server_settings, workflow_yaml  # noqa: E402
from tests.dashboard.browser import Browser, chromium_session  # noqa: E402
from tests.support.api_auth import ADMIN, APPROVER, OPERATOR_CONFIG, bearer, secrets  # noqa: E402
from tests.support.fake_llm import FakeLLM, Script, final, kubectl  # noqa: E402
from tests.support.payloads import alert, notification  # noqa: E402
from tests.support.server import resources_from_yaml, running_server  # noqa: E402

from punching_fist.replay.dashboard import try_workflow_for  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
RESPONSES = [
    (
        "get pods -n shop",
        "NAME        READY  STATUS            RESTARTS\ncheckout-1  0/1    CrashLoopBackOff  14\n",
        0,
    ),
    ("logs", "panic: dial tcp 10.0.4.12:5432: connect: connection refused\n", 0),
    (
        "get pods -n payments",
        "NAME       READY  STATUS   RESTARTS\napi-7f9c   0/1  OOMKilled  6\n",
        0,
    ),
]
CONCLUSION = final(
    summary="checkout-1 crash loops: it cannot reach its database at 10.0.4.12:5432.",
    root_cause="The postgres Service in shop has no ready endpoints since 09:58.",
    confidence=0.82,
    recommendations=["Check the postgres StatefulSet in shop", "Then restart checkout-1"],
)
SCRIPTS = [
    Script([kubectl("get pods -n shop"), kubectl("logs checkout-1 -n shop --tail 50"), CONCLUSION]),
    Script(
        [kubectl("get pods -n payments"), kubectl("delete pod api-7f9c -n payments")],
        match="KubePodOOMKilled",
    ),
]
"""Chosen by the investigation's goal; a turn is its place in that conversation."""


def checkout() -> dict[str, object]:
    return notification(
        alert(
            "PodCrashLooping",
            fingerprint="fp-checkout",
            labels={"namespace": "shop", "pod": "checkout-1", "deployment": "checkout"},
            annotations={"summary": "checkout-1 is restarting repeatedly"},
        )
    )


def payments() -> dict[str, object]:
    body = notification(
        alert(
            "KubePodOOMKilled",
            fingerprint="fp-payments",
            severity="warning",
            labels={"namespace": "payments", "pod": "api-7f9c", "deployment": "api"},
            annotations={"summary": "api-7f9c was OOMKilled 6 times in 10 minutes"},
        )
    )
    body["groupKey"] = '{}:{alertname="KubePodOOMKilled"}'  # another group, another incident
    return body


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, FakeLLM(SCRIPTS) as llm:
        stand_in = kubectl_stand_in(Path(scratch), RESPONSES)
        yaml = workflow_yaml(llm.url, step_extra="      approvalRequired: true")
        resources = resources_from_yaml(yaml + OPERATOR_CONFIG % "false")
        url = f"sqlite+aiosqlite:///{scratch}/pf.db"
        async with running_server(
            resources,
            url,
            secrets=secrets(),
            configure=lambda s: setattr(s, "try_workflow", try_workflow_for(s)),
            **server_settings(stand_in),
        ) as server:
            admin = bearer(ADMIN)
            first = await server.post_alert("/hook", checkout())
            run_id = first.json()["alerts"][0]["runId"]
            await server.settle()
            incidents = (await server.client.get("/api/v1/incidents", headers=admin)).json()
            incident_id = incidents["items"][0]["id"]
            await server.client.post(
                f"/api/v1/incidents/{incident_id}/feedback",
                json={"rootCauseCorrect": True, "notes": "postgres lost its volume"},
                headers=bearer(APPROVER),
            )
            second = await server.post_alert("/hook", payments())
            waiting = second.json()["alerts"][0]["runId"]
            await server.settle()
            paused = (await server.client.get(f"/api/v1/runs/{waiting}", headers=admin)).json()
            if paused["status"] != "waiting_approval":
                raise SystemExit(f"the second run is {paused['status']}: {paused}")
            async with chromium_session(1280, 1000) as driver:
                browser = Browser(driver, server.url)
                await browser.open("/ui/login")
                await browser.screenshot(OUT / "login.png")
                await browser.call((await browser.find("#token")).send_keys, APPROVER)
                await browser.call((await browser.find("#sign-in")).click)
                await browser.wait_for("tr.incident")
                await browser.screenshot(OUT / "incidents.png")
                await browser.open(f"/ui/incidents/{incident_id}")
                await browser.wait_for(".conclusion")
                await browser.screenshot(OUT / "incident.png")
                await browser.open(f"/ui/runs/{waiting}")
                await browser.wait_for("div.approval")
                await browser.screenshot(OUT / "run-waiting-approval.png")
                await browser.open(f"/ui/runs/{run_id}")
                await browser.wait_for("details.calls")
                await browser.screenshot(OUT / "run.png")
                await browser.open("/ui/approvals")
                await browser.wait_for("div.approval")
                await browser.screenshot(OUT / "approvals.png")
                await browser.open("/ui/kpis?window=24h")
                await browser.wait_for("svg.chart")
                await browser.screenshot(OUT / "kpis.png")
                await browser.open("/ui/resources")
                await browser.screenshot(OUT / "resources.png")
                detail = (await server.client.get(f"/api/v1/runs/{run_id}", headers=admin)).json()
                await browser.open(f"/ui/alerts/{detail['alert_id']}/try")
                await browser.click("#try")
                await browser.wait_for("#replay-timeline", timeout=120)
                await browser.screenshot(OUT / "try-workflow.png")
    print("\n".join(sorted(str(p.relative_to(ROOT)) for p in OUT.glob("*.png"))))


if __name__ == "__main__":
    asyncio.run(main())
