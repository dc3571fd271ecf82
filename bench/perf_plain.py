"""The baseline of ``bench.perf``'s latency and throughput: gateways pushed by plain Nornir.

A plain Nornir script, pushing them the way a typical one does it.

``InitNornir`` with a ``SimpleInventory`` (YAML files) of the simulated routers, the
threaded runner with one thread per router, nornir-netconf's ``netconf`` connection (its
defaults: ncclient opens the socket, no TCP_NODELAY; ``hostkey_verify: false``) and its
tasks: per gateway and router, ``netconf_lock``, two ``netconf_rpc``
``load-configuration`` (the gateway's set commands, then its routing-instance text),
``netconf_commit``, ``netconf_lock(operation="unlock")``; a host's gateways one after the
other, one commit each. ncclient's poll interval (``TICK``) is its default, 0.1 s, unless
``tick`` says otherwise.

The configuration is what our heat worker loads for a create: ``gateway.changes`` over the
params the planner gives the gateway (``gateway.params_for``), so both push the same
lines. No pair transaction (commit confirmed, verification, rollback of both routers):
that is what the plain script leaves out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import ncclient.transport.session
import yaml
from nornir import InitNornir
from nornir.core import Nornir
from nornir.core.task import Result, Task
from nornir_netconf.plugins.tasks import netconf_commit, netconf_lock, netconf_rpc

from nornir_esi.contract.graph import pair_of
from nornir_esi.contract.mapping import params_for, template_of
from nornir_esi.netsim.server import Simulator
from nornir_esi.services.internet_gateway.changes import changes
from tests.synthetic import Item

__all__ = ["PerHost", "per_host", "plain_nornir", "push_gateways", "run_push"]

GW = "internet_gateway"
# A host's gateways, in order: (set commands, routing-instance text) each.
PerHost = dict[str, list[tuple[str, str]]]


def per_host(graph: Iterable[Item], gateways: Iterable[Item]) -> PerHost:
    """What each router gets for ``gateways``, as our heat worker renders a create."""
    bodies = {(t, b["id"]): b for t, b in graph}

    def lookup(resource_type: str, resource_id: str) -> dict[str, Any] | None:
        return bodies.get((resource_type, resource_id))

    template = template_of(None, GW)
    out: PerHost = {}
    for _, body in gateways:
        params = params_for(template, GW, body, lookup)
        for change in changes(params, pair_of(lookup, GW, body), action="create").values():
            out.setdefault(str(change.router["name"]), []).append((change.commands, change.text))
    return out


@contextmanager
def plain_nornir(
    sim: Simulator, names: Iterable[str], directory: Path, *, tick: float
) -> Iterator[Nornir]:
    """A Nornir as a typical script builds it, over ``names`` of ``sim``."""
    hosts = {}
    for name in names:
        host, port = sim.address(name)
        hosts[name] = {
            "hostname": host,
            "port": port,
            "username": "esi",
            "password": "esi-bench-password",
            "platform": "junos",
            "connection_options": {
                "netconf": {
                    "extras": {
                        "hostkey_verify": False,
                        "allow_agent": False,
                        "look_for_keys": False,
                    }
                }
            },
        }
    host_file = directory / "plain-hosts.yaml"
    host_file.write_text(yaml.safe_dump(hosts))
    saved = ncclient.transport.session.TICK
    ncclient.transport.session.TICK = tick
    nr = InitNornir(
        runner={"plugin": "threaded", "options": {"num_workers": len(hosts)}},
        inventory={"plugin": "SimpleInventory", "options": {"host_file": str(host_file)}},
        logging={"enabled": False},
    )
    try:
        yield nr
    finally:
        nr.close_connections()
        ncclient.transport.session.TICK = saved


def _load(action: str, payload: str) -> str:
    element = "configuration-set" if action == "set" else "configuration-text"
    return (
        f'<load-configuration action="{action}" format="text">'
        f"<{element}>{escape(payload)}</{element}></load-configuration>"
    )


def push_gateways(task: Task, *, gateways: PerHost) -> Result:
    """Each of the host's gateways: lock, load, commit, unlock."""
    mine = gateways.get(task.host.name, [])
    for commands, text in mine:
        task.run(task=netconf_lock, datastore="candidate", operation="lock")
        task.run(task=netconf_rpc, payload=_load("set", commands))
        if text.strip():
            task.run(task=netconf_rpc, payload=_load("merge", text))
        task.run(task=netconf_commit)
        task.run(task=netconf_lock, datastore="candidate", operation="unlock")
    return Result(host=task.host, result=len(mine), changed=bool(mine))


def run_push(nr: Nornir, gateways: PerHost) -> None:
    """Push, or exit naming the first host that failed."""
    result = nr.run(task=push_gateways, gateways=gateways)
    for host, multi in result.items():
        if multi.failed:
            failed = next(r for r in multi if r.failed)
            raise SystemExit(f"plain Nornir baseline: {host}: {failed.name}: {failed.exception}")
