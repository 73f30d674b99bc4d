"""Steps run outside the server's reach: started by a spawner process that holds no secrets.

A ``cli`` step runs whatever a workflow says, and a step is as curious as its author. Started
by the server itself, it could read the server's whole environment as ``/proc/$PPID/environ``
(API keys, tokens, the database password) and its memory as ``/proc/$PPID/mem``. So:

1. **Steps are not the server's children.** ``serve`` starts a small spawner process with
   ``python -m punching_fist.spawner``: executed, not forked, so it holds none of the server's
   memory, with an environment of ``PATH``, ``PYTHONPATH`` and locale variables only. Every
   step (``cli`` commands, the agent's kubectl and scripts) is its child: ``$PPID`` is the
   spawner. The server hands over the step's argv, environment and pipe ends (SCM_RIGHTS on
   a socket pair) and reads the pipes itself, as before.
2. **The server is undumpable** (``PR_SET_DUMPABLE`` 0), so a step that walks ``/proc`` to
   the server finds its ``environ``, ``mem``, ``maps`` and ``fd`` owned by root and closed to
   anyone without ``CAP_SYS_PTRACE``. ``cmdline`` stays world-readable, which is why secrets
   never go on the command line (``--db`` also reads ``PUNCHING_FIST_DB``).
3. **Steps hold no privileges.** The spawner drops every capability before its first step,
   and for root empties the bounding set, so no program a step runs gets one back; it sets
   ``no_new_privs`` against setuid programs. Undumpability alone does not stop root, which
   has ``CAP_SYS_PTRACE``; a root step without capabilities is stopped like any other user.
   The spawner is undumpable too: it briefly holds each step's environment.

Why not a separate user for steps: that needs root (or ``CAP_SETUID``) in the container,
which the chart drops, and files a step must read (kubeconfigs, scripts) would need sharing
with that user. What remains shared: steps run as the server's user, so they can read its
files (the pod's service-account token included, which is why the operator's own role holds
only what it needs) and can signal it; and concurrent steps can read each other's
environments, as processes of one user can.

``client.StepSpawner`` is the server's side; ``processes.run`` uses it when given one.
"""
