"""The kubectl safety policy: what the agent may run alone, what needs a person, what never runs.

Table tests pin the spellings models really write; property tests build commands from random
flag spellings and orders, because a policy that reads argv differently from kubectl is
bypassed by exactly the spelling nobody thought to test.
"""

from __future__ import annotations

import shlex
from random import Random

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from punching_fist.agent.tools.kubectl_argv import KUBECTL, parse_command_line
from punching_fist.agent.tools.kubectl_policy import (
    KubectlDecision,
    classify_kubectl,
    kubectl_argv,
)
from punching_fist.errors import CommandRejected

ALLOW, APPROVAL, REFUSE = "allow", "approval", "refuse"


@pytest.mark.parametrize(
    ("command", "kind", "verb"),
    [
        # plain reads
        ("get pods -n prod -o wide", ALLOW, "get"),
        ("kubectl describe pod x", ALLOW, "describe"),
        ("logs -f web-0 -c app --tail=50", ALLOW, "logs"),
        ("top pods -A --sort-by=cpu", ALLOW, "top pod"),
        ("top no", ALLOW, "top node"),
        ("events --for pod/web-0 --types=Warning", ALLOW, "events"),
        ("explain deployment.spec --recursive", ALLOW, "explain"),
        ("api-resources --namespaced=true -o wide", ALLOW, "api-resources"),
        ("version --client -o json", ALLOW, "version"),
        ("cluster-info", ALLOW, "cluster-info"),
        ("cluster-info dump -A", ALLOW, "cluster-info dump"),
        ("auth can-i delete pods", ALLOW, "auth can-i"),
        ("auth can-i get secrets -n prod", ALLOW, "auth can-i"),
        ("auth whoami -o yaml", ALLOW, "auth whoami"),
        ("rollout status deploy/web -w --timeout=60s", ALLOW, "rollout status"),
        ("rollout history deploy/web --revision=2 -o yaml", ALLOW, "rollout history"),
        ("wait --for=condition=Ready pod/web-0 --timeout=30s", ALLOW, "wait"),
        ("config view", ALLOW, "config view"),
        ("config current-context", ALLOW, "config current-context"),
        ("get pods -o jsonpath='{.items[*].metadata.name}'", ALLOW, "get"),
        ("get all -o yaml", ALLOW, "get"),  # `all` never includes Secrets
        ("get --raw /metrics", ALLOW, "get"),  # --raw only ever sends GET
        # global flags before the verb, in every spelling
        ("-n prod get pods", ALLOW, "get"),
        ("-nprod get pods", ALLOW, "get"),
        ("-n=prod get pods", ALLOW, "get"),
        ("--namespace prod --request-timeout=5s -v 4 get pods", ALLOW, "get"),
        ("--match-server-version get pods", ALLOW, "get"),
        ("rollout -n prod status deploy/web", ALLOW, "rollout status"),
        # combined short flags
        ("get pods -wA", ALLOW, "get"),
        ("get pods -Aw -o wide", ALLOW, "get"),
        ("get pods -Aowide", ALLOW, "get"),
        # `--` ends the flags: a write verb after it is just a name
        ("get pods -- delete", ALLOW, "get"),
        ("logs web-0 -- --token=x", ALLOW, "logs"),
        # writes and access need a person
        ("-n prod delete pod x", APPROVAL, "delete"),
        ("--namespace=prod scale deploy x --replicas=0", APPROVAL, "scale"),
        ("rollout restart deploy/x", APPROVAL, "rollout restart"),
        ("rollout undo deploy/x --to-revision=2", APPROVAL, "rollout undo"),
        ("delete pod x --dry-run=client", APPROVAL, "delete"),
        ("patch deploy x -p '{\"spec\":{}}'", APPROVAL, "patch"),
        ("exec -it web-0 -- sh -c 'ls /'", APPROVAL, "exec"),
        ("port-forward svc/web 8080:80", APPROVAL, "port-forward"),
        ("auth reconcile -f rbac.yaml", APPROVAL, "auth reconcile"),
        ("certificate approve csr-1", APPROVAL, "certificate approve"),
        ("config use ops", APPROVAL, "config use-context"),
        ("config set-context --current --namespace=x", APPROVAL, "config set-context"),
        ("diff -f deploy.yaml", APPROVAL, "diff"),
        ("kustomize ./overlay", APPROVAL, "kustomize"),
        ("plugin list", APPROVAL, "plugin"),
        ("neat get pod x", APPROVAL, "neat"),  # a plugin
        ("GET pods", APPROVAL, "GET"),  # cobra commands are case-sensitive
        ("rollout", APPROVAL, "rollout"),
        ("top", APPROVAL, "top"),
        # reads the policy cannot fully see into
        # a read with a flag kubectl lacks: kubectl's own error, never a person
        ("get pods --not-a-flag", REFUSE, "get"),
        ("get pod default/web-0 -n default --events", REFUSE, "get"),
        ("get -f pods.yaml", APPROVAL, "get"),
        ("get --raw /api/v1/namespaces/x/services/web:80/proxy/admin", APPROVAL, "get"),
        # credentials and impersonation
        ("--context=x get pods", REFUSE, "get"),
        ("get pods --as=system:admin", REFUSE, "get"),
        ("get pods --as_group=system:masters", REFUSE, "get"),  # kubectl reads _ as -
        ("-s https://evil get pods", REFUSE, "get"),
        ("get pods -shttps://evil", REFUSE, "get"),
        ("delete pod x --token abc", REFUSE, "delete"),
        ("--kubeconfig /tmp/k get pods", REFUSE, "get"),
        ("get pods --insecure-skip-tls-verify", REFUSE, "get"),
        ("neat --user=admin", REFUSE, "neat"),
        ("get pods -l --token=x", REFUSE, "get"),  # refused even as another flag's value
        ("logs web-0 --insecure-skip-tls-verify-backend", REFUSE, "logs"),
        # files on the operator's host
        ("get pods --profile=cpu --profile-output=/etc/x", REFUSE, "get"),
        ("--cache-dir=/tmp/c get pods", REFUSE, "get"),
        ("cluster-info dump --output-directory=/tmp/d", REFUSE, "cluster-info dump"),
        # Secret values
        ("kubectl get secret x -o jsonpath='{.data.password}'", REFUSE, "get"),
        ("get secrets -oyaml", REFUSE, "get"),
        ("get secret/x --output=json", REFUSE, "get"),
        ("get Secret x -o yaml", REFUSE, "get"),
        ("get secrets.v1. x -o json", REFUSE, "get"),
        ("get pods,secrets -o yaml", REFUSE, "get"),
        ("get secrets -Ao yaml", REFUSE, "get"),
        ("get secrets -Aoyaml", REFUSE, "get"),
        ("get secrets -o custom-columns=N:.metadata.name", REFUSE, "get"),
        ("get secrets --template={{.type}}", REFUSE, "get"),
        ("get -o yaml -- secrets", REFUSE, "get"),
        ("get configmap c -o go-template='{{.data}}'", REFUSE, "get"),
        ("get cm -o jsonpath=\"{.items[*]['data']}\"", REFUSE, "get"),
        ("get x -o jsonpath={.stringData}", REFUSE, "get"),
        ("get secrets --sort-by=.data.password", REFUSE, "get"),
        ("wait secret/x --for=create -o yaml", REFUSE, "wait"),
        ("wait secret/x --for=jsonpath={.data.password}=hunter2", REFUSE, "wait"),
        ("get --raw /api/v1/namespaces/x/secrets", REFUSE, "get"),
        ("get --raw=/api/v1/namespaces/x/%73ecrets/y", REFUSE, "get"),
        ("get -f objects.yaml -o yaml", REFUSE, "get"),
        ("set env deploy/x --from=secret/db -o yaml --dry-run=client", REFUSE, "set"),
        ("config view --raw", REFUSE, "config view"),
        ("config view --minify --raw=false", REFUSE, "config view"),
        # what kubectl itself reads as metadata, not data
        ("get secrets", ALLOW, "get"),
        ("get secrets -o name", ALLOW, "get"),
        ("get secret x -o wide --show-labels", ALLOW, "get"),
        ("describe secret x", ALLOW, "describe"),  # describe prints sizes, never values
        ("explain secrets -o plaintext-openapiv2", ALLOW, "explain"),
        ("events --for secret/x -o yaml", ALLOW, "events"),
        ("get cm -o jsonpath={.items[*].metadata.name}", ALLOW, "get"),
        # unreadable
        ("", REFUSE, ""),
        ("kubectl", REFUSE, ""),
        ("get pods -o 'yaml", REFUSE, ""),
        ("get pods | grep web", REFUSE, ""),
        ("get pods && delete pod x", REFUSE, ""),
        ("get pods > out.txt", REFUSE, ""),
        ("-- delete pod x", REFUSE, ""),
        ("-A get pods", REFUSE, ""),  # cobra would take `get` as -A's value
        ("-o yaml get secret x", REFUSE, ""),
        ("rollout -w status deploy/x", REFUSE, ""),
        ("get pods -o", REFUSE, ""),
        ("get pods ---x", REFUSE, ""),
    ],
)
def test_classification(command: str, kind: str, verb: str) -> None:
    decision = classify_kubectl(command)
    assert (decision.kind, decision.verb) == (kind, verb), decision.reason


def test_semicolon_glued_to_a_word_stays_in_that_word() -> None:
    # shlex does not split on `;`, and no shell runs, so this is `get` of a pod named `pods;`.
    assert classify_kubectl("get pods; delete pod x").kind == ALLOW
    assert classify_kubectl("get pods ; delete pod x").kind == REFUSE


@pytest.mark.parametrize(
    ("command", "reason_part"),
    [
        ("get pods | head", "pipes and redirections are not supported; run one kubectl command"),
        ("get pods --as=admin", "credential and impersonation flags are not allowed"),
        ("get 'pods", "quotes are balanced"),
        ("-A get pods", "put -A after it"),
        ("get secrets -o yaml", "describe secret NAME"),
        ("delete pod x", "a person must approve it"),
    ],
)
def test_reasons_tell_the_model_what_to_do(command: str, reason_part: str) -> None:
    assert reason_part in classify_kubectl(command).reason


class TestWorkflowRequireApproval:
    def test_listed_read_verb_needs_approval(self) -> None:
        decision = classify_kubectl("get pods", require_approval_for=["delete", "get"])
        assert decision.kind == APPROVAL
        assert "workflow requires approval for `get`" in decision.reason

    def test_subcommand_path_and_parent_both_match(self) -> None:
        status = "rollout status deploy/x"
        assert classify_kubectl(status, require_approval_for=["rollout"]).kind == APPROVAL
        assert classify_kubectl(status, require_approval_for=["Rollout  Status"]).kind == APPROVAL
        assert classify_kubectl(status, require_approval_for=["rollout history"]).kind == ALLOW

    def test_refusal_still_wins(self) -> None:
        decision = classify_kubectl("get secrets -o yaml", require_approval_for=["get"])
        assert decision.kind == REFUSE


class TestKubectlArgv:
    def test_allowed_argv_is_the_command_without_kubectl(self) -> None:
        decision = classify_kubectl("kubectl get pods -o 'jsonpath={.items[*].metadata.name}'")
        assert kubectl_argv(decision) == ["get", "pods", "-o", "jsonpath={.items[*].metadata.name}"]

    def test_refusal_raises(self) -> None:
        with pytest.raises(CommandRejected, match="credential"):
            kubectl_argv(classify_kubectl("get pods --token=x"))

    def test_approval_needs_the_approved_flag(self) -> None:
        decision = classify_kubectl("delete pod x")
        with pytest.raises(CommandRejected, match="approval"):
            kubectl_argv(decision)
        assert kubectl_argv(decision, approved=True) == ["delete", "pod", "x"]

    def test_decision_is_a_frozen_value(self) -> None:
        decision = classify_kubectl("get pods")
        assert decision == KubectlDecision("allow", "get", decision.reason, ("get", "pods"))
        with pytest.raises(AttributeError):
            decision.kind = "refuse"  # type: ignore[misc]


class TestReadingArgv:
    """The command line as kubectl's cobra and pflag read it."""

    def test_value_flags_take_the_next_word_even_if_it_looks_like_a_flag(self) -> None:
        line = parse_command_line(["get", "pods", "-l", "-o", "name"])
        assert line.values("selector") == ("-o",)
        assert line.args == ("pods", "name")

    def test_group_of_short_flags_ends_with_the_one_taking_a_value(self) -> None:
        for argv in (["get", "-Ao", "yaml"], ["get", "-Aoyaml"], ["get", "-Ao=yaml"]):
            line = parse_command_line(argv)
            assert line.has("all-namespaces")
            assert line.values("output") == ("yaml",)

    def test_lone_dash_is_an_argument(self) -> None:
        assert parse_command_line(["get", "-"]).args == ("-",)

    def test_aliases_resolve_to_the_canonical_path(self) -> None:
        assert parse_command_line(["top", "po"]).path == ("top", "pod")
        assert parse_command_line(["config", "use", "x"]).path == ("config", "use-context")


# --- property tests -------------------------------------------------------------------------

_READ_VERBS = {"get", "describe", "logs", "events", "explain", "api-resources", "api-versions"}
names = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True).filter(
    lambda s: "secret" not in s and s not in KUBECTL.subcommands
)


def _spellings(short: str | None, long: str, value: str | None) -> list[list[str]]:
    """Every way kubectl accepts one flag: long/short, joined/separate, `_` for `-`."""
    if value is None:
        forms = [[f"--{long}"], [f"--{long}=true"]]
        return [*forms, [f"--{long.replace('-', '_')}"]] if "-" in long else forms
    forms = [[f"--{long}", value], [f"--{long}={value}"], [f"--{long.replace('-', '_')}={value}"]]
    if short:
        forms += [[f"-{short}", value], [f"-{short}{value}"], [f"-{short}={value}"]]
    return forms


def _flag(
    short: str | None, long: str, value: st.SearchStrategy[str] | None
) -> st.SearchStrategy[list[str]]:
    if value is None:
        return st.sampled_from(_spellings(short, long, None))
    return value.flatmap(lambda v: st.sampled_from(_spellings(short, long, v)))


harmless_globals = st.one_of(
    _flag("n", "namespace", names),
    _flag(None, "request-timeout", st.sampled_from(["5s", "1m", "0"])),
    _flag("v", "v", st.sampled_from(["0", "4", "9"])),
    _flag(None, "vmodule", st.just("reflector=2")),
    _flag(None, "log-flush-frequency", st.just("5s")),
    _flag(None, "match-server-version", None),
    _flag(None, "warnings-as-errors", None),
    _flag(None, "disable-compression", None),
)
refused_globals = st.one_of(
    *(
        _flag(short, long, st.sampled_from(["x", "admin", "https://evil:6443", "/tmp/k"]))
        for short, long in [
            (None, "context"), (None, "kubeconfig"), (None, "cluster"), (None, "user"),
            (None, "as"), (None, "as-group"), (None, "as-uid"), ("s", "server"),
            (None, "token"), (None, "username"), (None, "password"), (None, "client-key"),
            (None, "client-certificate"), (None, "certificate-authority"),
            (None, "tls-server-name"), (None, "cache-dir"), (None, "profile-output"),
        ]
    ),
    _flag(None, "insecure-skip-tls-verify", None),
)  # fmt: skip
any_globals = st.one_of(harmless_globals, refused_globals)


def _flat(groups: list[list[str]]) -> list[str]:
    return [word for group in groups for word in group]


def _path_with_globals(
    path: list[str], globals_: st.SearchStrategy[list[str]]
) -> st.SearchStrategy[list[str]]:
    """The command path with global flags before it and between its words."""
    gaps = st.lists(
        st.lists(globals_, max_size=2).map(_flat), min_size=len(path), max_size=len(path)
    )
    return gaps.map(lambda g: [w for gap, word in zip(g, path, strict=True) for w in (*gap, word)])


WRITE_PATHS = [
    *([verb] for verb in (
        "delete", "patch", "scale", "autoscale", "apply", "create", "replace", "edit", "label",
        "annotate", "set", "cordon", "uncordon", "drain", "taint", "exec", "attach", "cp",
        "debug", "port-forward", "proxy", "run", "expose", "diff", "kustomize", "plugin",
        "alpha", "completion",
    )),
    *(["rollout", sub] for sub in ("restart", "undo", "pause", "resume")),
    ["auth", "reconcile"], ["certificate", "approve"], ["certificate", "deny"],
    *(["config", sub] for sub in ("set-context", "use-context", "use", "delete-context",
                                  "set-credentials", "rename-context", "set", "unset")),
]  # fmt: skip
write_paths = st.one_of(
    st.sampled_from(WRITE_PATHS),
    names.map(lambda n: [n]),  # plugins and typos
    st.sampled_from(["Get", "DESCRIBE", "gets", "logs2", "view-secret"]).map(lambda n: [n]),
)
write_args = st.one_of(
    names.map(lambda n: [n]),
    any_globals,
    st.sampled_from([
        ["--force"], ["-it"], ["--replicas=0"], ["--replicas", "0"], ["-o", "yaml"], ["-oname"],
        ["--dry-run=client"], ["--grace-period", "0"], ["-f", "-"], ["--all"], ["-l", "app=x"],
        ["-p", '{"spec":{}}'], ["--type=merge"], ["--overwrite"], ["--local"],
        ["--", "sh", "-c", "get pods"], ["--", "get"],
    ]),
)  # fmt: skip


@st.composite
def write_commands(draw: st.DrawFn) -> list[str]:
    head = draw(write_paths.flatmap(lambda p: _path_with_globals(p, any_globals)))
    return head + _flat(draw(st.lists(write_args, max_size=8)))


@settings(max_examples=400)
@given(write_commands(), st.lists(st.sampled_from(["delete", "patch", "get", "scale"])))
@example(["-n", "prod", "delete", "pod", "x"], [])
@example(["rollout", "-n", "x", "restart", "--", "status"], [])
def test_write_commands_are_never_allowed(argv: list[str], required: list[str]) -> None:
    decision = classify_kubectl(shlex.join(argv), require_approval_for=required)
    assert decision.kind != ALLOW, decision


# Read-only command paths with local flags in harmless spellings and the arguments they take.
_pod_types = st.sampled_from(["pods", "po", "deploy", "svc,pods", "deployment.apps", "all"])
_resources = st.one_of(
    _pod_types.map(lambda t: [t]),
    st.tuples(_pod_types, names).map(list),
    names.map(lambda n: [f"pod/{n}"]),
)
_selector = st.sampled_from([["-l", "app=web"], ["--selector=app=web"], ["-lapp=web"]])
_printing = st.sampled_from(
    [["-o", "yaml"], ["-ojson"], ["--output=wide"], ["-o=name"], ["--output", "yaml"],
     ["-o", "jsonpath={.items[*].metadata.name}"], ["--template={{.kind}}", "-o", "go-template"]]
)  # fmt: skip
READS: dict[str, tuple[st.SearchStrategy[list[str]], ...]] = {
    "get": (_resources, _printing, _selector, st.sampled_from(
        [["-A"], ["-w"], ["-wA"], ["-Aw"], ["--watch"], ["--show-labels"], ["--no-headers"],
         ["-L", "app"], ["--chunk-size=50"], ["--sort-by=.metadata.name"], ["-Ao", "wide"],
         ["--field-selector", "status.phase=Running"], ["--ignore-not-found"]])),
    "describe": (_resources, _selector, st.sampled_from(
        [["-A"], ["--show-events=false"], ["secret"], ["secrets", "db"]])),
    "logs": (names.map(lambda n: [n]), _selector, st.sampled_from(
        [["-f"], ["--follow"], ["-c", "app"], ["-capp"], ["--tail=20"], ["--since", "5m"],
         ["-p"], ["-fp"], ["--timestamps"], ["--all-containers"], ["--prefix"]])),
    "events": (_printing, st.sampled_from(
        [["-A"], ["--for", "pod/web-0"], ["--types=Warning"], ["-w"], ["--no-headers"]])),
    "top pod": (names.map(lambda n: [n]), _selector, st.sampled_from(
        [["-A"], ["--containers"], ["--sort-by=cpu"], ["--sum"], ["--no-headers"]])),
    "top node": (names.map(lambda n: [n]), _selector, st.sampled_from(
        [["--sort-by=memory"], ["--show-capacity"], ["--no-headers"]])),
    "rollout status": (_resources, st.sampled_from(
        [["-w"], ["--watch=false"], ["--timeout=60s"], ["--revision", "2"]])),
    "rollout history": (_resources, _printing, st.sampled_from([["--revision=2"]])),
    "auth can-i": (st.sampled_from(
        [["delete", "pods"], ["create", "deployments"], ["get", "secrets"], ["--list"], ["-A"],
         ["-q"], ["--subresource=log"]]),),
    "wait": (_resources, _selector, _printing, st.sampled_from(
        [["--for=condition=Ready"], ["--for", "delete"], ["--timeout=30s"], ["--all"], ["-A"]])),
    "explain": (st.sampled_from(
        [["pods.spec"], ["secrets"], ["--recursive"], ["--api-version=apps/v1"], ["-o", "plaintext"]]),),
    "api-resources": (st.sampled_from(
        [["--namespaced=true"], ["--verbs=list"], ["-o", "wide"], ["--api-group=apps"], ["--cached"]]),),
    "api-versions": (st.nothing(),),
    "version": (st.sampled_from([["--client"], ["-o", "json"], ["--output=yaml"]]),),
    "cluster-info": (st.nothing(),),
    "cluster-info dump": (st.sampled_from(
        [["-A"], ["--namespaces=a,b"], ["-o", "yaml"], ["--pod-running-timeout=5s"]]),),
    "config view": (st.sampled_from([["--minify"], ["--flatten"], ["-o", "json"], ["--merge"]]),),
    "config get-contexts": (st.sampled_from([["-o", "name"], ["--no-headers"]]),),
    "config current-context": (st.nothing(),),
}  # fmt: skip


@st.composite
def read_commands(draw: st.DrawFn, path: str | None = None) -> list[str]:
    path = path or draw(st.sampled_from(sorted(READS)))
    head = draw(_path_with_globals(path.split(), harmless_globals))
    local = st.one_of(harmless_globals, *READS[path])
    argv = head + _flat(draw(st.lists(local, max_size=6)))
    if path in {"get", "describe"} and draw(st.booleans()):
        # After `--` every word is a name, however much it looks like a verb or a flag.
        argv += ["--", *draw(st.sampled_from([["delete"], ["--token=x"], ["-o", "yaml"]]))]
    return argv


@settings(max_examples=400)
@given(read_commands())
@example(["-n", "prod", "rollout", "--namespace=prod", "status", "deploy/web"])
def test_read_commands_with_harmless_flags_are_allowed(argv: list[str]) -> None:
    decision = classify_kubectl(shlex.join(argv))
    assert decision.kind == ALLOW, decision
    assert kubectl_argv(decision) == argv


@given(read_commands())
def test_workflow_can_require_approval_for_any_read(argv: list[str]) -> None:
    verb = classify_kubectl(shlex.join(argv)).verb
    decision = classify_kubectl(shlex.join(argv), require_approval_for=[verb.split()[0]])
    assert decision.kind == APPROVAL


@given(st.one_of(read_commands(), write_commands()), st.data())
def test_global_flags_mean_the_same_before_and_after_the_verb(
    argv: list[str], data: st.DataObject
) -> None:
    flag = data.draw(any_globals)
    before = classify_kubectl(shlex.join([*flag, *argv]))
    after = classify_kubectl(shlex.join([*argv, *flag]))
    # Appending may hide a flag after `--`; only compare when both readings see the flag.
    if "--" not in argv:
        assert before.kind == after.kind, (before, after)


@settings(max_examples=300)
@given(st.one_of(read_commands(), write_commands()), refused_globals, st.booleans())
def test_credential_and_host_file_flags_are_refused_before_or_after_the_verb(
    argv: list[str], flag: list[str], first: bool
) -> None:
    end = argv.index("--") if "--" in argv else len(argv)
    at = 0 if first else end
    decision = classify_kubectl(shlex.join([*argv[:at], *flag, *argv[at:]]))
    assert decision.kind == REFUSE, decision


_secret_types = st.sampled_from(
    ["secret", "secrets", "Secret", "SECRETS", "secrets.v1.", "secret.v1", "Secrets.v1"]
)
_secret_args = st.one_of(
    _secret_types.map(lambda t: [t]),
    st.tuples(_secret_types, names).map(list),
    st.tuples(_secret_types, names).map(lambda t: [f"{t[0]}/{t[1]}"]),
    _secret_types.map(lambda t: [f"pods,{t}"]),
    _secret_types.map(lambda t: [f"{t},configmaps"]),
)
_revealing_output = st.sampled_from(
    [["-o", "yaml"], ["-oyaml"], ["-o=json"], ["--output", "yaml"], ["--output=json"],
     ["-Ao", "yaml"], ["-Aoyaml"], ["-wAojson"], ["-Ao=yaml"], ["--output", "jsonpath={..password}"],
     ["-o", "jsonpath={.data.password}"], ["-o", "go-template={{.data.token}}"],
     ["-o", "custom-columns=K:.metadata.name"], ["--template={{.type}}"],
     ["--output=go-template", "--template", "{{.type}}"], ["-o", "template", "--template={{.}}"],
     ["-o=go-template-file=/tmp/t"]]
)  # fmt: skip


@settings(max_examples=400)
@given(
    st.sampled_from(["get", "wait"]),
    _secret_args,
    _revealing_output,
    st.lists(st.one_of(harmless_globals, st.sampled_from([["-A"], ["-w"], ["--show-labels"]]))),
    st.randoms(use_true_random=False),
    st.booleans(),
)
def test_printing_secret_values_is_refused(
    verb: str,
    resource: list[str],
    output: list[str],
    extra: list[list[str]],
    random: Random,
    after_separator: bool,
) -> None:
    groups = [output, *([] if after_separator else [resource]), *extra]
    random.shuffle(groups)
    argv = [verb, *_flat(groups), *(["--", *resource] if after_separator else [])]
    decision = classify_kubectl(shlex.join(argv))
    assert decision.kind == REFUSE, decision


@settings(max_examples=300)
@given(st.text())
@example("get pods 'unclosed")
@example("kubectl \\")
@example("-")
@example("--")
def test_arbitrary_text_never_raises(text: str) -> None:
    decision = classify_kubectl(text)
    assert decision.kind in {ALLOW, APPROVAL, REFUSE}
    try:
        shlex.split(text)
    except ValueError:
        assert decision.kind == REFUSE


@settings(max_examples=300)
@given(st.lists(st.text(min_size=1), min_size=1, max_size=8))
def test_argv_is_exactly_what_the_model_wrote(words: list[str]) -> None:
    decision = classify_kubectl(shlex.join(words))
    if decision.kind != REFUSE:
        expected = words[1:] if words[0] == "kubectl" else words
        assert kubectl_argv(decision, approved=True) == expected
