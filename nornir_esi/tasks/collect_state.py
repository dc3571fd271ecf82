"""Read a router's operational state: interface status and firewall counters."""

from __future__ import annotations

import re
from collections.abc import Sequence

from lxml import etree
from ncclient.operations.rpc import RPCError
from nornir.core.task import Result, Task

from nornir_esi.device.rpc import call, leaf, sub
from nornir_esi.exceptions import DeviceRejectedError

__all__ = ["collect_state"]

# How Junos (and the simulator) say a counter or filter is not there; any other rpc-error
# is a real failure.
_ABSENT = re.compile(r"not found|does not exist|no such|not exist", re.IGNORECASE)


def collect_state(
    task: Task,
    *,
    interfaces: Sequence[str] = (),
    counters: Sequence[tuple[str, str]] = (),
) -> Result:
    """Interface states and firewall counters of one router.

    ``interfaces`` are physical (``ae0``) or logical (``ae0.1025``) names; each maps to
    ``"up"`` (admin and oper up), ``"down"`` or ``"absent"``. ``counters`` are
    ``(filter, counter)`` pairs; each maps, keyed ``"FILTER/COUNTER"``, to
    ``{"packets": int, "bytes": int}`` or ``None`` when the counter does not exist.
    Reading never changes anything: ``changed`` is always False. When nothing is asked,
    the router is still asked something (``get-software-information``): a router that
    cannot be reached, or whose host key is wrong, fails here, also when a kept session
    to it died unnoticed (an open session proves nothing). That is how
    ``NornirDevices.reachable`` tells.
    """
    if not interfaces and not counters:
        call(task, "get-software-information", leaf("get-software-information"))
    by_filter: dict[str, list[str]] = {}
    for filter_name, counter in counters:
        by_filter.setdefault(filter_name, []).append(counter)
    found: dict[str, dict[str, int] | None] = {}
    for filter_name, names in by_filter.items():
        if len(names) == 1:
            found[f"{filter_name}/{names[0]}"] = _counter(task, filter_name, names[0])
        else:
            # Many counters of one filter (a coalesced transaction's gateways): one RPC.
            of_filter = _filter_counters(task, filter_name)
            found.update({f"{filter_name}/{name}": of_filter.get(name) for name in names})
    state: dict[str, object] = {
        "interfaces": _interfaces(task, interfaces) if interfaces else {},
        "counters": {f"{f}/{c}": found[f"{f}/{c}"] for f, c in counters},
    }
    return Result(host=task.host, result=state, changed=False)


def _text(el: etree._Element, path: str) -> str:
    # Junos pads some operational values with newlines ("\nae0\n").
    return (el.findtext(path) or "").strip()


def _interfaces(task: Task, names: Sequence[str]) -> dict[str, str]:
    # One terse listing of every interface rather than one RPC per name: a name that is
    # not configured is then simply missing instead of an rpc-error to interpret.
    rpc = leaf("get-interface-information")
    sub(rpc, "terse")
    reply = call(task, "get-interface-information", rpc)
    found: dict[str, str] = {}
    for el in reply.iterfind(".//{*}physical-interface"):
        found[_text(el, "{*}name")] = _status(el)
        for logical in el.iterfind("{*}logical-interface"):
            found[_text(logical, "{*}name")] = _status(logical)
    return {name: found.get(name, "absent") for name in names}


def _status(el: etree._Element) -> str:
    up = _text(el, "{*}admin-status") == "up" and _text(el, "{*}oper-status") == "up"
    return "up" if up else "down"


def _filter_counters(task: Task, filter_name: str) -> dict[str, dict[str, int]]:
    """Every counter of ``filter_name`` (``get-firewall-filter-information``).

    {} when the filter does not exist.
    """
    rpc = leaf("get-firewall-filter-information")
    sub(rpc, "filtername", filter_name)
    return _read_counters(task, "get-firewall-filter-information", rpc, filter_name)


def _counter(task: Task, filter_name: str, counter: str) -> dict[str, int] | None:
    rpc = leaf("get-firewall-counter-information")
    sub(rpc, "filter", filter_name)
    sub(rpc, "countername", counter)
    return _read_counters(task, "get-firewall-counter-information", rpc, filter_name).get(counter)


def _read_counters(
    task: Task, step: str, rpc: etree._Element, filter_name: str
) -> dict[str, dict[str, int]]:
    """The counters of ``filter_name`` in the reply to ``rpc``, by name.

    {} when the router says the filter or counter does not exist; any other rpc-error is
    raised.
    """
    try:
        reply = call(task, step, rpc)
    except DeviceRejectedError as exc:
        cause = exc.__cause__
        if isinstance(cause, RPCError) and _ABSENT.search(cause.message or str(cause)):
            return {}
        raise
    out: dict[str, dict[str, int]] = {}
    for filter_el in reply.iterfind(".//{*}filter-information"):
        if _text(filter_el, "{*}filter-name") != filter_name:
            continue
        for entry in filter_el.iterfind("{*}counter"):
            out.setdefault(
                _text(entry, "{*}counter-name"),
                {
                    "packets": int(_text(entry, "{*}packet-count") or 0),
                    "bytes": int(_text(entry, "{*}byte-count") or 0),
                },
            )
    return out
