"""Nornir tasks against Junos routers over NETCONF (nornir-netconf's ``netconf`` connection).

One task per module, named ``verb_object(task, *, ...) -> Result``:

- :func:`~nornir_esi.tasks.push_config.push_config`: load set commands, diff, commit;
- :func:`~nornir_esi.tasks.collect_state.collect_state`: interface states, filter counters;
- :func:`~nornir_esi.tasks.collect_commits.collect_commits`: the commit history.

Failures raise :class:`~nornir_esi.exceptions.DeviceError` subclasses naming host and
step; Nornir records them as the host's failed Result.
"""

from __future__ import annotations

from nornir_esi.tasks.collect_commits import collect_commits
from nornir_esi.tasks.collect_state import collect_state
from nornir_esi.tasks.push_config import push_config

__all__ = ["collect_commits", "collect_state", "push_config"]
