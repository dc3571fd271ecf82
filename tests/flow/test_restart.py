"""Everything killed mid-burst and started again: the system reconciles from etcd alone."""

from __future__ import annotations

import signal
from contextlib import ExitStack
from pathlib import Path

from nornir_esi import desired, keys
from nornir_esi.netsim.server import Simulator
from nornir_esi.records import State
from nornir_esi.store.base import Store
from nornir_esi.store.server import EtcdServer
from nornir_esi.waiting import wait_for_state
from tests.store.helpers import eventually
from tests.synthetic import (
    CommitLog,
    assert_routers_carry,
    gateway_states,
    gateways,
    overrides_for,
    resource_graph,
    router_names,
    router_specs,
)

from .test_crash import run_process, wait_running

GW = "internet_gateway"


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
                lambda: len(gateway_states(store, ids)) >= len(ids) // 4,
                what="a quarter of the burst done",
                timeout=120,
            )
            for proc in procs:  # everything dies at once, mid-burst
                proc.send_signal(signal.SIGKILL)
                proc.wait()
        assert len(gateway_states(store, ids)) < len(ids), "the burst was over before the kill"

        with ExitStack() as second:
            for n in range(2):
                log = tmp_path / f"second-{n}.log"
                wait_running(
                    second.enter_context(run_process(etcd_server.endpoints, inventory, log)), log
                )

            def all_done() -> dict[str, State] | None:
                states = gateway_states(store, ids)
                return states if len(states) == len(ids) else None

            states = eventually(all_done, what="every gateway's /state", timeout=240, interval=0.5)
            assert {s.worker_state for s in states.values()} == {"CREATE_COMPLETED"}, states
            eventually(
                lambda: store.get_prefix(keys.JOBS_PREFIX) == [],
                what="no job keys left",
                timeout=60,
            )
            assert all(store.get(keys.job_state(GW, i)) is None for i in ids)

        assert_routers_carry(sim, graph, burst, commits)
