"""The dashboard in a real headless Chromium: sign in, watch a run appear and pause for an
approval without reloading, approve it through the page, and watch the run resume and end.

The agent is the real runtime against the fake LLM (``tests/support/fake_llm.py``); kubectl
is the stand-in executable of ``tests/agent/kit.py``, so "the delete ran" is a process that
started.
"""

from __future__ import annotations

from pathlib import Path

from selenium.webdriver.common.by import By

from tests.agent.kit import kubectl_stand_in, post_alert, server_settings, workflow_yaml
from tests.agent.test_approvals import RESPONSES, RESTART
from tests.dashboard.browser import Browser, chromium_session
from tests.support.api_auth import APPROVER, OPERATOR_CONFIG, VIEWER, secrets
from tests.support.fake_llm import FakeLLM, Script, final
from tests.support.server import resources_from_yaml, running_server


def resources(llm: str) -> str:
    workflow = workflow_yaml(llm, step_extra="      approvalRequired: true")
    return workflow + OPERATOR_CONFIG % "false"


async def test_an_approver_watches_a_run_pause_approves_it_and_sees_it_resume(
    sqlite_url: str, tmp_path: Path
) -> None:
    stand_in = kubectl_stand_in(tmp_path, RESPONSES)
    with FakeLLM(RESTART) as llm:
        loaded = resources_from_yaml(resources(llm.url))
        settings = server_settings(stand_in)
        # The browser quits before the server stops: its event streams are closed by then.
        async with (
            running_server(loaded, sqlite_url, secrets=secrets(), **settings) as server,
            chromium_session() as driver,
        ):
            browser = Browser(driver, server.url)
            await browser.open("/ui/incidents")
            assert browser.path.startswith("/ui/login?next=/ui/incidents")
            await browser.call((await browser.find("#token")).send_keys, APPROVER)
            await browser.call((await browser.find("#sign-in")).click)
            await browser.wait_for("p.empty", "No incidents")
            assert browser.path == "/ui/incidents"
            await browser.wait_for("#incidents.live")  # the event stream is open
            await browser.script("window.notReloaded = true;")

            run_id = await post_alert(server)
            await browser.wait_for("tr.incident", "PodCrashLooping")
            assert await browser.script("return window.notReloaded === true;")
            await browser.click("tr.incident a", "PodCrashLooping")
            await browser.wait_for("#incident-status")
            # The investigation appears on the incident's page as the agent step starts.
            await browser.click(f'a[href="/ui/runs/{run_id}"]')
            await browser.wait_for("#run-status", "waiting_approval")
            approval = await browser.wait_for("div.approval", "delete pod web-1 -n shop")
            assert "Risk high" in approval.text
            await browser.wait_for("#run.live")
            await browser.script("window.notReloaded = true;")
            assert not stand_in.ran("delete")
            note = approval.find_element(By.CSS_SELECTOR, "input[name=note]")
            await browser.call(note.send_keys, "go ahead, it is stateless")
            approve = approval.find_element(By.CSS_SELECTOR, "button.approve")
            await browser.call(approve.click)

            # The form's answer is the run's page again; the run resumes, and the page
            # follows it to the end through its event stream.
            await browser.wait_for("div.approval", "approved by sre-lead")
            await browser.wait_for("#run.live")
            await browser.script("window.notReloaded = true;")
            await browser.wait_for("#run-status", "succeeded")
            assert await browser.script("return window.notReloaded === true;")
            conclusion = await browser.wait_for(".conclusion", "restarted web-1")
            assert conclusion.is_displayed()
            calls = await browser.wait_for("details.calls", "kubectl")
            assert "CrashLoopBackOff" in (calls.get_attribute("textContent") or "")
            assert stand_in.ran("delete pod web-1 -n shop")
            assert browser.path == f"/ui/runs/{run_id}"


async def test_a_viewer_sees_no_decision_buttons_in_the_browser(sqlite_url: str) -> None:
    with FakeLLM(Script([final(summary="nothing to do")])) as llm:
        loaded = resources_from_yaml(resources(llm.url))
        async with (
            running_server(loaded, sqlite_url, secrets=secrets()) as server,
            chromium_session() as driver,
        ):
            browser = Browser(driver, server.url)
            await browser.open("/ui/login?next=/ui/approvals")
            await browser.call((await browser.find("#token")).send_keys, VIEWER)
            await browser.call((await browser.find("#sign-in")).click)
            await browser.wait_for("p.empty", "Nothing waits")
            assert browser.path == "/ui/approvals"
            header = await browser.find("header .me")
            assert "dashboard" in header.text
            assert "viewer" in header.text
            cookies = await browser.call(driver.get_cookies)
            [session] = [c for c in cookies if c["name"] == "pf_session"]
            assert session["httpOnly"] is True
            assert session["sameSite"] == "Strict"
            assert await browser.script("return document.cookie;") == ""
