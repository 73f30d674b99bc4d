"""Facts read off the application's own logs: the settings, files, credentials and
certificates it fails on.

Only ``kubectl logs`` output is read: the same words in an event or a describe are the
cluster's, not the application's.
"""

from __future__ import annotations

import re

from punching_fist.agent.facts.base import Observed, log_lines

_ENV_SAID = re.compile(
    r"(?:environment|env)[ _-]?var(?:iable)?s?\b\W{0,3}([A-Z][A-Z0-9_]+)\b"  # "env var X ..."
    r"|\bKeyError: ['\"]([A-Z][A-Z0-9_]+)['\"]"  # Python's os.environ["X"]
    r"|\b([A-Z][A-Z0-9]*_[A-Z0-9_]+)\b['\"`]?:? (?:is |was )?(?:not set|unset|not defined"
    r"|undefined|required|must be set|missing|empty)"
    r"|\b(?:missing|unset|undefined)\b\W{1,3}([A-Z][A-Z0-9]*_[A-Z0-9_]+)\b"
)
_ENV_MISSING = re.compile(
    r"not set|unset|not defined|undefined|required|must be set|missing|empty|not found"
    r"|KeyError",
    re.IGNORECASE,
)


def environment_fact(observed: Observed) -> str | None:
    """An environment variable the application needs and does not have."""
    for line in log_lines(observed):
        found = _ENV_SAID.search(line)
        if found and _ENV_MISSING.search(line):
            name = next(group for group in found.groups() if group)
            return (
                f"The application stops because environment variable {name} is missing or"
                f' empty ("{_message(line)}"): set it in the container\'s env, or in the'
                " Secret or ConfigMap it comes from."
            )
    return None


_CONFIG_FILE = re.compile(r"(/[\w./-]+\.(?:ya?ml|json|toml|conf|ini|properties|cfg|xml|hcl))\b")
_UNPARSED = re.compile(
    r"yaml:|json:|toml:|pars(?:e|ing)|syntax|invalid|unknown directive|unmarshal|malformed"
    r"|not allowed|unexpected|(?:cannot|can't|could not|failed to|unable to) (?:load|read|open)",
    re.IGNORECASE,
)

_ABSENT = re.compile(r"no such file|not found|ENOENT|does not exist", re.IGNORECASE)


def config_file_fact(observed: Observed) -> str | None:
    """A configuration file the application cannot load: not valid, or not there."""
    for line in log_lines(observed):
        path = _CONFIG_FILE.search(line)
        if path and _UNPARSED.search(line):
            # What follows the path is the parser's own complaint, when there is one.
            after = line[path.end() :].strip(" :\"'")
            said = (
                _message(after)
                if (_UNPARSED.search(after) or _ABSENT.search(after)) and len(after) > 12
                else _message(line)
            )
            state = "is missing" if _ABSENT.search(line) else "is not valid"
            return (
                f"The application cannot load its configuration file {path[1]}"
                f' ("{said}"): the file (often mounted from a ConfigMap) {state}.'
            )
    return None


_PREFIX = re.compile(
    r'^(?:time="[^"]*"\s+level=\w+\s+msg=)?'  # logfmt
    r"(?:\[?\d{4}-\d\d-\d\d[T ][\d:.,]+Z?\]?\s+)?"  # a timestamp
    r"(?:\[?(?:INFO|WARN(?:ING)?|ERROR|FATAL|CRITICAL|emerg|error)\]?:?\s+)?",  # a level
)


def _message(line: str, limit: int = 160) -> str:
    """A log line without its timestamp and level, whitespace collapsed, cut to ``limit``."""
    text = " ".join(_PREFIX.sub("", line.strip(), count=1).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


_DB_AUTH = re.compile(
    r'password authentication failed for user "?([\w.@-]+)"?'  # PostgreSQL
    r"|Access denied for user '([^']+)'"  # MySQL, MariaDB
    r"|(WRONGPASS|NOAUTH)\b"  # Redis
    r"|(SASL authentication failed|Authentication failed\.?)",  # Kafka, MongoDB, AMQP
    re.IGNORECASE,
)


def credentials_fact(observed: Observed) -> str | None:
    """A service the application logs in to (a database, a broker) that refuses its credentials."""
    for line in log_lines(observed):
        if found := _DB_AUTH.search(line):
            user = found[1] or found[2]
            whose = f" of user {user}" if user else ""
            return (
                "A service the application logs in to (a database, a broker) refuses its"
                f" credentials{whose}"
                f' ("{found[0].rstrip(".")}"): the password in its Secret or the user is wrong.'
            )
    return None


_READ_ONLY = re.compile(r"EROFS|Read-only file system", re.IGNORECASE)
_DENIED = re.compile(r"Permission denied|EACCES", re.IGNORECASE)
_PATH = re.compile(
    r"""['"](/[^'"]+)['"]"""
    r"|\b(?:open|stat|lstat|mkdir|create|write|read|access|unlink|rename|chmod|chown)\s+(/[^\s:,'\"]+)"
)


def file_access_fact(observed: Observed) -> str | None:
    """The application cannot write a file: the file system is read-only, or access is denied."""
    for line in log_lines(observed):
        read_only = _READ_ONLY.search(line)
        denied = None if read_only else _DENIED.search(line)
        if not (read_only or denied):
            continue
        path = next((p[1] or p[2] for p in _PATH.finditer(line)), None)
        if denied and path is None:
            continue  # "permission denied for table orders" is the database's, not a file's
        what = path or "a file"
        if read_only:
            return (
                f"The application cannot write {what}: the file system there is read-only"
                f' ("{read_only[0]}"), from readOnlyRootFilesystem or a read-only volume.'
            )
        assert denied is not None
        return (
            f'The application is denied access to {what} ("{denied[0]}"): the'
            " file's owner or mode does not let the container's user (runAsUser, fsGroup)"
            " use it."
        )
    return None


_EXPIRED = re.compile(
    r"certificate has expired|CERT_HAS_EXPIRED|certificate expired", re.IGNORECASE
)
_UNTRUSTED = re.compile(
    r"certificate signed by unknown authority|unable to (?:get local issuer|verify the first)"
    r" certificate|SELF_SIGNED_CERT_IN_CHAIN|PKIX path building failed",
    re.IGNORECASE,
)


def certificate_fact(observed: Observed) -> str | None:
    """A TLS connection the application makes fails on the peer's certificate."""
    for line in log_lines(observed):
        if found := _EXPIRED.search(line):
            return f'A TLS certificate the application checks has expired ("{found[0]}").'
        if found := _UNTRUSTED.search(line):
            return (
                f'The application does not trust a TLS certificate it is shown ("{found[0]}"):'
                " its CA bundle lacks the issuer."
            )
    return None


_PANIC = re.compile(r"^(?:panic|fatal error): .+")  # Go
_RAISED = re.compile(
    r'^(?:Exception in thread "[^"]+" )?(?:Uncaught )?'  # Java's main thread, Node's uncaught
    r"(?:[a-z_][\w]*\.)*[A-Z]\w*(?:Error|Exception)\b:? .+"  # Python's, Java's, Node's error
)
_RUNNING = re.compile(r"^goroutine \d+ \[running\]:")
_FRAME = re.compile(r"^([\w./*()-]+)\(")


def crash_fact(observed: Observed) -> str | None:
    """The error the application died with: a Go panic (and where), or the last exception
    a traceback ends with. Asked for only when no other rule explains more."""
    raised: str | None = None
    lines = list(log_lines(observed))
    for number, line in enumerate(lines):
        message = _message(line)
        if _PANIC.match(message):
            where = _panicked_in(lines[number + 1 :])
            return f"The application crashes: {message}{where}."
        if _RAISED.match(message):
            raised = message  # a traceback's last exception is its outermost
    return f"The application fails with its own error: {raised}." if raised else None


def _panicked_in(after: list[str]) -> str:
    """`` in FUNCTION``: the first frame under the running goroutine, when the trace shows it."""
    for number, line in enumerate(after[:8]):
        following = after[number + 1].strip() if number + 1 < len(after) else ""
        if _RUNNING.match(line.strip()) and (frame := _FRAME.match(following)):
            return f" (in {frame[1]})"
    return ""
