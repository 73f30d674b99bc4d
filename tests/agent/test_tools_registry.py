"""Building a step's tools from its ``tools`` entries, and what the LLM will see of them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from punching_fist.agent.tools.base import AgentTool
from punching_fist.agent.tools.curl import CurlTool
from punching_fist.agent.tools.kubectl import KubectlTool
from punching_fist.agent.tools.promql import PromqlTool
from punching_fist.agent.tools.registry import ToolSettings, build_tools
from punching_fist.agent.tools.script import ScriptArguments, ScriptTool
from punching_fist.errors import ConfigurationError
from punching_fist.resources.loader import parse_yaml
from punching_fist.resources.workflow import AgentStep, ToolSpec, Workflow
from punching_fist.secret_refs import EnvResolver, SecretResolver
from tests.support.tools_helpers import context, write_executable

DESIGN_WORKFLOW = (
    Path(__file__).resolve().parents[2]
    / "examples/design/resources/02-workflow-agent-alert-investigation.yaml"
)


def build(entries: list[str | ToolSpec], **environment: str) -> list[AgentTool]:
    return build_tools(entries, environment=environment, secrets=SecretResolver())


def design_tool_entries() -> list[str | ToolSpec]:
    (loaded,) = parse_yaml(DESIGN_WORKFLOW.read_text(), origin=DESIGN_WORKFLOW.name)
    workflow = loaded.resource
    assert isinstance(workflow, Workflow)
    step = next(s for s in workflow.spec.steps if isinstance(s, AgentStep))
    return list(step.tools)


def test_design_workflow_tools_build_in_order() -> None:
    entries = design_tool_entries()
    # The runtime renders templates before building; here by hand.
    rendered = [
        e.model_copy(update={"endpoint": "http://prom:9090"})
        if isinstance(e, ToolSpec) and e.endpoint
        else e
        for e in entries
    ]
    tools = build(rendered)
    assert [type(t) for t in tools] == [KubectlTool, PromqlTool, CurlTool, ScriptTool]
    assert [t.name for t in tools] == ["kubectl", "promql", "curl", "debug-pod"]
    kubectl = tools[0]
    # Our usage hints stay; the workflow's words are added after them.
    assert kubectl.description.startswith("Run one kubectl command")
    assert kubectl.description.endswith("Kubernetes command line tool for cluster inspection")
    assert tools[3].description == "Custom script for comprehensive pod debugging"


def test_plain_names_and_promql_endpoint_from_the_environment() -> None:
    tools = build(["kubectl", "promql"], PROMETHEUS_URL="http://prom:9090")
    assert [t.name for t in tools] == ["kubectl", "promql"]
    assert tools[1].description.startswith("Query Prometheus metrics with PromQL. Use it")


def test_descriptions_are_short_and_say_when_to_use_the_tool() -> None:
    tools = build(["kubectl", "promql", "curl"], PROMETHEUS_URL="http://prom:9090")
    for tool in tools:
        assert len(tool.description) <= 300, tool.name
        assert "Use it" in tool.description, tool.name


def test_argument_schemas_are_flat_for_small_models(tmp_path: Path) -> None:
    tools = build(
        ["kubectl", "promql", "curl", ToolSpec(name="dbg", command=str(tmp_path / "x"))],
        PROMETHEUS_URL="http://prom:9090",
    )
    for tool in tools:
        schema = tool.arguments.model_json_schema()
        assert "$defs" not in schema, tool.name
        for name, prop in schema["properties"].items():
            types = {prop.get("type")} | {alt.get("type") for alt in prop.get("anyOf", [])}
            assert types - {None} <= {"string", "integer", "null"}, (tool.name, name)
            assert prop.get("description"), (tool.name, name)
        assert len(schema["properties"]) <= 3


@pytest.mark.parametrize(
    ("entries", "environment", "message"),
    [
        (["kubectl", "helm"], {}, "tool 'helm' is not built in"),
        (["kubectl", "kubectl"], {}, "tool 'kubectl' is listed twice"),
        ([ToolSpec(name="kubectl", command="/bin/sh")], {}, "built in and cannot have a command"),
        ([ToolSpec(name="debug pod", command="/x")], {}, "names may hold only"),
        (["promql"], {}, "tool 'promql' has no endpoint"),
        ([ToolSpec(name="promql", endpoint="{{ .env.PROMETHEUS_URL }}")], {}, "unrendered"),
        ([ToolSpec(name="promql", endpoint="prom:9090")], {}, "not an http(s) URL"),
        (
            [ToolSpec(name="promql", token_secret_ref="glpat-literal-token")],
            {"PROMETHEUS_URL": "http://prom:9090"},
            "must be a secret reference",
        ),
        ([ToolSpec(name="kubectl", allowed_hosts=["x"])], {}, "allowedHosts applies only to curl"),
        ([ToolSpec(name="curl", token_secret_ref="env://X")], {}, "tokenSecretRef applies only"),
        ([ToolSpec(name="curl", allowed_hosts=["http://x/"])], {}, "allowedHosts entry"),
    ],
)
def test_configuration_errors_name_the_tool(
    entries: list[str | ToolSpec], environment: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)) as error:
        build_tools(entries, environment=environment, secrets=SecretResolver())
    assert "glpat-literal-token" not in str(error.value)


async def test_script_from_the_registry_prints_a_secret_and_the_model_sees_it_redacted(
    tmp_path: Path,
) -> None:
    token = "prom-token-5a4b3c2d1e"
    secrets = SecretResolver({"env": EnvResolver({"PROM_TOKEN": token})})
    exe = write_executable(tmp_path, "debug-pod.sh", 'echo "pod $1: auth $PROMETHEUS_TOKEN"')
    (tool,) = build_tools(
        [ToolSpec(name="debug-pod", command=str(exe))],
        environment={"PROMETHEUS_TOKEN": "env://PROM_TOKEN"},
        secrets=secrets,
        settings=ToolSettings(path="/usr/bin:/bin"),
    )
    output = await tool.call(ScriptArguments(arguments="web-0"), context())
    assert output.text == "pod web-0: auth [redacted]"


def test_only_scripts_declare_they_may_change_things(tmp_path: Path) -> None:
    """The runtime gates ``read_only = False`` tools on steps with ``approvalRequired``."""
    tools = build(
        ["kubectl", "promql", "curl", ToolSpec(name="fix", command=str(tmp_path / "fix.sh"))],
        PROMETHEUS_URL="http://prom:9090",
    )
    assert {t.name: getattr(t, "read_only", None) for t in tools} == {
        "kubectl": True,
        "promql": True,
        "curl": True,
        "fix": False,
    }
