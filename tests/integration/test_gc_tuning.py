"""``serve`` exempts its startup heap from garbage collection (the intake's p99 depended on it)."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import gc
from punching_fist.gc_tuning import YOUNG_GENERATION_THRESHOLD, freeze_startup_heap
import punching_fist.server.service  # a server's worth of modules
assert gc.get_freeze_count() == 0
freeze_startup_heap()
assert gc.get_freeze_count() > 100_000, gc.get_freeze_count()
assert gc.get_threshold()[0] == YOUNG_GENERATION_THRESHOLD
print("ok")
"""


def test_startup_heap_is_frozen_and_young_collections_are_rarer() -> None:
    # In a fresh interpreter: freezing the test process's heap would outlive this test.
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
