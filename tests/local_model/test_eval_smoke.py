"""A fast subset of ``bench/eval.py`` in the suite: the bundled model, graded as the eval does.

The whole evaluation (33 incidents) takes about seventeen minutes on two cores,
so it stays a benchmark; these scenarios guard the mechanisms it measures (evidence first,
the failure lines and the facts read off them before the question, bounded answers under
the grammar) on every run of ``make test``. The bundled model samples greedily with a fixed seed, so the answers, and so
the grades, are the same on every machine of this kind.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.eval import evaluate, line, load_scenarios

from punching_fist.local_model.cache import LocalModelPaths
from punching_fist.local_model.installer import install

pytestmark = [pytest.mark.llm, pytest.mark.timeout(2400)]

# The order they run in: two crash loops read from logs, a pull refused at the end of a
# 500-character event (a fact read off the whole line), and a heartbeat (nothing wrong).
SMOKE = (
    "crashloop-bad-config",
    "crashloop-missing-env",
    "image-pull-registry-auth",
    "watchdog-heartbeat",
)


async def test_the_bundled_model_passes_the_eval_smoke_subset(tmp_path: Path) -> None:
    status = await install(LocalModelPaths.from_settings())  # a no-op on a warm cache
    assert status.ready, status
    outcomes = await evaluate(load_scenarios(SMOKE), 1, tmp_path, verbose=False, timeout_minutes=30)
    assert [o.scenario for o in outcomes] == list(SMOKE)
    failed = [line(o) for o in outcomes if not o.passed]
    assert not failed, "\n".join(failed)
    for outcome in outcomes:
        assert outcome.status == "succeeded"
        assert outcome.llm_calls >= 1
