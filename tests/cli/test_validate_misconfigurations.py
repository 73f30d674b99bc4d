"""``validate`` catches what would fail at runtime, and says what settings do nothing.

Each misconfiguration here once loaded and then failed, or did nothing, while serving: an
unknown tool, a broken Sink template, a bare Secret name where a secret reference belongs, an
unknown time zone, a literal credential, ``curl`` allowed nowhere, settings we do not
implement. Every one is reported with file, document, resource, field and the fix; errors
exit 1, warnings (a setting that loads but does nothing) exit 0.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from punching_fist.cli import app, load_resources
from punching_fist.errors import ResourceValidationError
from punching_fist.secret_refs import SUPPORTED_SECRET_MANAGERS

runner = CliRunner()

HEAD = "apiVersion: punchingfist.io/v1alpha1\n"
PIPELINE = f"""
{HEAD}kind: Source
metadata: {{name: am}}
spec: {{type: webhook, config: {{path: /hook}}, triggerWorkflow: wf}}
---
{HEAD}kind: Sink
metadata: {{name: out}}
spec: {{type: stdout}}
"""


def workflow(step: str, spec: str = "") -> str:
    """A workflow delivering to ``out`` with one step (YAML flow mapping) and extra spec."""
    return f"{HEAD}kind: Workflow\nmetadata: {{name: wf}}\nspec:\n  sinks: [out]\n  steps: [{step}]\n{spec}"


def agent(tools: str) -> str:
    return workflow(f"{{name: look, type: agent, goal: g, tools: {tools}, evidence: 'off'}}")


def validate(tmp_path: Path, *documents: str) -> tuple[int, str]:
    text = "\n---\n".join((PIPELINE, *documents))
    (tmp_path / "resources.yaml").write_text(text)
    result = runner.invoke(app, ["validate", str(tmp_path)])
    return result.exit_code, " ".join(result.output.split())


def where(tmp_path: Path, document: int, resource: str) -> str:
    return f"{tmp_path / 'resources.yaml'}: document {document} ({resource})"


STDOUT_CLI = workflow("{name: s, type: cli, command: 'echo hi'}")

ERRORS = {
    "unknown tool": (
        agent("[kubeclt]"),
        "(Workflow/wf): spec.steps[0].tools[0]: tool 'kubeclt' is not built in (did you mean"
        " 'kubectl'?) and has no command: the built-in tools are kubectl, promql, curl; a"
        " script tool needs a `command`",
    ),
    "promql without endpoint": (
        agent("[promql]"),
        "spec.steps[0].tools[0]: promql has no endpoint: set `endpoint` on the tool or"
        " PROMETHEUS_URL in spec.runtime.environment",
    ),
    "curl host that is not a host": (
        agent("[{name: curl, allowedHosts: ['http://api.shop.svc/healthz']}]"),
        "spec.steps[0].tools[0].allowedHosts[0]: allowedHosts entry",
    ),
    "literal LLM key": (
        workflow(
            "{name: s, type: cli, command: 'echo hi'}",
            "  runtime: {llmConfig: {provider: anthropic, apiKey: sk-ant-123}}\n",
        ),
        "spec.runtime.llmConfig.apiKey: must be a secret reference such as"
        " env://ANTHROPIC_API_KEY or k8s://namespace/secret/key",
    ),
    "broken sink template": (
        f"{HEAD}kind: Sink\nmetadata: {{name: page}}\n"
        "spec: {type: stdout, config: {format: text, template: '{{ if .x }}'}}",
        "(Sink/page): spec.config.template:",
    ),
    "broken alertmanager comment": (
        f"{HEAD}kind: Sink\nmetadata: {{name: am-silence}}\n"
        "spec: {type: alertmanager, config: {action: silence, comment: '{{ .x '}}",
        "(Sink/am-silence): spec.config.comment:",
    ),
    "broken triggerCondition": (
        f"{HEAD}kind: Sink\nmetadata: {{name: chain}}\n"
        'spec: {type: workflow, config: {workflowName: wf, triggerCondition: "severity == "}}',
        "(Sink/chain): spec.config.triggerCondition:",
    ),
    "bare Secret name as webhook secret": (
        f"{HEAD}kind: Source\nmetadata: {{name: guarded}}\nspec: {{type: webhook, config: "
        "{path: /guarded, authentication: {type: bearer, secretRef: webhook-secret}},"
        " triggerWorkflow: wf}",
        "(Source/guarded): spec.config.authentication.secretRef: must be a secret reference,"
        " not a token or a Secret's name: use env://WEBHOOK_SECRET or k8s://namespace/secret/key",
    ),
    "webhook authentication without a secret": (
        f"{HEAD}kind: Source\nmetadata: {{name: guarded}}\nspec: {{type: webhook, config: "
        "{path: /guarded, authentication: {type: apikey}}, triggerWorkflow: wf}",
        "spec.config.authentication.secretRef: apikey authentication needs the token",
    ),
    "unknown time zone": (
        f"{HEAD}kind: Source\nmetadata: {{name: nightly}}\nspec: {{type: schedule, config: "
        "{cron: '0 2 * * *', timezone: Mars/Olympus}, triggerWorkflow: wf}",
        "(Source/nightly): spec.config.timezone: Value error, unknown time zone 'Mars/Olympus':"
        " write an IANA name such as UTC, Europe/Berlin or America/New_York",
    ),
    "misspelled time zone": (
        f"{HEAD}kind: Source\nmetadata: {{name: nightly}}\nspec: {{type: schedule, config: "
        "{cron: '0 2 * * *', timezone: Europe/Berln}, triggerWorkflow: wf}",
        "unknown time zone 'Europe/Berln' (did you mean 'Europe/Berlin'?)",
    ),
    "literal PagerDuty routing key": (
        f"{HEAD}kind: Sink\nmetadata: {{name: pd}}\n"
        "spec: {type: pagerduty, config: {routingKey: R0UT1NGKEY}}",
        "(Sink/pd): spec.config.routingKey: a literal value is refused at every delivery: use"
        " env://PAGERDUTY_ROUTING_KEY or k8s://namespace/secret/key",
    ),
    "literal Jira token": (
        f"{HEAD}kind: Sink\nmetadata: {{name: jira}}\n"
        "spec: {type: jira, config: {project: OPS, apiToken: jira-token-1}}",
        "(Sink/jira): spec.config.apiToken: a literal value is refused",
    ),
    "chat source with a channel name": (
        f"{HEAD}kind: Source\nmetadata: {{name: chat}}\n"
        "spec: {type: chat, config: {channel: '#ops'}, triggerWorkflow: wf}",
        "(Source/chat): spec.config.channel: '#ops' is not a channel id",
    ),
    "chat source without its signing secret": (
        f"{HEAD}kind: Source\nmetadata: {{name: chat}}\n"
        "spec: {type: chat, config: {signingSecret: env://PF_TEST_UNSET_SECRET},"
        " triggerWorkflow: wf}",
        "(Source/chat): spec.config.signingSecret: env://PF_TEST_UNSET_SECRET is not set in this"
        " environment: the chat Source could not verify Slack's requests",
    ),
    "chat source with a literal token": (
        f"{HEAD}kind: Source\nmetadata: {{name: chat}}\n"
        "spec: {type: chat, config: {botToken: xoxb-pf-literal}, triggerWorkflow: wf}",
        "(Source/chat): spec.config.botToken: must be a secret reference",
    ),
    "chat source of another platform": (
        f"{HEAD}kind: Source\nmetadata: {{name: chat}}\n"
        "spec: {type: chat, config: {platform: teams}, triggerWorkflow: wf}",
        "spec.config.platform",
    ),
    "chat source on a webhook's path": (
        f"{HEAD}kind: Source\nmetadata: {{name: chat}}\n"
        "spec: {type: chat, config: {path: /hook}, triggerWorkflow: wf}",
        "(Source/chat): spec.config.path: '/hook' is already served by webhook Source/am",
    ),
    "api source": (
        f"{HEAD}kind: Source\nmetadata: {{name: trigger}}\n"
        "spec: {type: api, config: {endpoint: /api/v1/trigger}, triggerWorkflow: wf}",
        "(Source/trigger): spec.config.authentication: an api Source needs credentials:"
        " {type: apikey, secretRef: env://API_KEY}",
    ),
}


@pytest.mark.parametrize("document", list(ERRORS.values()), ids=list(ERRORS))
def test_a_misconfiguration_is_an_error_with_its_fix(
    tmp_path: Path, document: tuple[str, str]
) -> None:
    text, expected = document
    extra = [] if "kind: Workflow" in text else [STDOUT_CLI]
    code, output = validate(tmp_path, text, *extra)
    assert code == 1, output
    assert f"error {tmp_path / 'resources.yaml'}: document" in output
    assert expected in output
    assert "pf-literal" not in output
    # A literal credential is never echoed.
    for secret in ("R0UT1NGKEY", "jira-token-1", "sk-ant-123", "webhook-secret"):
        assert secret not in output


WARNINGS = {
    "runtime.image": (
        workflow("{name: s, type: cli, command: 'echo hi'}", "  runtime: {image: 'x:1'}\n"),
        "(Workflow/wf): spec.runtime.image: ignored: steps run in the operator's container",
    ),
    "curl allowed nowhere": (
        agent("[kubectl, curl]"),
        "spec.steps[0].tools[1]: curl has no allowedHosts, so it refuses every URL",
    ),
    "database": (
        f"{HEAD}kind: OperatorConfig\nmetadata: {{name: c}}\nspec: {{database: {{type: sqlite}}}}",
        "(OperatorConfig/c): spec.database: ignored: the database is chosen with `serve --db`",
    ),
    "chat": (
        f"{HEAD}kind: OperatorConfig\nmetadata: {{name: c}}\n"
        "spec: {chat: {slack: {channelId: C1}}}",
        "(OperatorConfig/c): spec.chat: ignored: a chat Source carries its Slack app's settings",
    ),
    "secrets": (
        f"{HEAD}kind: OperatorConfig\nmetadata: {{name: c}}\n"
        "spec: {secrets: {slackToken: {secretRef: chat-credentials, key: bot-token}}}",
        "(OperatorConfig/c): spec.secrets: ignored: name Kubernetes Secrets where they are used",
    ),
    "secretRotation": (
        f"{HEAD}kind: OperatorConfig\nmetadata: {{name: c}}\n"
        "spec: {secretRotation: {enabled: true}}",
        "(OperatorConfig/c): spec.secretRotation: ignored",
    ),
    "literal provider key in the OperatorConfig": (
        f"{HEAD}kind: OperatorConfig\nmetadata: {{name: c}}\n"
        "spec: {llm: {providers: {claude: {apiKey: sk-secret}}}}",
        "spec.llm.providers.claude.apiKey: a literal API key is refused when an agent starts:"
        " use env://ANTHROPIC_API_KEY",
    ),
    "literal Slack bot token": (
        f"{HEAD}kind: Sink\nmetadata: {{name: slack}}\n"
        "spec: {type: slack, config: {channel: '#ops', botToken: xoxb-secret}}",
        "(Sink/slack): spec.config.botToken: a literal value is refused at every delivery",
    ),
    "approval rule on an unknown kind": (
        workflow(
            "{name: s, type: cli, command: 'echo hi'}",
            "  approvalRules: [{name: r, kinds: [deploymnet]}]\n",
        ),
        "spec.approvalRules[0].kinds[0]: 'deploymnet' is not a built-in kind (did you mean"
        " 'deployment'?)",
    ),
}


@pytest.mark.parametrize("document", list(WARNINGS.values()), ids=list(WARNINGS))
def test_a_setting_that_does_nothing_is_a_warning(
    tmp_path: Path, document: tuple[str, str]
) -> None:
    text, expected = document
    extra = [] if "kind: Workflow" in text else [STDOUT_CLI]
    code, output = validate(tmp_path, text, *extra)
    assert code == 0, output
    assert f"warning {tmp_path / 'resources.yaml'}: document" in output
    assert expected in output
    assert "1 warning(s)" in output
    assert "sk-secret" not in output
    assert "xoxb-secret" not in output


@pytest.mark.parametrize("manager", ["aws-secrets", "azure-keyvault", "vault"])
def test_a_secret_manager_without_a_backend_is_an_error(tmp_path: Path, manager: str) -> None:
    config = f"{HEAD}kind: OperatorConfig\nmetadata: {{name: c}}\nspec: {{secretManager: {{type: {manager}}}}}"
    code, output = validate(tmp_path, config, STDOUT_CLI)
    if manager in SUPPORTED_SECRET_MANAGERS:
        assert code == 0, output
        assert "secretManager" not in output
    else:
        assert code == 1
        assert f"spec.secretManager.type: '{manager}' has no backend in this version" in output


def test_misspelled_fields_get_a_suggestion(tmp_path: Path) -> None:
    source = (
        f"{HEAD}kind: Source\nmetadata: {{name: typo}}\nspec: {{type: webhook,"
        " config: {path: /typo, filterz: {}}, triggerWorkfow: wf}"
    )
    steps = (
        "{name: look, type: agent, goal: g, maxIteration: 3,"
        " tools: [{name: curl, allowedHost: [api.shop.svc]}]}"
    )
    sink = f"{HEAD}kind: Sink\nmetadata: {{name: s}}\nspec: {{type: slak, config: {{}}}}"
    code, output = validate(tmp_path, source, workflow(steps), sink)
    assert code == 1
    assert (
        "spec.triggerWorkfow: Extra inputs are not permitted (did you mean 'triggerWorkflow'?)"
        in output
    )
    assert "spec.config.filterz: Extra inputs are not permitted (did you mean 'filters'?)" in output
    assert (
        "spec.steps[0].maxIteration: Extra inputs are not permitted (did you mean 'maxIterations'?)"
        in output
    )
    assert (
        "spec.steps[0].tools[0].allowedHost: Extra inputs are not permitted (did you mean"
        " 'allowedHosts'?)"
    ) in output
    # The name branch of the tool entry adds nothing to the mapping's own error.
    assert "tools[0]: Input should be a valid string" not in output
    assert "(did you mean 'slack'?)" in output


def test_schema_reference_and_template_errors_come_in_one_pass(tmp_path: Path) -> None:
    broken_workflow = workflow("{name: s, type: cli, command: 'echo hi', timeoutSeconds: -1}")
    other = (
        f"{HEAD}kind: Workflow\nmetadata: {{name: other}}\nspec:\n  sinks: [nowhere]\n"
        "  steps: [{name: look, type: agent, goal: '{{ .x ', tools: [kubeclt]}]\n"
    )
    sink = (
        f"{HEAD}kind: Sink\nmetadata: {{name: page}}\n"
        "spec: {type: pagerduty, config: {routingKey: key, template: '{{ end }}'}}"
    )
    code, output = validate(tmp_path, broken_workflow, other, sink)
    assert code == 1
    assert f"{where(tmp_path, 3, 'Workflow/wf')}: spec.steps[0].timeoutSeconds:" in output
    assert (
        f"{where(tmp_path, 4, 'Workflow/other')}: spec.sinks[0]: sink 'nowhere' does not exist"
        in output
    )
    assert f"{where(tmp_path, 4, 'Workflow/other')}: spec.steps[0].goal:" in output
    assert "spec.steps[0].tools[0]: tool 'kubeclt' is not built in" in output
    assert f"{where(tmp_path, 5, 'Sink/page')}: spec.config.template:" in output
    assert f"{where(tmp_path, 5, 'Sink/page')}: spec.config.routingKey:" in output
    # The Source triggers wf, which did not load: its own error is enough.
    assert "workflow 'wf' does not exist" not in output
    assert "6 error(s), 0 warning(s)" in output


def test_the_valid_parts_of_a_resource_that_fails_its_schema_are_checked_too(
    tmp_path: Path,
) -> None:
    steps = (
        "{name: s, type: cli, command: 'echo hi', timeoutSeconds: -1},"
        " {name: look, type: agent, goal: '{{ .x ', tools: [kubectl, curll]}"
    )
    broken = workflow(steps, "  runtime: {image: 'x:1'}\n  outputs: [{name: o}]\n")
    sink = (
        f"{HEAD}kind: Sink\nmetadata: {{name: page}}\nspec: {{type: pagerduty,"
        " delivery: {timeoutSeconds: 0}, config: {routingKey: key, template: '{{ end }}'}}"
    )
    code, output = validate(tmp_path, broken, sink)
    assert code == 1
    wf, page = where(tmp_path, 3, "Workflow/wf"), where(tmp_path, 4, "Sink/page")
    assert f"{wf}: spec.steps[0].timeoutSeconds:" in output  # the schema's
    assert f"{wf}: spec.outputs[0].value: Field required" in output
    assert f"{wf}: spec.steps[1].goal:" in output  # and, in the same pass, the rest
    assert f"{wf}: spec.steps[1].tools[1]: tool 'curll' is not built in (did you mean 'curl'?)" in (
        output
    )
    assert f"warning {wf}: spec.runtime.image: ignored" in output
    assert f"{page}: spec.delivery.timeoutSeconds:" in output
    assert f"{page}: spec.config.template:" in output
    assert f"{page}: spec.config.routingKey: a literal value is refused" in output


def test_yaml_that_is_not_ours_is_skipped_and_listed(tmp_path: Path) -> None:
    (tmp_path / "alertmanager.yml").write_text("route: {receiver: pf}\nreceivers: [{name: pf}]\n")
    (tmp_path / "rbac.yaml").write_text(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: agent}\n"
    )
    code, output = validate(tmp_path, STDOUT_CLI)
    assert code == 0, output
    assert (
        f"skipped {tmp_path / 'alertmanager.yml'}: not a Punching Fist resource (no apiVersion or kind)"
        in output
    )
    assert (
        f"skipped {tmp_path / 'rbac.yaml'}: not a Punching Fist resource (v1 ServiceAccount/agent)"
        in output
    )
    assert "ok: 1 source(s), 1 workflow(s), 1 sink(s); 0 warning(s)" in output


def test_serving_a_folder_refuses_the_same_errors_and_keeps_warnings_out_of_the_way(
    tmp_path: Path,
) -> None:
    (tmp_path / "resources.yaml").write_text(PIPELINE + "---\n" + agent("[kubeclt]"))
    with pytest.raises(ResourceValidationError) as refused:
        load_resources(tmp_path)
    assert "did you mean 'kubectl'?" in str(refused.value)
    served = runner.invoke(app, ["serve", "--resources", str(tmp_path), "--port", "1"])
    assert served.exit_code == 1
    assert "did you mean 'kubectl'?" in " ".join(served.output.split())

    (tmp_path / "resources.yaml").write_text(PIPELINE + "---\n" + agent("[kubectl, curl]"))
    resources = load_resources(tmp_path)
    assert list(resources.workflows) == ["wf"]
