"""Real services for the test suite, started on 127.0.0.1 and stopped afterwards.

The project's integration tests run against real PostgreSQL, Prometheus, Alertmanager,
Pushgateway and a real Kubernetes API server rather than fakes, because the behaviour we
depend on (SQL dialect, alert timing, CRD pruning) is exactly what fakes get wrong.

Layout:

- ``ports``: picking free TCP ports on 127.0.0.1.
- ``processes``: ``ManagedProcess``, one child process with a log file, a readiness wait
  and a stop that takes down its whole process group; plus ``wait_until`` helpers.
- ``postgres``, ``prometheus_stack``, ``k8s``: one context manager per service.
- ``fixtures``: the pytest fixtures, registered by ``tests/conftest.py``.

The harness is synchronous on purpose: session fixtures outlive every test's event loop,
so nothing a session fixture hands out may depend on a loop being run.
"""
