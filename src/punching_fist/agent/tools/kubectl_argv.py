"""Read a kubectl argv the way kubectl does: the command path, the flags, the arguments.

The safety policy is only as good as its reading of the command. If it took a word for a
resource name while kubectl took it for the verb, a harmless-looking command could delete
things. So this module follows kubectl's two parsers rather than guessing:

* cobra finds the command path (``rollout restart``). While looking, it knows only the
  global flags and assumes any other flag takes the next word as its value, so an unknown
  flag before the verb moves the verb. We accept only global flags there and reject
  anything else, so the path we find is always cobra's.
* pflag reads the flags after the path, anywhere among the arguments: ``--flag value``,
  ``--flag=value``, ``-fvalue``, ``-f value``, ``-f=value``, and groups of short flags
  (``-wA``) in which a flag that needs a value takes the rest of the group or the next word
  (``-Ao yaml``, ``-Aoyaml``). ``--`` ends the flags. Long names have ``_`` read as ``-``
  (kubectl's normaliser makes ``--as_group`` mean ``--as-group``).

Only the commands the policy may allow have their local flags listed in full. Any other
command is *opaque*: we still read the global flags and ``-o``/``--template`` (the policy
needs them), and take every other flag to be a boolean, which is good enough for commands
that need a person's approval anyway.

Parse failures raise ``CommandRejected``; the policy turns them into a refusal.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from punching_fist.errors import CommandRejected


@dataclass(frozen=True)
class FlagSpec:
    """One flag kubectl knows: long name, optional shorthand, whether it takes a value."""

    name: str
    short: str | None
    takes_value: bool


@dataclass(frozen=True)
class FlagTable:
    """The flags one command accepts, looked up by long name and by shorthand."""

    long: Mapping[str, FlagSpec]
    short: Mapping[str, FlagSpec]

    @classmethod
    def of(cls, *specs: str) -> FlagTable:
        """Build a table from ``"-o --output="`` specs; a trailing ``=`` means 'takes a value'."""
        flags = []
        for spec in specs:
            *shorts, long = spec.split()
            name = long.removeprefix("--").removesuffix("=")
            flags.append(FlagSpec(name, shorts[0][1:] if shorts else None, long.endswith("=")))
        return cls._from(flags)

    @classmethod
    def _from(cls, flags: Iterable[FlagSpec]) -> FlagTable:
        flags = list(flags)
        return cls(
            long={f.name: f for f in flags},
            short={f.short: f for f in flags if f.short is not None},
        )

    def __add__(self, other: FlagTable) -> FlagTable:
        return FlagTable._from([*self.long.values(), *other.long.values()])


@dataclass(frozen=True)
class Flag:
    """One flag as given: ``name`` is the long name (or the spelled name when unknown)."""

    name: str
    value: str | None  # None: a boolean flag given without '='
    known: bool
    word: str  # the argv word it came from, for messages


@dataclass(frozen=True, kw_only=True)
class CommandLine:
    """A kubectl argv read into the command path, its flags and its arguments."""

    path: tuple[str, ...]
    """Canonical command path, e.g. ``("rollout", "status")``; unknown words are kept as given."""
    builtin: bool
    """Whether ``path`` is a complete kubectl command (False for plugins and typos)."""
    modelled: bool
    """Whether every local flag of the command is listed, so an unknown flag means a misreading."""
    flags: tuple[Flag, ...]
    args: tuple[str, ...]
    """Positional arguments after the path, including everything after ``--``."""

    def values(self, name: str) -> tuple[str, ...]:
        """Every value given for ``name``; pflag keeps the last, the policy checks them all."""
        return tuple(f.value for f in self.flags if f.name == name and f.value is not None)

    def has(self, name: str) -> bool:
        return any(f.name == name for f in self.flags)


@dataclass(frozen=True, kw_only=True)
class CommandSpec:
    """One node of kubectl's command tree, as far as the policy needs it."""

    name: str
    flags: FlagTable | None = None
    """Every local flag; None when the command is opaque (not modelled)."""
    subcommands: Mapping[str, CommandSpec] = field(default_factory=dict)
    runnable: bool = True
    """Whether the node runs without a subcommand (``cluster-info`` does, ``rollout`` does not)."""


GLOBAL_FLAGS = FlagTable.of(
    "-n --namespace=", "--context=", "--kubeconfig=", "--cluster=", "--user=", "--as=",
    "--as-group=", "--as-uid=", "-s --server=", "--token=", "--request-timeout=",
    "--cache-dir=", "--certificate-authority=", "--client-certificate=", "--client-key=",
    "--insecure-skip-tls-verify", "--tls-server-name=", "--password=", "--username=",
    "-v --v=", "--vmodule=", "--match-server-version", "--profile=", "--profile-output=",
    "--log-flush-frequency=", "--warnings-as-errors", "--disable-compression",
    # Newer or older kubectl releases; listed so their values are read, and refused.
    "--kuberc=", "--log-dir=", "--log-file=",
    "-h --help",
)  # fmt: skip
_OPAQUE_FLAGS = GLOBAL_FLAGS + FlagTable.of("-o --output=", "--template=")
_PRINTING = (
    "--allow-missing-template-keys",
    "-o --output=",
    "--show-managed-fields",
    "--template=",
)
_FROM_FILES = ("-f --filename=", "-k --kustomize=", "-R --recursive")


def _leaf(name: str, *flags: str) -> CommandSpec:
    return CommandSpec(name=name, flags=FlagTable.of(*flags))


def _group(
    name: str,
    *subs: CommandSpec,
    aliases: Mapping[str, str] | None = None,
    runnable: bool = False,
    flags: FlagTable | None = None,
) -> CommandSpec:
    index = {sub.name: sub for sub in subs}
    index.update({alias: index[target] for alias, target in (aliases or {}).items()})
    return CommandSpec(name=name, subcommands=index, runnable=runnable, flags=flags)


# Local flags as printed by `kubectl <command> --help` (v1.32).
_MODELLED = (
    _leaf("get", "-A --all-namespaces", "--chunk-size=", "--field-selector=", *_FROM_FILES,
          *_PRINTING, "--ignore-not-found", "-L --label-columns=", "--no-headers",
          "--output-watch-events", "--raw=", "-l --selector=", "--server-print", "--show-kind",
          "--show-labels", "--sort-by=", "--subresource=", "-w --watch", "--watch-only"),
    _leaf("describe", "-A --all-namespaces", "--chunk-size=", *_FROM_FILES, "-l --selector=",
          "--show-events"),
    _leaf("logs", "--all-containers", "--all-pods", "-c --container=", "-f --follow",
          "--ignore-errors", "--insecure-skip-tls-verify-backend", "--limit-bytes=",
          "--max-log-requests=", "--pod-running-timeout=", "--prefix", "-p --previous",
          "-l --selector=", "--since=", "--since-time=", "--tail=", "--timestamps"),
    _leaf("events", "-A --all-namespaces", "--chunk-size=", "--for=", "--no-headers", *_PRINTING,
          "--types=", "-w --watch"),
    _leaf("explain", "--api-version=", "-o --output=", "--recursive"),
    _leaf("api-resources", "--api-group=", "--cached", "--categories=", "--namespaced",
          "--no-headers", "-o --output=", "--sort-by=", "--verbs="),
    _leaf("api-versions"),
    _leaf("version", "--client", "-o --output="),
    _leaf("wait", "--all", "-A --all-namespaces", "--field-selector=", *_FROM_FILES, "--for=",
          "--local", *_PRINTING, "-l --selector=", "--timeout="),
    _group("cluster-info",
           _leaf("dump", "-A --all-namespaces", "--namespaces=", "--output-directory=",
                 "--pod-running-timeout=", *_PRINTING),
           runnable=True, flags=FlagTable.of()),
    _group("top",
           _leaf("pod", "-A --all-namespaces", "--containers", "--field-selector=",
                 "--no-headers", "-l --selector=", "--sort-by=", "--sum",
                 "--use-protocol-buffers"),
           _leaf("node", "--no-headers", "-l --selector=", "--show-capacity", "--sort-by=",
                 "--use-protocol-buffers"),
           aliases={"pods": "pod", "po": "pod", "nodes": "node", "no": "node"}),
    _group("rollout",
           _leaf("status", *_FROM_FILES, "--revision=", "-l --selector=", "--timeout=",
                 "-w --watch"),
           _leaf("history", *_FROM_FILES, *_PRINTING, "--revision=", "-l --selector="),
           *(CommandSpec(name=name) for name in ("pause", "restart", "resume", "undo"))),
    _group("auth",
           _leaf("can-i", "-A --all-namespaces", "--list", "--no-headers", "-q --quiet",
                 "--subresource="),
           _leaf("whoami", *_PRINTING),
           CommandSpec(name="reconcile")),
    _group("config",
           _leaf("view", "--flatten", "--merge", "--minify", "--raw", *_PRINTING),
           _leaf("get-contexts", "--no-headers", "-o --output="),
           _leaf("current-context"), _leaf("get-clusters"), _leaf("get-users"),
           *(CommandSpec(name=name) for name in (
               "delete-cluster", "delete-context", "delete-user", "rename-context", "set",
               "set-cluster", "set-context", "set-credentials", "unset", "use-context")),
           aliases={"use": "use-context"}),
    _group("certificate", CommandSpec(name="approve"), CommandSpec(name="deny")),
)  # fmt: skip
_OPAQUE_BUILTINS = (
    "alpha", "annotate", "apply", "attach", "autoscale", "completion", "cordon", "cp", "create",
    "debug", "delete", "diff", "drain", "edit", "exec", "expose", "help", "kustomize",
    "label", "options", "patch", "plugin", "port-forward", "proxy", "replace", "run", "scale",
    "set", "taint", "uncordon",
)  # fmt: skip
KUBECTL = _group(
    "kubectl",
    *(CommandSpec(name=name) for name in _OPAQUE_BUILTINS),
    *_MODELLED,
)
_UNKNOWN = CommandSpec(name="")


def split_command(command: str) -> tuple[str, ...]:
    """Split the model's one-line command into argv words, dropping a leading ``kubectl``.

    No shell ever sees the words, so quoting only groups words; ``shlex`` reads it as a POSIX
    shell would, which is what models write.
    """
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise CommandRejected(
            f"cannot split the command into words ({exc}); check that quotes are balanced"
        ) from exc
    if any("\0" in word for word in words):
        raise CommandRejected("the command contains a NUL character")
    if words[:1] == ["kubectl"]:
        words = words[1:]
    if not words:
        raise CommandRejected("no kubectl command given, e.g. `get pods -n default`")
    return tuple(words)


def parse_command_line(argv: Sequence[str]) -> CommandLine:
    """Read ``argv`` (without ``kubectl``) into a ``CommandLine``, or raise ``CommandRejected``."""
    node, builtin = KUBECTL, True
    path: list[str] = []
    flags: list[Flag] = []
    i = 0
    while i < len(argv) and node.subcommands:
        word = argv[i]
        if word == "--":
            if node.runnable and path:
                break
            raise CommandRejected("`--` must come after the command, e.g. `exec pod -- ls`")
        if _is_flag_word(word):
            read, after = _read_flag(argv, i, GLOBAL_FLAGS)
            if all(flag.known for flag in read):
                flags.extend(read)
                i = after
                continue
            if node.runnable and path:
                break
            where = f"the `{' '.join(path)}` subcommand" if path else "the command name"
            raise CommandRejected(
                f"only global flags such as -n may come before {where}; put {word} after it"
            )
        sub = node.subcommands.get(word)
        if sub is None and node.runnable and path:
            break  # the word is the runnable group's first argument
        node = sub or _UNKNOWN
        path.append(sub.name if sub else word)
        builtin = sub is not None
        i += 1
    if not path:
        raise CommandRejected("no kubectl command given, e.g. `get pods -n default`")
    if node.subcommands and not node.runnable:
        builtin = False  # a group without its subcommand only prints help; not worth modelling
    table = _OPAQUE_FLAGS if node.flags is None else GLOBAL_FLAGS + node.flags
    args: list[str] = []
    while i < len(argv):
        word = argv[i]
        if word == "--":
            args.extend(argv[i + 1 :])
            break
        if _is_flag_word(word):
            read, i = _read_flag(argv, i, table)
            flags.extend(read)
        else:
            args.append(word)
            i += 1
    return CommandLine(
        path=tuple(path),
        builtin=builtin,
        modelled=builtin and node.flags is not None,
        flags=tuple(flags),
        args=tuple(args),
    )


def _is_flag_word(word: str) -> bool:
    return len(word) > 1 and word.startswith("-")  # a lone "-" is an argument (stdin)


def _read_flag(argv: Sequence[str], i: int, table: FlagTable) -> tuple[list[Flag], int]:
    """Read the flag word ``argv[i]`` as pflag does; return its flags and the next index.

    An unknown flag is taken to be boolean (its value only after '='); pflag would reject it,
    and for opaque commands it is the reading that exposes the most words to the policy.
    """
    word = argv[i]
    if word.startswith("--"):
        name, eq, inline = word[2:].partition("=")
        if not name or name[0] == "-":
            raise CommandRejected(f"bad flag syntax: {word}")
        name = name.replace("_", "-")
        spec = table.long.get(name)
        if spec is None:
            return [Flag(name, inline if eq else None, False, word)], i + 1
        if eq or not spec.takes_value:
            return [Flag(spec.name, inline if eq else None, True, word)], i + 1
        if i + 1 >= len(argv):
            raise CommandRejected(f"flag {word} needs a value")
        return [Flag(spec.name, argv[i + 1], True, word)], i + 2
    flags: list[Flag] = []
    rest = word[1:]
    while rest:
        char, rest = rest[0], rest[1:]
        spec = table.short.get(char)
        if spec is None:
            flags.append(Flag(char, None, False, word))
            continue
        value: str | None = None
        if len(rest) > 1 and rest[0] == "=":
            value, rest = rest[1:], ""
        elif not spec.takes_value:
            pass
        elif rest:
            value, rest = rest, ""
        elif i + 1 < len(argv):
            i += 1
            value = argv[i]
        else:
            where = "" if word == f"-{char}" else f" (in {word})"
            raise CommandRejected(f"flag -{char}{where} needs a value")
        flags.append(Flag(spec.name, value, True, word))
    return flags, i + 1
