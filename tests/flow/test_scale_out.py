"""Several `nornir-esi run` processes on one etcd: shared work, one leader, hand-over."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

from nornir_esi.contract import desired, keys
from nornir_esi.contract.records import JobEntry
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.netsim.server import Simulator
from nornir_esi.store.base import Event, Store
from nornir_esi.testing.etcd import EtcdServer
from tests.store.helpers import eventually, history

from .conftest import INVENTORY
from .test_crash import run_process

CLI = [sys.executable, "-c", "from nornir_esi.cli import main; main()"]


def _gateways(count: int) -> list[tuple[str, dict[str, Any]]]:
    """``count`` gateways like the seed's, on VLANs 1025 and up of the same HA interface."""
    ((resource_type, seed),) = desired.load_file(INVENTORY / "gateway.yaml")
    out = []
    for n in range(count):
        vlan = 1025 + n
        body = dict(
            seed,
            id=str(uuid.uuid4()),
            vlan_id=str(vlan),
            name=f"gw-{vlan}",
            vrf_name=f"vrf_gw_sample-ha-router-downlink_{vlan}",
            primary_logical_interface_name=f"ae0.{vlan}",
            secondary_logical_interface_name=f"ae0.{vlan}",
        )
        out.append((resource_type, body))
    return out


def _commit_comments(pair: Simulator, name: str) -> list[str]:
    """The comments of the commits that made a change final on the router (a pair
    transaction's `commit confirmed` is followed by one confirming commit)."""
    return pair.call(lambda: [r.comment for r in pair.router(name).history if not r.confirmed])


def _apply_and_wait(store: Store, items: list[tuple[str, dict[str, Any]]]) -> None:
    desired.apply(store, items)
    for resource_type, body in items:
        state = wait_for_state(store, resource_type, body["id"], timeout=90)
        assert state is not None, f"{resource_type} {body['id']}: no state"
        assert state.worker_state in ("CREATE_COMPLETED", "READ_COMPLETE"), (state, body["id"])


def _creations(events: list[Event], prefix: str) -> dict[str, int]:
    """Key -> how many times it was created (a put while absent) under ``prefix``."""
    present: set[str] = set()
    created: dict[str, int] = {}
    for event in events:
        if not event.key.startswith(prefix):
            continue
        if event.kind == "delete":
            present.discard(event.key)
        elif event.key not in present:
            present.add(event.key)
            created[event.key] = created.get(event.key, 0) + 1
    return created


def _expected_jobs(items: list[tuple[str, dict[str, Any]]]) -> int:
    """A create plans heat and monitoring for a gateway, monitoring alone for the types
    with a monitoring template only, nothing for the non-workable ones."""
    per_type = {"internet_gateway": 2, "internet_service": 0, "qos_option": 0, "public_ip_pool": 0}
    return sum(per_type.get(t, 1) for t, _ in items)


def test_two_processes_share_the_work_without_duplicates(
    store: Store, etcd_server: EtcdServer, pair: Simulator, overrides: Path, tmp_path: Path
) -> None:
    pair.reset()
    resources = desired.load_file(INVENTORY / "resources.yaml")
    gateways = _gateways(6)
    # From before either process starts: their campaigns for /job_manager_id are seen.
    start = store.revision() + 1
    # Leases long enough that a busy machine does not expire one (which would rightly
    # re-claim a job or change the leader, and is not what this test is about).
    with (
        run_process(
            etcd_server.endpoints, overrides, tmp_path / "a.log", "--slots", "1", lease_ttl=15
        ),
        run_process(
            etcd_server.endpoints, overrides, tmp_path / "b.log", "--slots", "1", lease_ttl=15
        ),
    ):
        _apply_and_wait(store, resources)
        _apply_and_wait(store, gateways)
        # Both processes still live: everything up to here is their shared history.
        events = history(store, start)
        leader_now = store.get(keys.JOB_MANAGER_ID)

    # One claim per job: each /jobs/working/<id> created exactly once.
    claims = _creations(events, keys.JOBS_WORKING)
    assert claims and all(n == 1 for n in claims.values()), claims
    # Two processes, one worker each: both claimed jobs.
    workers = {e.value for e in events if e.kind == "put" and e.key.startswith(keys.JOBS_WORKING)}
    assert len(workers) == 2, workers

    # No version planned twice: one job per (job_name, handler), each created once.
    planned = _creations(events, keys.JOBS_ALL)
    assert all(n == 1 for n in planned.values()), planned
    by_workflow: dict[tuple[str, str], set[str]] = {}
    for event in events:
        if event.kind == "put" and event.key.startswith(keys.JOBS_ALL):
            job = JobEntry.from_value(event.value).job
            by_workflow.setdefault((job.job_name, job.handler), set()).add(job.id)
    assert {k: v for k, v in by_workflow.items() if len(v) != 1} == {}
    assert len(planned) == len(by_workflow) == _expected_jobs(resources + gateways)
    # Every planned job was claimed (and only those).
    assert {keys.job_id_of(k) for k in claims} == {keys.job_id_of(k) for k in planned}

    # Exactly one leader while both lived: /job_manager_id created once, never let go.
    leadership = [e for e in events if e.key == keys.JOB_MANAGER_ID]
    assert [e.kind for e in leadership] == ["put"], leadership
    assert leader_now is not None and leader_now.value == leadership[0].value

    # Every gateway's configuration was committed exactly once on each router.
    for name in ("vMX-router-01", "vMX-router-02"):
        comments = [c for c in _commit_comments(pair, name) if ":heat_worker:" in c]
        assert len(comments) == len(gateways) == len(set(comments)), comments
        for _, body in gateways:
            assert sum(body["id"] in c for c in comments) == 1, body["id"]


def test_killing_the_active_manager_hands_over_leadership(
    store: Store, etcd_server: EtcdServer, pair: Simulator, overrides: Path, tmp_path: Path
) -> None:
    pair.reset()
    with run_process(etcd_server.endpoints, overrides, tmp_path / "first.log") as first:
        leader = eventually(lambda: store.get(keys.JOB_MANAGER_ID), what="a leader", timeout=30)
        with run_process(etcd_server.endpoints, overrides, tmp_path / "second.log"):
            _apply_and_wait(store, desired.load_file(INVENTORY / "resources.yaml"))
            first.kill()  # no goodbye: its lease has to expire
            first.wait()
            successor = eventually(
                lambda: (
                    (e := store.get(keys.JOB_MANAGER_ID)) is not None
                    and e.value != leader.value
                    and e
                ),
                what="a new leader",
                timeout=30,
            )
            assert successor
            # The new leader plans: a gateway applied now is created.
            gateway = _gateways(1)
            _apply_and_wait(store, gateway)
    comments = [c for c in _commit_comments(pair, "vMX-router-01") if ":heat_worker:" in c]
    assert len(comments) == 1 and gateway[0][1]["id"] in comments[0]
    assert (
        json.loads(store.get(keys.state("internet_gateway", gateway[0][1]["id"])).value)["version"]
        == 1
    )
