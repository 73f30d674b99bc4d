"""Free TCP ports on 127.0.0.1.

Asking the kernel for port 0 and closing the socket again is racy (another process may take
the port before our server binds it), so callers treat "address already in use" as a reason
to retry with fresh ports; see ``processes.PortInUseError``.
"""

from __future__ import annotations

import contextlib
import random
import socket

LOOPBACK = "127.0.0.1"


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct ports that were free a moment ago.

    All sockets stay open until every port is chosen, so the ports differ from each other.
    """
    with contextlib.ExitStack() as stack:
        ports: list[int] = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((LOOPBACK, 0))
            ports.append(sock.getsockname()[1])
        return ports


def free_port() -> int:
    """Return one port that was free a moment ago."""
    return free_ports(1)[0]


def is_free(port: int) -> bool:
    """Tell whether ``port`` can be bound on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def free_port_with_offsets(offsets: tuple[int, ...], *, attempts: int = 200) -> int:
    """Return a port ``p`` such that ``p + offset`` is free for every offset.

    The Kubernetes kit derives etcd's ports from the API server's (PORT+10000, PORT+10001),
    so the kernel's choice for port 0 cannot be used; pick below the ephemeral range
    (32768 and up on Linux) where outgoing connections do not take ports behind our back.
    """
    highest = 65535 - max(offsets)
    low, high = 12000, min(22000, highest)
    rng = random.Random()  # spreads parallel sessions apart; nothing secret about it
    for _ in range(attempts):
        port = rng.randint(low, high)
        if all(is_free(port + offset) for offset in offsets):
            return port
    raise RuntimeError(f"no port p in {low}..{high} with p+{offsets} all free")
