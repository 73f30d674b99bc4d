"""Reading kubeconfig files as kubectl does, and writing the small ones a step runs with.

A step that names a ``serviceAccount`` runs with the server's own credentials plus
``as: system:serviceaccount:NS:NAME`` (see ``kube.credentials``). kubeconfig has no include
and merges whole entries, never fields, so the only way to add ``as`` is a new file holding
the current context's cluster and user. Relative paths in a kubeconfig are relative to the
file that holds them, so they are made absolute before the entries move to another folder.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from punching_fist.errors import ConfigurationError

_IMPERSONATION = frozenset({"as", "as-groups", "as-uid", "as-user-extra"})
_PATH_KEYS = {
    "clusters": ("certificate-authority",),
    "users": ("client-certificate", "client-key", "tokenFile"),
}


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """One cluster and one user, as the current context of a kubeconfig names them."""

    cluster: Mapping[str, Any]
    """The ``cluster`` entry (``server``, ``certificate-authority``...), paths absolute."""
    user: Mapping[str, Any]
    """The ``user`` entry (``token``, ``tokenFile``, ``client-certificate``, ``exec``...)."""
    namespace: str | None = None
    """The context's namespace, if it sets one."""


def split_paths(value: str | Path) -> list[Path]:
    """``KUBECONFIG``'s list (``a:b``) as paths, empty entries dropped."""
    return [Path(part) for part in str(value).split(os.pathsep) if part]


def current_endpoint(paths: Sequence[Path]) -> Endpoint:
    """The current context's cluster and user, merged over ``paths`` as kubectl merges them:
    the first file to define a name (or ``current-context``) wins.

    Raises ``ConfigurationError`` when the files cannot be read or name no usable context.
    """
    entries: dict[str, dict[str, Any]] = {"clusters": {}, "users": {}, "contexts": {}}
    current: str | None = None
    for path in paths:
        document = _read(path)
        if document is None:
            continue  # kubectl, too, skips files of the list that do not exist
        current = current or document.get("current-context") or None
        for kind, found in entries.items():
            for entry in document.get(kind) or []:
                name, body = _entry(entry, kind[:-1], path)
                found.setdefault(name, _absolute(body, kind, path.parent))
    where = ", ".join(map(str, paths))
    if not current:
        raise ConfigurationError(f"kubeconfig {where}: no current-context")
    context = entries["contexts"].get(current)
    if context is None:
        raise ConfigurationError(f"kubeconfig {where}: context {current!r} is not defined")
    cluster = entries["clusters"].get(str(context.get("cluster")))
    if cluster is None:
        raise ConfigurationError(
            f"kubeconfig {where}: cluster {context.get('cluster')!r} of context {current!r}"
            " is not defined"
        )
    user = entries["users"].get(str(context.get("user")), {})
    namespace = context.get("namespace")
    return Endpoint(cluster=cluster, user=user, namespace=str(namespace) if namespace else None)


def render(endpoint: Endpoint, *, impersonate: str | None = None) -> str:
    """A kubeconfig with one context for ``endpoint``, acting as ``impersonate`` if given."""
    user = {key: value for key, value in endpoint.user.items() if key not in _IMPERSONATION}
    if impersonate is not None:
        # Groups are left to the API server, which adds a service account's own groups.
        user["as"] = impersonate
    context: dict[str, Any] = {"cluster": "cluster", "user": "user"}
    if endpoint.namespace:
        context["namespace"] = endpoint.namespace
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "cluster", "cluster": dict(endpoint.cluster)}],
        "users": [{"name": "user", "user": user}],
        "contexts": [{"name": "step", "context": context}],
        "current-context": "step",
    }
    return yaml.safe_dump(document, sort_keys=False)


def write_private(directory: Path, name: str, text: str) -> Path:
    """Write ``text`` to ``directory/name`` readable by this user only, replacing atomically."""
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        target = directory / name
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def _read(path: Path) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigurationError(f"kubeconfig {path}: {exc.strerror or exc}") from exc
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"kubeconfig {path}: not YAML ({exc})") from exc
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigurationError(f"kubeconfig {path}: expected a mapping")
    return document


def _entry(entry: Any, key: str, path: Path) -> tuple[str, dict[str, Any]]:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise ConfigurationError(f"kubeconfig {path}: a {key} entry without a name")
    body = entry.get(key) or {}
    if not isinstance(body, dict):
        raise ConfigurationError(f"kubeconfig {path}: {key} {entry['name']!r} is not a mapping")
    return entry["name"], body


def _absolute(body: dict[str, Any], kind: str, base: Path) -> dict[str, Any]:
    fixed = dict(body)
    for key in _PATH_KEYS.get(kind, ()):
        value = fixed.get(key)
        if isinstance(value, str) and value and not os.path.isabs(value):
            fixed[key] = str(base / value)
    command = (fixed.get("exec") or {}).get("command") if kind == "users" else None
    if isinstance(command, str) and os.sep in command and not os.path.isabs(command):
        fixed["exec"] = {**fixed["exec"], "command": str(base / command)}
    return fixed
