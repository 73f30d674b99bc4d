"""Suite-wide pytest configuration.

The real-service fixtures (PostgreSQL, the Prometheus stack, the Kubernetes API server) live
in ``tests.harness.fixtures`` and are registered here so every test directory can use them.
"""

pytest_plugins = ["tests.harness.fixtures", "tests.support.fixtures"]
