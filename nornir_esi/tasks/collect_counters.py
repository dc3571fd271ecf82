"""Read the firewall counters of every internet gateway on one router, and its unit."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nornir.core.task import Result, Task

from nornir_esi.tasks.collect_state import collect_state

__all__ = ["GatewayCounters", "collect_counters"]


@dataclass(frozen=True)
class GatewayCounters:
    """A gateway as one of its routers carries it: what :func:`collect_counters` reads."""

    id: str
    name: str
    role: str
    #: The gateway's logical interface on this router (``ae0.1025``).
    interface: str
    #: By direction (``in``, ``out``): ``(filter, counter)``.
    counters: Mapping[str, tuple[str, str]]


def collect_counters(task: Task, *, gateways: Mapping[str, Sequence[GatewayCounters]]) -> Result:
    """The counters of the gateways on this router, ``gateways[host name]``.

    Read with :func:`~nornir_esi.tasks.collect_state.collect_state` (one session, one subtask
    at DEBUG severity: print_result shows it at that level).

    The result is, by gateway name: ``id``, ``role``, ``interface`` and its ``status``
    (``up``, ``down`` or ``absent``), and per direction ``{"packets", "bytes"}``, or None
    when the router lacks the counter. Reading changes nothing: ``changed`` is False.
    """
    mine = gateways.get(task.host.name, ())
    state = task.run(
        task=collect_state,
        severity_level=logging.DEBUG,
        interfaces=sorted({gw.interface for gw in mine}),
        counters=sorted({pair for gw in mine for pair in gw.counters.values()}),
    )[0].result
    found: dict[str, dict[str, object]] = {}
    for gw in mine:
        found[gw.name] = {
            "id": gw.id,
            "role": gw.role,
            "interface": gw.interface,
            "status": state["interfaces"][gw.interface],
            **{
                direction: state["counters"][f"{filter_name}/{counter}"]
                for direction, (filter_name, counter) in gw.counters.items()
            },
        }
    return Result(host=task.host, result=found, changed=False)
