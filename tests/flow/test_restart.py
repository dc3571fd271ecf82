"""Everything killed mid-burst and started again: the system reconciles from etcd alone."""

from __future__ import annotations

import signal
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nornir_esi.contract import desired, keys
from nornir_esi.contract.records import ConfigRecord, State
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.netsim.server import Simulator
from nornir_esi.store.base import Store
from nornir_esi.testing.etcd import EtcdServer
from tests.store.helpers import eventually, history
from tests.synthetic import (
    CommitLog,
    assert_routers_carry,
    carried,
    expected,
    gateway_states,
    gateways,
    overrides_for,
    pair_routers,
    pairs_of,
    qos_20m,
    qos_inputs,
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
            # No workflow's working state outlived the restart; a killed process's place in
            # a pair's queue goes with its lease (the mutex's ttl, 30 s), none stays.
            assert store.get_prefix(keys.JOB_STATE_PREFIX) == []
            eventually(
                lambda: store.get_prefix(keys.PAIR_QUEUE_PREFIX) == [],
                what="no pair queue entry left",
                timeout=45,
            )

        assert_routers_carry(sim, graph, burst, commits)


@dataclass
class Mix:
    """Gateways created, then a mix of changes to put in flight: updates (to another QoS
    option, visible on the routers), two-step deletes and creates."""

    graph: list[tuple[str, dict[str, Any]]]
    faster: list[tuple[str, dict[str, Any]]]
    existing: list[tuple[str, dict[str, Any]]]
    updated: list[tuple[str, dict[str, Any]]]
    deleted: set[str]
    created: list[tuple[str, dict[str, Any]]]
    live: list[dict[str, Any]]
    # The version each gateway's /state must end at (deleted ones: none, keys gone).
    final: dict[str, int]

    @classmethod
    def of(cls, pairs: int) -> Mix:
        graph = resource_graph(pairs)
        faster = qos_20m(graph)
        other_qos = {
            pair["qos_option"]["id"]: body["id"]
            for pair, (_, body) in zip(pairs_of(graph), faster, strict=True)
        }
        burst = gateways(graph, 40)
        existing, created = burst[:24], burst[24:]
        updated = [
            (GW, dict(body, qos_option_id=other_qos[body["qos_option_id"]], description="faster"))
            for _, body in existing[:12]
        ]
        kept = existing[20:]
        return cls(
            graph=graph,
            faster=faster,
            existing=existing,
            updated=updated,
            deleted={body["id"] for _, body in existing[12:20]},
            created=created,
            live=[body for _, body in (*updated, *kept, *created)],
            final={b["id"]: 2 for _, b in updated} | {b["id"]: 1 for _, b in (*kept, *created)},
        )

    @property
    def ids(self) -> set[str]:
        return set(self.final) | self.deleted

    def prepare(self, store: Store) -> None:
        """The resources and the gateways to change, created."""
        desired.apply(store, [*self.graph, *self.faster])
        for resource_type, body in [*self.graph, *self.faster]:
            assert wait_for_state(store, resource_type, body["id"], timeout=60) is not None
        desired.apply(store, self.existing[:12])
        desired.apply(store, self.existing[12:])
        for _, body in self.existing:
            state = wait_for_state(store, GW, body["id"], timeout=120)
            assert state is not None and state.worker_state == "CREATE_COMPLETED", state

    def start(self, store: Store) -> int:
        """The mix written; the revision it starts at."""
        start = store.revision() + 1
        desired.apply(store, self.updated)
        desired.delete(store, [(GW, i) for i in sorted(self.deleted)])
        desired.apply(store, self.created)
        return start

    def done(self, store: Store) -> int:
        states = gateway_states(store, self.ids)
        finished = sum(1 for i, v in self.final.items() if i in states and states[i].version >= v)
        return finished + sum(
            1
            for i in self.deleted
            if i not in states or states[i].worker_state == "DELETE_COMPLETED"
        )

    def assert_ended(self, store: Store, sim: Simulator, start: int) -> None:
        """Nothing in flight; every version written since ``start`` ended in exactly one
        terminal /state; deleted gateways left no key; each router carries exactly the
        live gateways, with nothing pending."""
        eventually(
            lambda: store.get_prefix(keys.JOBS_PREFIX) == [], what="no job keys left", timeout=60
        )
        assert store.get_prefix(keys.JOB_STATE_PREFIX) == []
        # A killed process's pair queue entry goes with its lease (the mutex's ttl, 30 s).
        eventually(
            lambda: store.get_prefix(keys.PAIR_QUEUE_PREFIX) == [],
            what="no pair queue entry left",
            timeout=45,
        )
        states = gateway_states(store, self.ids)
        assert {i: (s.version, s.worker_state) for i, s in states.items()} == {
            i: (v, "MODIFY_COMPLETED" if v == 2 else "CREATE_COMPLETED")
            for i, v in self.final.items()
        }
        # A deleted gateway's keys go right after its last job is collected.
        gone = [keys.config, keys.state, keys.worker_config, keys.heat_stack, keys.job_state]
        eventually(
            lambda: all(store.get(key(GW, i)) is None for i in self.deleted for key in gone),
            what="every key of the deleted gateways removed",
        )
        written, ended = _versions_and_states(store, start)
        assert sorted(version for version, _ in ended) == sorted(written)
        assert sorted((i, v, s) for (i, v), s in ended if i in self.deleted) == sorted(
            (i, 2, "DELETE_COMPLETED") for i in self.deleted
        )
        qos = qos_inputs([*self.graph, *self.faster])
        names = router_names(self.graph)
        on_router: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        for body in self.live:
            for name in pair_routers(self.graph, body).values():
                on_router[name].append(body)
        for name, bodies in on_router.items():
            assert carried(sim, name) == expected(bodies, qos), name
            router = sim.router(name)
            assert sim.call(lambda r=router: (r.lock_owner, r.confirm_pending)) == (None, False)


def test_restart_everything_with_creates_updates_and_deletes_in_flight(
    store: Store, etcd_server: EtcdServer, tmp_path: Path
) -> None:
    """The mix in flight; everything is killed mid-way and started again: every version
    ends in exactly one terminal /state, deleted gateways leave no key, and each router
    carries exactly the live gateways."""
    mix = Mix.of(2)
    ids = mix.ids
    with Simulator(router_specs(mix.graph), minute=30) as sim:
        inventory = overrides_for(sim, router_names(mix.graph), tmp_path)
        with ExitStack() as first:
            procs = []
            for n in range(2):
                log = tmp_path / f"first-{n}.log"
                procs.append(
                    first.enter_context(run_process(etcd_server.endpoints, inventory, log))
                )
                wait_running(procs[-1], log)
            mix.prepare(store)
            start = mix.start(store)
            eventually(
                lambda: mix.done(store) >= len(ids) // 4,
                what="a quarter of the mix done",
                timeout=120,
            )
            for proc in procs:  # everything dies at once, mid-way
                proc.send_signal(signal.SIGKILL)
                proc.wait()
        assert mix.done(store) < len(ids), "the mix was over before the kill"

        with ExitStack() as second:
            for n in range(2):
                log = tmp_path / f"second-{n}.log"
                wait_running(
                    second.enter_context(run_process(etcd_server.endpoints, inventory, log)), log
                )
            eventually(
                lambda: mix.done(store) == len(ids),
                what="every version terminal",
                timeout=240,
                interval=0.5,
            )
            mix.assert_ended(store, sim, start)


def _versions_and_states(
    store: Store, start: int
) -> tuple[set[tuple[str, int]], list[tuple[tuple[str, int], str]]]:
    """From revision ``start`` to now: the gateway versions written to ``/config``, and
    every ``/state`` written (``((id, version), worker_state)``, duplicates kept)."""
    written: set[tuple[str, int]] = set()
    ended: list[tuple[tuple[str, int], str]] = []
    config_prefix = keys.type_prefix(keys.CONFIG_PREFIX, GW)
    state_prefix = keys.type_prefix(keys.STATE_PREFIX, GW)
    for event in history(store, start):
        if event.kind != "put":
            continue
        if event.key.startswith(config_prefix):
            record = ConfigRecord.from_value(event.value)
            written.add((str(record.body["id"]), record.version))
        elif event.key.startswith(state_prefix):
            state = State.from_value(event.value)
            resource_id = event.key.removeprefix(state_prefix)
            ended.append(((resource_id, state.version), state.worker_state))
    return written, ended
