"""Linux process attributes that keep steps away from the server's memory and environment.

``/proc/PID/environ``, ``mem``, ``maps`` and ``fd`` of a process are readable by whoever may
ptrace it: the same user, or anyone with ``CAP_SYS_PTRACE``. Two switches close that:

* ``make_undumpable`` (``PR_SET_DUMPABLE`` 0) on the server: its ``/proc`` entries then
  belong to root and need ``CAP_SYS_PTRACE`` even for its own user, so a step running as the
  server's (non-root) user cannot read them.
* ``drop_privileges`` in the process that starts steps: no capabilities left (for root, the
  bounding set emptied too, so no program it runs regains them) and ``no_new_privs`` (no
  setuid program or file capability adds any). A root step without ``CAP_SYS_PTRACE`` is
  as shut out of an undumpable process as any other user.

Both are inherited only as far as they should be: dumpability resets when a program is
executed, so steps stay debuggable; dropped capabilities and ``no_new_privs`` stay for every
descendant. Elsewhere than Linux these are no-ops (and report so).

One more attribute keeps steps from outliving the server: ``die_with_parent``
(``PR_SET_PDEATHSIG``) on the process that starts them, which is then signalled when the
server dies, even by SIGKILL.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_PR_GET_DUMPABLE = 3
_PR_SET_DUMPABLE = 4
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def make_undumpable() -> bool:
    """Make this process's memory and ``/proc`` entries unreadable to same-user processes
    without ``CAP_SYS_PTRACE``; False where that is not possible (not Linux)."""
    libc = _libc()
    return libc is not None and libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) == 0


def is_undumpable() -> bool:
    libc = _libc()
    return libc is not None and libc.prctl(_PR_GET_DUMPABLE, 0, 0, 0, 0) == 0


def drop_privileges() -> bool:
    """Give up every capability for good, and any way to gain one; False where not possible.

    Raises ``OSError`` when the kernel refuses a step that must succeed (clearing this
    process's own capabilities, ``no_new_privs``): starting steps with privileges left would
    be worse than not starting them.
    """
    libc = _libc()
    if libc is None:
        return False
    if os.geteuid() == 0:
        # Root regains the bounding set at every exec; empty it (needs CAP_SETPCAP, which
        # root still has here). Capabilities unknown to this kernel fail with EINVAL.
        for capability in range(_last_capability() + 1):
            libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0)
    libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)  # EINVAL before 4.3
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(libc, libc.capset(ctypes.byref(header), data), "capset")
    _check(libc, libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS")
    return True


def die_with_parent(signal_number: int) -> bool:
    """Have the kernel send ``signal_number`` to this process when its parent dies (the
    thread that started it, strictly); False where that is not possible (not Linux).

    Not inherited by children, and cleared by executing a setuid program.
    """
    libc = _libc()
    if libc is None:
        return False
    _check(libc, libc.prctl(_PR_SET_PDEATHSIG, signal_number, 0, 0, 0), "PR_SET_PDEATHSIG")
    return True


def _check(libc: ctypes.CDLL, result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def _last_capability() -> int:
    try:
        return int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    except (OSError, ValueError):
        return 63


@functools.cache
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
