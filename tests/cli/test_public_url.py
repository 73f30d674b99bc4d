"""``serve --public-url``: links to runs start with it, and a URL that is not one is refused."""

from __future__ import annotations

import uuid

from typer.testing import CliRunner

from punching_fist.cli import app
from punching_fist.config import Settings
from punching_fist.server.sinks import run_link

RUN = uuid.UUID(int=7)


def test_links_to_runs_start_with_the_public_url() -> None:
    link = run_link(Settings(public_url="https://fist.example.com/pf/"))
    assert link(RUN) == f"https://fist.example.com/pf/api/v1/runs/{RUN}"


def test_without_a_public_url_links_use_the_listening_address() -> None:
    assert run_link(Settings(host="10.0.0.5", port=9000))(RUN) == (
        f"http://10.0.0.5:9000/api/v1/runs/{RUN}"
    )


def test_serve_refuses_a_public_url_that_is_not_http() -> None:
    result = CliRunner().invoke(app, ["serve", "--public-url", "fist.example.com"])
    assert result.exit_code == 2
    assert "--public-url" in result.output
    assert "is not an http:// or https:// URL" in result.output
