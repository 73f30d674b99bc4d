"""A stand-in server for ``test_spawner``: ``python -m tests.processes.spawner_host PID_FILE
[HOLDER_FILE]`` starts a step (``sleep``, its pid in PID_FILE) through a ``StepSpawner`` and
waits until it is killed.

With HOLDER_FILE, a forked child (its pid in HOLDER_FILE) keeps a copy of the server's end
of the spawner's socket, as a process that inherited it would: killing this process then
does not close the socket, and only the parent-death signal tells the spawner.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from punching_fist import processes
from punching_fist.spawner.client import StepSpawner


async def main(pid_file: Path, holder_file: Path | None) -> None:
    spawner = StepSpawner(os.environ)
    spawner.start()
    step = asyncio.create_task(
        processes.run(
            ["sh", "-c", f"echo $$ > {pid_file}.tmp; mv {pid_file}.tmp {pid_file}; sleep 300"],
            env={"PATH": "/usr/bin:/bin"},
            timeout_seconds=600,
            spawner=spawner,
        )
    )
    while not spawner.running:
        await asyncio.sleep(0.01)
    if holder_file is not None:
        holder = os.fork()
        if holder == 0:  # holds every descriptor of the server, the socket among them
            time.sleep(600)
            os._exit(0)
        holder_file.write_text(f"{holder}\n")
    await step


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None))
