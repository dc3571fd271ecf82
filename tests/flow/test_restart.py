"""Everything killed mid-burst and started again: the system reconciles from etcd alone."""

from __future__ import annotations

import signal
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from nornir_esi import desired, keys
from nornir_esi.netsim.server import Simulator
from nornir_esi.records import State
from nornir_esi.store.base import Store
from nornir_esi.store.server import EtcdServer
from nornir_esi.waiting import wait_for_state
from tests.store.helpers import eventually
from tests.synthetic import (
    CommitLog,
    carried,
    expected,
    gateways,
    overrides_for,
    pair_routers,
    qos_inputs,
    resource_graph,
    router_names,
    router_specs,
)

from .test_crash import run_process, wait_running

GW = "internet_gateway"


def _done(store: Store, ids: set[str]) -> dict[str, State]:
    out = {}
    for entry in store.get_prefix(keys.type_prefix(keys.STATE_PREFIX, GW)):
        parsed = keys.parse_state_key(entry.key)
        if parsed is not None and parsed[1] in ids:
            out[parsed[1]] = State.from_value(entry.value)
    return out


def test_restart_everything_mid_burst(
    store: Store, etcd_server: EtcdServer, tmp_path: Path
) -> None:
    graph = resource_graph(2)
    names = router_names(graph)
    burst = gateways(graph, 40)
    ids = {body["id"] for _, body in burst}
    with Simulator(router_specs(graph), minute=30) as sim:
        inventory = overrides_for(sim, names, tmp_path)
        commits = CommitLog(sim)
        with ExitStack() as first:
            procs = [
                first.enter_context(
                    run_process(etcd_server.endpoints, inventory, tmp_path / f"first-{n}.log")
                )
                for n in range(2)
            ]
            for n, proc in enumerate(procs):
                wait_running(proc, tmp_path / f"first-{n}.log")
            desired.apply(store, graph)
            for resource_type, body in graph:
                assert wait_for_state(store, resource_type, body["id"], timeout=60) is not None
            desired.apply(store, burst[:20])
            desired.apply(store, burst[20:])
            eventually(
                lambda: len(_done(store, ids)) >= len(ids) // 4,
                what="a quarter of the burst done",
                timeout=120,
            )
            for proc in procs:  # everything dies at once, mid-burst
                proc.send_signal(signal.SIGKILL)
                proc.wait()
        assert len(_done(store, ids)) < len(ids), "the burst was over before the kill"

        with ExitStack() as second:
            for n in range(2):
                log = tmp_path / f"second-{n}.log"
                wait_running(
                    second.enter_context(run_process(etcd_server.endpoints, inventory, log)), log
                )

            def all_done() -> dict[str, State] | None:
                states = _done(store, ids)
                return states if len(states) == len(ids) else None

            states = eventually(all_done, what="every gateway's /state", timeout=240, interval=0.5)
            assert {s.worker_state for s in states.values()} == {"CREATE_COMPLETED"}, states
            eventually(
                lambda: store.get_prefix(keys.JOBS_PREFIX) == [],
                what="no job keys left",
                timeout=60,
            )
            assert all(store.get(keys.job_state(GW, i)) is None for i in ids)

        on_router: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        for _, body in burst:
            for name in pair_routers(graph, body).values():
                on_router[name].append(body)
        qos = qos_inputs(graph)
        for name, bodies in on_router.items():
            assert carried(sim, name) == expected(bodies, qos), name
            finals = [c for c in commits.final(name) if c.startswith("create:heat_worker:")]
            assert sorted(c.split(":")[3] for c in finals) == sorted(b["id"] for b in bodies)
            assert sim.call(lambda n=name: sim.router(n).lock_owner) is None, name
