"""A burst of gateways on a 3-member etcd cluster whose leader goes away and comes back.

Three ``nornir-esi run`` processes (two with a job manager and a worker, one worker only)
talk to all three etcd members; a simulator serves several router pairs
(``tests/synthetic.py``). While a burst of gateway creates spread over the pairs is being
worked, the etcd leader member is stopped, and started again later. Every gateway must be
created, and every router must carry exactly the gateways of its pair, each committed
once.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

import pytest

from nornir_esi.contract import desired, keys
from nornir_esi.contract.records import State
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.exceptions import TemporaryError
from nornir_esi.netsim.server import Simulator
from nornir_esi.store.base import Store
from nornir_esi.testing.etcd import EtcdCluster
from tests.store.helpers import eventually, retry
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
from .test_restart import Mix

PAIRS = 5
BATCH = 20  # gateways per desired.apply (one etcd transaction, well under 128 ops)
GW = "internet_gateway"


# The burst: 200 gateways over 5 router pairs (40 per pair competing for the same
# routers' locks), 3 worker processes, 2 managers, the etcd leader stopped mid-burst.
BURST = 200


@pytest.fixture
def cluster() -> Iterator[EtcdCluster]:
    with EtcdCluster(3) as c:
        yield c


@pytest.mark.timeout(300)
def test_a_burst_survives_losing_the_etcd_leader(cluster: EtcdCluster, tmp_path: Path) -> None:
    count = BURST
    began = time.monotonic()
    graph = resource_graph(PAIRS)
    names = router_names(graph)
    burst = gateways(graph, count)
    ids = {body["id"] for _, body in burst}
    endpoints = ",".join(cluster.endpoints)
    # A Junos minute of 30 s: confirm timers must not run out while 2 cores are busy.
    with Simulator(router_specs(graph), minute=30) as sim, ExitStack() as stack:
        inventory = overrides_for(sim, names, tmp_path)
        commits = CommitLog(sim)
        store = stack.enter_context(_closing(cluster.client(timeout=5.0)))
        procs = _start_three(stack, endpoints, inventory, tmp_path)
        desired.apply(store, graph)
        for resource_type, body in graph:
            state = wait_for_state(store, resource_type, body["id"], timeout=60)
            assert state is not None, (resource_type, body["id"])
            assert state.worker_state in ("CREATE_COMPLETED", "READ_COMPLETE"), state

        stopped = None
        for n in range(0, len(burst), BATCH):
            retry(lambda n=n: desired.apply(store, burst[n : n + BATCH]), timeout=30)
            if stopped is None and n >= len(burst) // 4:
                # A quarter of the burst is in: the leader goes, mid-burst.
                stopped = cluster.leader()
                cluster.stop_member(stopped)
        assert stopped is not None
        # Work goes on with two members; some gateways get done before the member returns.
        with _explained(store, ids, procs):
            eventually(
                lambda: len(gateway_states(store, ids)) >= len(ids) // 2,
                what="half of the burst done on two members",
                timeout=180,
            )
        cluster.start_member(stopped)
        assert cluster.running(stopped)

        def done() -> dict[str, State] | None:
            states = gateway_states(store, ids)
            return states if len(states) == len(ids) else None

        with _explained(store, ids, procs):
            states = eventually(done, what="every gateway's /state", timeout=240, interval=0.5)
        failed = {i: s for i, s in states.items() if s.worker_state != "CREATE_COMPLETED"}
        assert not failed, failed
        eventually(
            lambda: retry(lambda: store.get_prefix(keys.JOBS_PREFIX)) == [],
            what="no job keys left",
            timeout=60,
        )
        # No workflow's working state outlived the leader's loss; a pair queue entry whose
        # release failed in the outage goes with its lease (the mutex's ttl, 30 s).
        assert retry(lambda: store.get_prefix(keys.JOB_STATE_PREFIX)) == []
        eventually(
            lambda: retry(lambda: store.get_prefix(keys.PAIR_QUEUE_PREFIX)) == [],
            what="no pair queue entry left",
            timeout=45,
        )
        for proc, log in procs:
            assert proc.poll() is None, f"{log.name} died: {log.read_text(errors='replace')}"
        assert_routers_carry(sim, graph, burst, commits)
    print(f"{count} gateways on {PAIRS} pairs: {time.monotonic() - began:.1f} s")


@pytest.mark.timeout(300)
def test_updates_and_deletes_survive_losing_the_etcd_leader(
    cluster: EtcdCluster, tmp_path: Path
) -> None:
    """The update and two-step delete lifecycles (with creates) in flight while the etcd
    leader is stopped: every version ends in exactly one terminal /state, deleted gateways
    leave no key, each router carries exactly the live gateways."""
    mix = Mix.of(2)
    ids = mix.ids
    endpoints = ",".join(cluster.endpoints)
    with Simulator(router_specs(mix.graph), minute=30) as sim, ExitStack() as stack:
        inventory = overrides_for(sim, router_names(mix.graph), tmp_path)
        store = stack.enter_context(_closing(cluster.client(timeout=5.0)))
        procs = _start_three(stack, endpoints, inventory, tmp_path)
        mix.prepare(store)
        start = mix.start(store)
        stopped = cluster.leader()
        cluster.stop_member(stopped)
        with _explained(store, ids, procs):
            eventually(
                lambda: mix.done(store) >= len(ids) // 2,
                what="half of the mix done on two members",
                timeout=180,
            )
        cluster.start_member(stopped)
        with _explained(store, ids, procs):
            eventually(
                lambda: mix.done(store) == len(ids),
                what="every version terminal",
                timeout=240,
                interval=0.5,
            )
        retry(lambda: mix.assert_ended(store, sim, start), timeout=60)
        for proc, log in procs:
            assert proc.poll() is None, f"{log.name} died: {log.read_text(errors='replace')}"


def _start_three(
    stack: ExitStack, endpoints: str, inventory: Path, tmp_path: Path
) -> list[tuple[subprocess.Popen[bytes], Path]]:
    """The issue's processes: two with a job manager and a worker, one worker only."""
    procs = []
    for name, args in (("a", ()), ("b", ()), ("c", ("--no-manager",))):
        log = tmp_path / f"{name}.log"
        procs.append((stack.enter_context(run_process(endpoints, inventory, log, *args)), log))
    for proc, log in procs:
        wait_running(proc, log)
    return procs


@contextmanager
def _explained(
    store: Store, ids: set[str], procs: list[tuple[subprocess.Popen[bytes], Path]]
) -> Iterator[None]:
    """A failed wait also tells where the work stands: the queues, and each process's
    last words."""
    try:
        yield
    except AssertionError as exc:
        lines = [str(exc)]
        with suppress(TemporaryError):
            lines.append(f"gateways done: {len(gateway_states(store, ids))} of {len(ids)}")
            queues = {
                name: len(store.get_prefix(prefix))
                for name, prefix in (
                    ("waiting", keys.JOBS_WAITING),
                    ("ready", keys.JOBS_READY),
                    ("working", keys.JOBS_WORKING),
                    ("finished", keys.JOBS_FINISHED),
                )
            }
            leader = store.get(keys.JOB_MANAGER_ID)
            lines.append(f"jobs: {queues}; manager: {leader.value if leader else None}")
        for proc, log in procs:
            tail = log.read_text(errors="replace").splitlines()[-12:]
            lines.append(f"--- {log.name} (exit {proc.poll()}):")
            lines += [line[:240] for line in tail]
        raise AssertionError("\n".join(lines)) from exc


class _closing:  # noqa: N801 (stands for contextlib.closing, and is named so)
    def __init__(self, store: Store) -> None:
        self.store = store

    def __enter__(self) -> Store:
        return self.store

    def __exit__(self, *exc: object) -> None:
        with suppress(TemporaryError):
            self.store.close()
