"""The ``punching-fist`` command line."""

from __future__ import annotations

import asyncio
import os
import urllib.parse
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.markup import escape

from punching_fist.api.auth import open_api_problem
from punching_fist.api.read_deadline import DEFAULT_READ_TIMEOUT, with_read_timeout
from punching_fist.approvals import cli as approvals_cli
from punching_fist.config import DEFAULT_DB, Settings, default_peering_priority, inherited_env
from punching_fist.incidents import cli as incidents_cli
from punching_fist.incidents import show_cli
from punching_fist.incidents.report_cli import report
from punching_fist.local_model.cli import model_app
from punching_fist.observability.logging import configure_logging
from punching_fist.operator.client import KubeClient
from punching_fist.operator.crds import rendered_files
from punching_fist.operator.kubernetes_source import (
    FolderKubernetesSources,
    has_kubernetes_sources,
)
from punching_fist.operator.preflight import connect_problems
from punching_fist.operator.runtime import OperatorRuntime, add_secret_schemes
from punching_fist.replay.cli import replay_command
from punching_fist.replay.dashboard import try_workflow_for
from punching_fist.resources.loader import ResourceSet
from punching_fist.secret_refs import SecretResolver
from punching_fist.server.service import Service
from punching_fist.sources.secrets_present import SourceSecretsPresent
from punching_fist.validation import FolderReport, check_folder

app = typer.Typer(
    name="punching-fist",
    help="AI incident response for Kubernetes: alerts in, investigations out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
app.add_typer(approvals_cli.app, name="approvals")
app.add_typer(model_app, name="model")
incidents_cli.app.command("list")(show_cli.list_incidents)
incidents_cli.app.command("show")(show_cli.show)
app.add_typer(incidents_cli.app, name="incidents")
app.command("report")(report)
app.command(name="replay")(replay_command)


def load_resources(directory: Path) -> ResourceSet:
    """Load and check a folder of resources; raises with every error (warnings aside)."""
    return check_folder(directory).raise_for_errors()


def _print_report(report: FolderReport, *, skipped: bool) -> None:
    lines = [("red", "error", p) for p in report.errors]
    lines += [("yellow", "warning", p) for p in report.warnings]
    lines += [("dim", "skipped", p) for p in report.skipped] if skipped else []
    for colour, label, text in lines:
        err.print(f"[{colour}]{label}[/{colour}] {escape(text)}", highlight=False, soft_wrap=True)


@app.command()
def validate(
    directory: Annotated[Path, typer.Argument(help="Folder of Source/Workflow/Sink YAML files.")],
    connect: Annotated[
        bool,
        typer.Option(
            "--connect",
            help="Also check what serve would find at start: Sources' secrets resolve here,"
            " and kubernetes Sources' cluster is reachable and serves their resource.",
        ),
    ] = False,
    kubeconfig: Annotated[
        Path | None,
        typer.Option(help="With --connect: the kubernetes Sources' cluster (default: KUBECONFIG)."),
    ] = None,
) -> None:
    """Check a folder of resources: schemas, references, templates, tools and settings.

    Everything is reported in one pass; exit 1 on any error. Warnings (settings that load but
    do nothing) and skipped YAML that is not ours (manifests, snippets) are listed too.
    """
    report = check_folder(directory)
    if connect:
        found = asyncio.run(connect_problems(report.resources, kubeconfig))
        report = replace(report, errors=[*report.errors, *found])
    _print_report(report, skipped=True)
    counts = f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)"
    if report.errors:
        err.print(counts)
        raise typer.Exit(code=1)
    resources = report.resources
    Console().print(
        f"ok: {len(resources.sources)} source(s), {len(resources.workflows)} workflow(s), "
        f"{len(resources.sinks)} sink(s); {len(report.warnings)} warning(s)"
    )


def _checked_public_url(value: str | None) -> str | None:
    if value is None:
        return None
    parsed = urllib.parse.urlsplit(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise typer.BadParameter(f"{value!r} is not an http:// or https:// URL")
    return value


@app.command()
def serve(
    resources: Annotated[
        Path, typer.Option("--resources", "-r", help="Folder of resource YAML files.")
    ] = Path("examples/quickstart"),
    db: Annotated[
        str,
        typer.Option(
            "--db",
            envvar="PUNCHING_FIST_DB",
            help="Database URL (SQLite file or PostgreSQL); from the environment, a password"
            " stays out of the command line, which every process can read.",
        ),
    ] = DEFAULT_DB,
    db_wait_seconds: Annotated[
        float,
        typer.Option(
            envvar="PUNCHING_FIST_DB_WAIT_SECONDS",
            min=0,
            help="How long to wait at start for a database that is down or still starting,"
            " retrying with backoff; then exit (3).",
        ),
    ] = 300.0,
    otlp_endpoint: Annotated[
        str | None,
        typer.Option(
            envvar="OTEL_EXPORTER_OTLP_ENDPOINT",
            help="Send traces (intake, runs, steps, LLM requests, tool calls, deliveries) to"
            " this OTLP/HTTP collector, e.g. http://otel-collector:4318 (default: no traces).",
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    public_url: Annotated[
        str | None,
        typer.Option(
            envvar="PUNCHING_FIST_PUBLIC_URL",
            callback=_checked_public_url,
            help="Where people reach this server (an ingress); links to runs start with it"
            " (default: http://HOST:PORT).",
        ),
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Workflow runs executed at once.")] = 16,
    lease_seconds: Annotated[float, typer.Option(help="Run lease length.")] = 30.0,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    tool_path: Annotated[
        str | None,
        typer.Option(help="PATH of the agent's kubectl and script tools (default: PATH)."),
    ] = None,
    kubeconfig: Annotated[
        str | None,
        typer.Option(
            help="The server's kubeconfig for steps' kubectl (default: KUBECONFIG, else"
            " ~/.kube/config, else the pod's service account)."
        ),
    ] = None,
    kubeconfig_dir: Annotated[
        Path | None,
        typer.Option(
            help="Folder of <serviceAccount>.kubeconfig files for steps that name an account"
            " (default: act as the account by impersonation)."
        ),
    ] = None,
    agent_service_account: Annotated[
        str | None,
        typer.Option(help="Service account of agent steps that name none."),
    ] = None,
    service_account_namespace: Annotated[
        str | None,
        typer.Option(
            help="Namespace of the service accounts steps name (default: the pod's, else the"
            " kubeconfig context's)."
        ),
    ] = None,
    state_dir: Annotated[
        Path,
        typer.Option(
            "--state-dir",
            envvar="PUNCHING_FIST_STATE_DIR",
            help="Directory for the server's own files (the runbook repository's copy).",
        ),
    ] = Path("var"),
    service_account_dir: Annotated[Path, typer.Option(hidden=True)] = Path(
        "/var/run/secrets/kubernetes.io/serviceaccount"
    ),
    kubernetes: Annotated[
        bool,
        typer.Option(
            "--kubernetes",
            help="Take resources from the cluster (in-cluster config or current kubeconfig) "
            "and run the operator controller; --resources is then ignored.",
        ),
    ] = False,
    namespace: Annotated[
        list[str] | None,
        typer.Option("--namespace", "-n", help="Namespace to watch (repeatable; default all)."),
    ] = None,
    peering_lifetime: Annotated[int, typer.Option(hidden=True)] = 60,
    peering_priority: Annotated[
        int, typer.Option(help="This replica's controller priority (default: random).")
    ] = 0,
    status_interval: Annotated[float, typer.Option(hidden=True)] = 10.0,
    sweep_interval: Annotated[float, typer.Option(hidden=True)] = 10.0,
    read_timeout: Annotated[
        float,
        typer.Option(
            min=0.001,
            help="Seconds a client may take to send a request, headers and body; slower"
            " clients are disconnected (408 while still sending headers).",
        ),
    ] = DEFAULT_READ_TIMEOUT,
) -> None:
    """Serve webhooks and the API, running workflows for a folder's or the cluster's resources.

    Off a loopback address the API needs tokens (OperatorConfig ``spec.api.tokens``): a folder's
    are checked here, the cluster's once they are read at start-up.
    """
    report = FolderReport(resources=ResourceSet()) if kubernetes else check_folder(resources)
    _print_report(report, skipped=False)
    if report.errors:
        raise typer.Exit(code=1)
    resource_set = report.resources
    exposed = open_api_problem(host, resource_set.operator_config)
    if exposed is not None and not kubernetes:
        err.print(f"[red]error[/red] {escape(exposed)}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=1)
    secrets = SecretResolver()
    configure_logging(level=log_level, redact=secrets.redact_data)
    settings = Settings(
        kubernetes=kubernetes,
        namespaces=tuple(namespace or ()),
        peering_lifetime_seconds=peering_lifetime,
        peering_priority=peering_priority or default_peering_priority(),
        status_interval_seconds=status_interval,
        sweep_interval_seconds=sweep_interval,
        resources_dir=None if kubernetes else resources,
        database_url=db,
        db_wait_seconds=db_wait_seconds,
        otlp_endpoint=otlp_endpoint,
        host=host,
        port=port,
        public_url=public_url,
        run_concurrency=concurrency,
        lease_seconds=lease_seconds,
        base_env=inherited_env(os.environ),
        log_level=log_level,
        freeze_heap_after_start=True,
        isolate_steps=True,
        tool_path=tool_path,
        kubeconfig=kubeconfig,
        kubeconfig_dir=kubeconfig_dir,
        agent_service_account=agent_service_account,
        service_account_namespace=service_account_namespace,
        service_account_dir=service_account_dir,
        state_dir=state_dir,
    )
    service = Service.build(settings, resource_set, secrets=secrets)
    service.try_workflow = try_workflow_for(service)
    _add_operator(service, settings)
    config = uvicorn.Config(
        service.asgi_app(),
        host=host,
        port=port,
        log_level="warning",
        log_config=None,  # uvicorn's loggers reach the root's JSON formatter (configure_logging)
        access_log=False,
        proxy_headers=False,  # nothing here reads client addresses; it costs every request
        http=with_read_timeout(read_timeout),  # httptools, with a deadline per request
        loop="uvloop",
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    server.run()  # runs on the configured loop (uvloop); asyncio.run would not
    if not server.started:  # start-up failed (logged), e.g. no API tokens off loopback
        raise typer.Exit(code=1)


def _add_operator(service: Service, settings: Settings) -> None:
    """Secret schemes beyond env://, and in Kubernetes mode the operator runtime."""
    client = KubeClient.from_environment() if settings.kubernetes else None
    add_secret_schemes(service.secrets, service.registry, client)
    if client is not None:
        service.extensions.append(OperatorRuntime.build(service, client, settings))
        return
    # A folder's Sources need their secrets (the operator reports a missing one in the
    # Source's status instead).
    service.extensions.append(SourceSecretsPresent(service.registry, service.secrets))
    if has_kubernetes_sources(service.registry.current()):
        # A folder's kubernetes Sources watch the cluster of --kubeconfig (else KUBECONFIG).
        kubeconfig = Path(settings.kubeconfig) if settings.kubeconfig else None
        service.extensions.append(
            FolderKubernetesSources(
                service.registry, service.trigger_run, service.database, kubeconfig
            )
        )


@app.command()
def crds(
    output: Annotated[
        Path | None,
        typer.Option(help="Write one file per CRD into this folder instead of printing them."),
    ] = None,
) -> None:
    """Print (or write) the CustomResourceDefinitions generated from the resource models."""
    files = rendered_files()
    if output is None:
        typer.echo("---\n".join(files.values()), nl=False)
        return
    output.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (output / name).write_text(text, encoding="utf-8")
    Console().print(f"wrote {len(files)} file(s) to {output}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
