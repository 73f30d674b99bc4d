"""Step executors: one module per step type."""
