"""Which credentials steps get: found as kubectl finds them, accounts by impersonation.

The kubeconfigs written for steps are read back as YAML here and by the real kubectl (``config
view``), which is what matters: kubectl must understand them. That the API server then sees the
step's identity is shown against the API server kit in ``test_step_identity.py``.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from punching_fist.kube.credentials import InCluster, KubeCredentials, MissingCredentials

OPERATOR = "system:serviceaccount:pf-system:{}"
ANONYMOUS_USER = {"name": "user", "user": {"username": "system:anonymous"}}


def kubeconfig(
    path: Path,
    *,
    context: str = "work",
    namespace: str | None = None,
    server: str = "https://k8s.example:6443",
    user: dict[str, Any] | None = None,
) -> Path:
    """A kubeconfig whose current context is ``context``, with relative certificate paths."""
    entry: dict[str, Any] = {"cluster": context, "user": context}
    if namespace:
        entry["namespace"] = namespace
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": context,
                        "cluster": {"server": server, "certificate-authority": "ca.crt"},
                    }
                ],
                "users": [
                    {"name": context, "user": user or {"client-certificate": "certs/me.crt"}}
                ],
                "contexts": [{"name": context, "context": entry}],
                "current-context": context,
            }
        )
    )
    return path


def pod(tmp_path: Path, *, token: bool = True, namespace: str = "pf-system") -> dict[str, str]:
    """A pod's service-account mount in ``tmp_path/sa`` and its environment."""
    mount = tmp_path / "sa"
    mount.mkdir(exist_ok=True)
    (mount / "ca.crt").write_text("CA")
    (mount / "namespace").write_text(namespace)
    if token:
        (mount / "token").write_text("operator-token")
    return {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}


def read(path: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(Path(path).read_text())
    return loaded


# --- finding the server's own credentials, in kubectl's order ------------------------------


def test_kubectl_order_flag_then_kubeconfig_variable_then_home_then_pod(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".kube").mkdir(parents=True)
    kubeconfig(home / ".kube" / "config")
    environ = {"HOME": str(home), **pod(tmp_path)}
    mount = tmp_path / "sa"

    def found(environ: dict[str, str], flag: str | None = None) -> object:
        credentials = KubeCredentials.discover(environ, kubeconfig=flag, service_account_dir=mount)
        return credentials.default or credentials.in_cluster

    assert found({**environ, "KUBECONFIG": "/a:/b"}, "/flag") == "/flag"
    assert found({**environ, "KUBECONFIG": "/a:/b"}) == "/a:/b"
    assert found(environ) == home / ".kube" / "config"
    in_cluster = found({**environ, "HOME": str(tmp_path / "nowhere")})
    assert in_cluster == InCluster(
        host="10.96.0.1",
        port="443",
        token_file=mount / "token",
        ca_file=mount / "ca.crt",
        namespace="pf-system",
    )
    assert found({}) is None


def test_without_any_credentials_kubectl_does_not_run(tmp_path: Path) -> None:
    credentials = KubeCredentials.discover({}, service_account_dir=tmp_path)
    with pytest.raises(MissingCredentials, match="no Kubernetes credentials"):
        credentials.agent_environment(step="investigate", service_account=None)
    with pytest.raises(MissingCredentials, match="no Kubernetes credentials to act as it"):
        credentials.agent_environment(step="investigate", service_account="punchingfist-agent")


def test_a_pod_without_a_token_has_a_connection_but_no_credentials(tmp_path: Path) -> None:
    environ = pod(tmp_path, token=False)
    credentials = KubeCredentials.discover(environ, service_account_dir=tmp_path / "sa")
    with pytest.raises(MissingCredentials):
        credentials.agent_environment(step="investigate", service_account=None)
    env = credentials.cli_environment(service_account=None)
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    assert read(env["KUBECONFIG"])["users"] == [ANONYMOUS_USER]


# --- steps without an account ---------------------------------------------------------------


def test_agent_steps_use_the_servers_kubeconfig_as_given(tmp_path: Path) -> None:
    credentials = KubeCredentials(default=f"{tmp_path}/a:{tmp_path}/b")
    env = credentials.agent_environment(step="s", service_account=None)
    assert env == {"KUBECONFIG": f"{tmp_path}/a:{tmp_path}/b"}
    # ... and a kubeconfig the runtime set for the call wins over everything.
    given = credentials.agent_environment(step="s", service_account="x", kubeconfig="/etc/pf/k")
    assert given == {"KUBECONFIG": "/etc/pf/k"}


def test_in_a_pod_agent_steps_use_its_token_file_and_ca(tmp_path: Path) -> None:
    environ = pod(tmp_path)
    credentials = KubeCredentials.discover(environ, service_account_dir=tmp_path / "sa")
    env = credentials.agent_environment(step="s", service_account=None)
    config = read(env["KUBECONFIG"])
    assert config["clusters"][0]["cluster"] == {
        "server": "https://10.96.0.1:443",
        "certificate-authority": str(tmp_path / "sa" / "ca.crt"),
    }
    # The file, not its content: kubectl re-reads a rotated (projected) token.
    assert config["users"][0]["user"] == {"tokenFile": str(tmp_path / "sa" / "token")}


def test_ipv6_service_host_is_bracketed(tmp_path: Path) -> None:
    environ = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}
    credentials = KubeCredentials.discover(environ, service_account_dir=tmp_path)
    env = credentials.cli_environment(service_account=None)
    assert read(env["KUBECONFIG"])["clusters"][0]["cluster"]["server"] == "https://[fd00::1]:443"


def test_cli_steps_without_an_account_get_the_connection_but_no_credentials(
    tmp_path: Path,
) -> None:
    environ = pod(tmp_path)
    credentials = KubeCredentials.discover(
        environ, service_account_dir=tmp_path / "sa", agent_service_account="punchingfist-agent"
    )
    env = credentials.cli_environment(service_account=None)
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    assert env["KUBERNETES_SERVICE_PORT"] == "443"
    config = read(env["KUBECONFIG"])
    assert config["users"] == [ANONYMOUS_USER]
    assert "operator-token" not in Path(env["KUBECONFIG"]).read_text()
    # Outside a pod nothing is added: kubectl finds what the inherited environment holds.
    assert KubeCredentials(default=tmp_path / "k").cli_environment(service_account=None) == {}


# --- steps with an account: impersonation ----------------------------------------------------


def test_a_steps_account_is_the_servers_credentials_acting_as_it(tmp_path: Path) -> None:
    environ = pod(tmp_path)
    credentials = KubeCredentials.discover(environ, service_account_dir=tmp_path / "sa")
    for env in (
        credentials.agent_environment(step="s", service_account="punchingfist-remediator"),
        credentials.cli_environment(service_account="punchingfist-remediator"),
    ):
        user = read(env["KUBECONFIG"])["users"][0]["user"]
        assert user == {
            "tokenFile": str(tmp_path / "sa" / "token"),
            "as": OPERATOR.format("punchingfist-remediator"),
        }
    path = Path(env["KUBECONFIG"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    credentials.remove_files()
    assert not path.parent.exists()


def test_agent_steps_without_an_account_use_the_agents_default(tmp_path: Path) -> None:
    credentials = KubeCredentials.discover(
        pod(tmp_path), service_account_dir=tmp_path / "sa", agent_service_account="pf-agent"
    )
    env = credentials.agent_environment(step="s", service_account=None)
    assert read(env["KUBECONFIG"])["users"][0]["user"]["as"] == OPERATOR.format("pf-agent")
    named = credentials.agent_environment(step="s", service_account="pf-other")
    assert read(named["KUBECONFIG"])["users"][0]["user"]["as"] == OPERATOR.format("pf-other")


def test_impersonation_keeps_a_kubeconfigs_context_and_makes_its_paths_absolute(
    tmp_path: Path,
) -> None:
    (tmp_path / "conf").mkdir()
    first = kubeconfig(
        tmp_path / "conf" / "first",
        namespace="team-a",
        user={"client-certificate": "certs/me.crt", "client-key": "me.key", "as": "someone"},
    )
    second = kubeconfig(tmp_path / "second", context="other", server="https://elsewhere:1")
    credentials = KubeCredentials(default=f"{first}:{second}")
    env = credentials.agent_environment(step="s", service_account="investigator")
    config = read(env["KUBECONFIG"])
    assert config["clusters"][0]["cluster"] == {
        "server": "https://k8s.example:6443",
        "certificate-authority": str(tmp_path / "conf" / "ca.crt"),
    }
    assert config["users"][0]["user"] == {
        "client-certificate": str(tmp_path / "conf" / "certs" / "me.crt"),
        "client-key": str(tmp_path / "conf" / "me.key"),
        "as": "system:serviceaccount:team-a:investigator",  # the context's namespace
    }
    explicit = KubeCredentials(default=first, namespace="pf-system")
    user = read(explicit.agent_environment(step="s", service_account="x")["KUBECONFIG"])
    assert user["users"][0]["user"]["as"] == "system:serviceaccount:pf-system:x"


def test_kubectl_reads_the_written_kubeconfig(tmp_path: Path) -> None:
    credentials = KubeCredentials.discover(pod(tmp_path), service_account_dir=tmp_path / "sa")
    env = credentials.agent_environment(step="s", service_account="punchingfist-agent")
    done = subprocess.run(
        ["kubectl", "config", "view", "--minify", "-o", "json"],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    view = json.loads(done.stdout)
    assert view["users"][0]["user"]["as"] == OPERATOR.format("punchingfist-agent")
    assert view["clusters"][0]["cluster"]["server"] == "https://10.96.0.1:443"


@pytest.mark.parametrize("problem", ["no-context", "unknown-cluster", "not-yaml"])
def test_a_broken_kubeconfig_is_named_in_the_error(tmp_path: Path, problem: str) -> None:
    path = kubeconfig(tmp_path / "config")
    config = read(str(path))
    if problem == "no-context":
        config.pop("current-context")
        path.write_text(yaml.safe_dump(config))
    elif problem == "unknown-cluster":
        config["contexts"][0]["context"]["cluster"] = "gone"
        path.write_text(yaml.safe_dump(config))
    else:
        path.write_text("clusters: [")
    with pytest.raises(MissingCredentials, match=str(path)):
        KubeCredentials(default=path).agent_environment(step="s", service_account="x")


# --- a folder of kubeconfigs instead of impersonation ----------------------------------------


def test_a_kubeconfig_folder_maps_each_account_to_its_file(tmp_path: Path) -> None:
    (tmp_path / "punchingfist-investigator.kubeconfig").write_text("{}")
    credentials = KubeCredentials(directory=tmp_path, default=tmp_path / "operator.kubeconfig")
    env = credentials.agent_environment(step="s", service_account="punchingfist-investigator")
    assert env == {"KUBECONFIG": str(tmp_path / "punchingfist-investigator.kubeconfig")}
    assert credentials.cli_environment(service_account="punchingfist-investigator") == env
    assert credentials.agent_environment(step="s", service_account=None) == {
        "KUBECONFIG": str(tmp_path / "operator.kubeconfig")
    }


@pytest.mark.parametrize("account", ["punchingfist-remediator", "../etc/passwd", "A_B"])
def test_unknown_or_invalid_accounts_never_fall_back(tmp_path: Path, account: str) -> None:
    credentials = KubeCredentials(directory=tmp_path, default=tmp_path / "operator.kubeconfig")
    with pytest.raises(MissingCredentials, match=account.replace(".", r"\.")):
        credentials.agent_environment(step="s", service_account=account)
    with pytest.raises(MissingCredentials):
        credentials.cli_environment(service_account=account)
