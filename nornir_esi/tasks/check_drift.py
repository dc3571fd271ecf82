"""Whether every internet gateway on one router has there what it should.

A dry run of the change that would bring it back, per gateway.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from nornir.core.task import Result, Task

from nornir_esi.tasks.push_config import push_config

__all__ = ["GatewayConfig", "check_drift"]


@dataclass(frozen=True)
class GatewayConfig:
    """What a gateway's version should have on one of its routers.

    That is the change that brings the router back to it (``replace`` of the gateway's own
    objects).
    """

    id: str
    name: str
    version: int
    commands: str
    text: str = ""
    prune_policies: Sequence[str] = field(default_factory=tuple)


def check_drift(task: Task, *, gateways: Mapping[str, Sequence[GatewayConfig]]) -> Result:
    """Dry-run on this router the change each gateway of ``gateways[host name]`` needs.

    Gateway after gateway (:func:`~nornir_esi.tasks.push_config.push_config`, one subtask per
    gateway, named after it, at DEBUG severity: print_result shows them at that level).
    Nothing is committed.

    The result is, by gateway name, ``"drift"`` or ``"in sync"``; the ``diff`` is each
    drifted gateway's Junos diff under a ``# NAME`` line, and ``changed`` whether there is
    one (what a repair would change).
    """
    found: dict[str, str] = {}
    diffs: list[str] = []
    for gw in gateways.get(task.host.name, ()):
        diff = task.run(
            task=push_config,
            name=f"{gw.name} (version {gw.version})",
            severity_level=logging.DEBUG,
            commands=gw.commands,
            text=gw.text,
            prune_policies=list(gw.prune_policies),
            comment="drift check",
            dry_run=True,
        )[0].diff
        found[gw.name] = "drift" if diff.strip() else "in sync"
        if diff.strip():
            diffs.append(f"# {gw.name}\n{diff.strip()}")
    return Result(host=task.host, result=found, changed=bool(diffs), diff="\n".join(diffs))
