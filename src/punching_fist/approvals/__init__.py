"""People deciding what agents may do: the service, its REST routes, Slack buttons, the CLI.

The agent pauses and stores approval requests (``store.approvals``); this package records
decisions, expires the undecided, and hands resumed runs to the engine's run queue.
"""
