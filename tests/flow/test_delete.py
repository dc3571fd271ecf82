"""The two-step delete (CONTRACT section 5), from the front door to an empty keyspace.

``desired.delete`` marks ``/config`` (version + 1, ``marked_for_deletion``,
``PENDING_DELETE``); the job manager plans the ``logical_delete`` (or ends it at once for
a type without templates) and, after ``DELETE_COMPLETED``, removes every key of the
resource. A resource that something staying still references is refused at the door.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nornir_esi.contract import desired, keys
from nornir_esi.contract.records import ConfigRecord, State
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.exceptions import ValidationError
from nornir_esi.netsim.server import Simulator
from nornir_esi.store.base import Store
from nornir_esi.testing.etcd import EtcdServer
from tests.store.helpers import eventually

from .test_cli import GATEWAY_FILE, RESOURCES_FILE, _words, cli
from .test_pair_flow import _items, _routers

GW = "internet_gateway"
RESOURCES = _items("resources.yaml")
((_, GATEWAY),) = _items("gateway.yaml")
GATEWAY_ID = GATEWAY["id"]
((_, HA_INTERFACE),) = [item for item in RESOURCES if item[0] == "ha_interface"]
((_, SERVICE),) = [item for item in RESOURCES if item[0] == "internet_service"]
((_, QOS),) = [item for item in RESOURCES if item[0] == "qos_option"]
ALL_ITEMS = [*RESOURCES, (GW, GATEWAY)]
EVERYTHING = [(t, b["id"]) for t, b in RESOURCES] + [(GW, GATEWAY_ID)]
UNKNOWN = "ffffffff-ffff-4fff-8fff-ffffffffffff"


def _resource_keys(resource_type: str, resource_id: str) -> list[str]:
    """Every key the contract keeps for one resource (the manager's cleanup removes them)."""
    return [
        make(resource_type, resource_id)
        for make in (
            keys.config,
            keys.state,
            keys.monitoring,
            keys.worker_config,
            keys.heat_stack,
            keys.applied,
            keys.job_state,
        )
    ]


def _leftovers(store: Store, resource_type: str, resource_id: str) -> list[str]:
    """The keys of the resource still there, and every /jobs key that mentions it."""
    left = [k for k in _resource_keys(resource_type, resource_id) if store.get(k) is not None]
    left += [
        e.key
        for e in store.get_prefix(keys.JOBS_PREFIX)
        if resource_id in e.key or resource_id in e.value
    ]
    return left


def _snapshot(store: Store) -> dict[str, tuple[str, int]]:
    return {e.key: (e.value, e.mod_revision) for e in store.get_prefix("")}


def _record(store: Store, resource_type: str, resource_id: str) -> ConfigRecord:
    entry = store.get(keys.config(resource_type, resource_id))
    assert entry is not None, (resource_type, resource_id)
    return ConfigRecord.from_value(entry.value)


def _create(store: Store, items: list[tuple[str, dict[str, Any]]]) -> None:
    desired.apply(store, items)
    for resource_type, body in items:
        state = wait_for_state(store, resource_type, body["id"], timeout=60)
        assert state is not None and not state.worker_state.endswith("_FAILED"), state
    # The last job's /state lands before the manager collects the job: wait for a quiet
    # keyspace, or a snapshot taken now would see the collection as a change.
    eventually(lambda: not store.get_prefix(keys.JOBS_PREFIX), timeout=10, what="jobs collected")


def _created(store: Store, pair: Simulator) -> dict[str, bytes]:
    """Everything created; the routers' running configuration before the gateway."""
    _create(store, RESOURCES)
    before = {name: running for name, (_, running) in _routers(pair).items()}
    _create(store, [(GW, GATEWAY)])
    assert all(running != before[name] for name, (_, running) in _routers(pair).items())
    return before


def _assert_deleted(store: Store, resource_type: str, resource_id: str, version: int) -> None:
    """The delete ends well and every key of the resource goes.

    The manager removes ``/state`` right after ``DELETE_COMPLETED``, so the wait is for
    either: the terminal state of the delete version, or nothing left at all.
    """
    state_key = keys.state(resource_type, resource_id)

    def ended() -> State | str | None:
        entry = store.get(state_key)
        if entry is not None:
            state = State.from_value(entry.value)
            return state if state.version >= version else None
        return "gone" if not _leftovers(store, resource_type, resource_id) else None

    outcome = eventually(ended, timeout=60, what=f"{resource_type} {resource_id} deleted")
    if isinstance(outcome, State):
        assert (outcome.worker_state, outcome.version) == ("DELETE_COMPLETED", version), outcome
    assert _wait_gone(store, resource_type, resource_id) == []


def _wait_gone(store: Store, resource_type: str, resource_id: str) -> list[str]:
    """``[]`` once every key of the resource is gone; what is left at the deadline."""
    try:
        eventually(
            lambda: not _leftovers(store, resource_type, resource_id),
            timeout=10,
            what=f"every key of {resource_type} {resource_id} gone",
        )
    except AssertionError:
        return _leftovers(store, resource_type, resource_id)
    return []


# --- the front door alone (no manager runs: what it writes stays as written) -------------


def test_delete_marks_config_with_a_new_version(store: Store) -> None:
    desired.apply(store, ALL_ITEMS)
    changes = desired.delete(store, [(GW, GATEWAY_ID)])
    assert changes == [desired.Change(GW, GATEWAY_ID, "deleting", 2)]
    record = _record(store, GW, GATEWAY_ID)
    assert record.marked_for_deletion and record.version == 2
    assert record.body == {**GATEWAY, "status": "PENDING_DELETE"}

    # A type without a status in its body gets none (the origin kept none there).
    changes = desired.delete(store, [("qos_option", QOS["id"])])
    assert [c.outcome for c in changes] == ["deleting"]
    assert _record(store, "qos_option", QOS["id"]).body == {**QOS, "status": "PENDING_DELETE"}
    desired.delete(store, [("internet_service", SERVICE["id"])])
    record = _record(store, "internet_service", SERVICE["id"])
    assert record.marked_for_deletion and record.body == SERVICE


def test_deleting_twice_is_unchanged_the_second_time(store: Store) -> None:
    desired.apply(store, ALL_ITEMS)
    assert desired.delete(store, [(GW, GATEWAY_ID)]) == [
        desired.Change(GW, GATEWAY_ID, "deleting", 2)
    ]
    revision = store.revision()
    # Named twice in one batch, and again later: still one delete version.
    assert desired.delete(store, [(GW, GATEWAY_ID), (GW, GATEWAY_ID)]) == [
        desired.Change(GW, GATEWAY_ID, "unchanged", 2)
    ]
    assert store.revision() == revision


def test_a_referenced_resource_is_refused_and_nothing_is_written(store: Store) -> None:
    desired.apply(store, ALL_ITEMS)
    before = _snapshot(store)
    revision = store.revision()
    ha_id = HA_INTERFACE["id"]

    # Every referrer that stays is named: all of them must go first.
    with pytest.raises(ValidationError) as refused:
        desired.delete(store, [("ha_interface", ha_id)])
    assert (refused.value.obj, refused.value.field) == (
        f"ha_interface {ha_id}",
        "downlink_interfaces",
    )
    assert f"internet_service {SERVICE['id']}" in refused.value.reason
    assert f"downlink_interface_id of internet_gateway {GATEWAY_ID}" in refused.value.reason

    # All or nothing: the gateway that can go does not go either.
    with pytest.raises(ValidationError) as refused:
        desired.delete(store, [(GW, GATEWAY_ID), ("qos_option", QOS["id"]), ("edge_router", "x")])
    assert refused.value.obj == "edge_router x"

    # With the gateway in the batch, the service's list relation still holds it.
    with pytest.raises(ValidationError) as refused:
        desired.delete(store, [(GW, GATEWAY_ID), ("ha_interface", ha_id)])
    assert str(refused.value) == (
        f"ha_interface {ha_id}: downlink_interfaces of internet_service {SERVICE['id']} "
        "still references it"
    )

    # The QoS option is held by the gateway, the service by both.
    with pytest.raises(ValidationError) as refused:
        desired.delete(store, [("qos_option", QOS["id"])])
    assert str(refused.value) == (
        f"qos_option {QOS['id']}: qos_option_id of internet_gateway {GATEWAY_ID} "
        "still references it"
    )

    assert _snapshot(store) == before
    assert store.revision() == revision


def test_an_unknown_resource_is_refused(store: Store) -> None:
    desired.apply(store, RESOURCES)
    revision = store.revision()
    for items, obj in (
        ([("edge_router", UNKNOWN)], f"edge_router {UNKNOWN}"),
        # Known id, other type: not that resource.
        ([("ha_router", HA_INTERFACE["id"])], f"ha_router {HA_INTERFACE['id']}"),
        ([("router", UNKNOWN)], "resource type 'router'"),
        ([("edge_router", "")], "edge_router ''"),
    ):
        with pytest.raises(ValidationError) as refused:
            desired.delete(store, items)
        assert refused.value.obj == obj, refused.value
    assert store.revision() == revision


def test_a_referrer_in_the_batch_or_already_marked_holds_nothing_up(store: Store) -> None:
    desired.apply(store, ALL_ITEMS)
    # Marked earlier, not yet removed (no manager here): no longer a referrer.
    desired.delete(store, [(GW, GATEWAY_ID)])
    # The HA interface before the service that offers it and the QoS option of that
    # service: one transaction, so the order is irrelevant.
    changes = desired.delete(
        store,
        [
            ("ha_interface", HA_INTERFACE["id"]),
            ("internet_service", SERVICE["id"]),
            ("qos_option", QOS["id"]),
        ],
    )
    assert [c.outcome for c in changes] == ["deleting"] * 3
    for resource_type, resource_id in EVERYTHING:
        record = _record(store, resource_type, resource_id)
        marked = resource_type in ("ha_interface", "internet_service", "qos_option", GW)
        assert record.marked_for_deletion == marked, (resource_type, record)


# --- the running system ---------------------------------------------------------------------


def test_deleting_the_gateway_removes_it_and_restores_the_routers(
    service_store: Store, pair: Simulator
) -> None:
    store = service_store
    before_gateway = _created(store, pair)
    (change,) = desired.delete(store, [(GW, GATEWAY_ID)])
    assert (change.outcome, change.version) == ("deleting", 2)

    _assert_deleted(store, GW, GATEWAY_ID, 2)
    assert {name: running for name, (_, running) in _routers(pair).items()} == before_gateway
    # What the gateway stood on stays, and stays desired.
    for resource_type, body in RESOURCES:
        assert not _record(store, resource_type, body["id"]).marked_for_deletion


def test_deleting_a_referenced_ha_interface_changes_nothing(
    service_store: Store, pair: Simulator
) -> None:
    store = service_store
    _created(store, pair)
    before = _snapshot(store)
    routers = _routers(pair)
    with pytest.raises(ValidationError) as refused:
        desired.delete(store, [("ha_interface", HA_INTERFACE["id"])])
    assert str(refused.value) == (
        f"ha_interface {HA_INTERFACE['id']}: downlink_interfaces of internet_service "
        f"{SERVICE['id']} still references it (and downlink_interface_id of internet_gateway "
        f"{GATEWAY_ID})"
    )
    assert _snapshot(store) == before
    assert _routers(pair) == routers


def test_deleting_everything_at_once_leaves_nothing(service_store: Store, pair: Simulator) -> None:
    store = service_store
    day0 = {name: running for name, (_, running) in _routers(pair).items()}
    _created(store, pair)
    # Referenced resources first, referrers last: one batch, so accepted anyway.
    changes = desired.delete(store, list(reversed(EVERYTHING)))
    assert [c.outcome for c in changes] == ["deleting"] * len(EVERYTHING)

    versions = {(c.resource_type, c.resource_id): c.version for c in changes}
    for (resource_type, resource_id), version in versions.items():
        _assert_deleted(store, resource_type, resource_id, version)
    assert {name: running for name, (_, running) in _routers(pair).items()} == day0
    assert store.get_prefix(keys.JOBS_PREFIX) == []
    left = [e.key for e in store.get_prefix(keys.CONFIG_PREFIX)]
    assert all(k.startswith(keys.HEAT_TEMPLATES_PREFIX) for k in left), left


# --- the command line ------------------------------------------------------------------------


def test_cli_delete(store: Store, etcd_server: EtcdServer, tmp_path: Path) -> None:
    etcd = ("--etcd", etcd_server.endpoints)
    desired.apply(store, ALL_ITEMS)
    revision = store.revision()

    # Refused: exit 2 and the reason on stderr, nothing written.
    for args, words in (
        (("ha_interface", HA_INTERFACE["id"]), ["still references it", GATEWAY_ID]),
        (("edge_router", UNKNOWN), [f"edge_router {UNKNOWN}: does not exist"]),
        (("--file", RESOURCES_FILE), ["still references it"]),
        (("internet_gateway",), ["TYPE ID pairs"]),
        ((), ["TYPE ID pairs"]),
        (("--file", GATEWAY_FILE, GW, GATEWAY_ID), ["not both"]),
    ):
        result = cli("delete", *args, *etcd)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert result.stdout == "", args
        for word in words:
            assert word in result.stderr, (args, result.stderr)
    assert store.revision() == revision

    result = cli("delete", GW, GATEWAY_ID, *etcd)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"deleting {GW} {GATEWAY_ID} version 2\n"
    result = cli("delete", GW, GATEWAY_ID, *etcd)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"unchanged {GW} {GATEWAY_ID} version 2\n"

    # The rest from the file that created it: the gateway no longer holds it up.
    result = cli("delete", "--file", RESOURCES_FILE, *etcd)
    assert result.returncode == 0, result.stderr
    assert _words(result.stdout) == [["deleting", t, b["id"], "version", "2"] for t, b in RESOURCES]
    for resource_type, resource_id in EVERYTHING:
        assert _record(store, resource_type, resource_id).marked_for_deletion

    # A file whose body has no id names the file.
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {type: edge_router, body: {name: r1}}\n")
    result = cli("delete", "--file", bad, *etcd)
    assert result.returncode == 2
    assert f"file {bad}: id is missing (edge_router body)" in result.stderr


def test_a_resource_being_deleted_cannot_be_referenced_anew(store: Store) -> None:
    desired.apply(store, RESOURCES)
    # What the gateway would use, being deleted (nothing else references these three).
    doomed = [
        (t, b["id"])
        for t, b in RESOURCES
        if t in ("ha_interface", "internet_service", "qos_option")
    ]
    assert [c.outcome for c in desired.delete(store, doomed)] == ["deleting"] * 3
    with pytest.raises(ValidationError) as err:
        desired.apply(store, [("internet_gateway", GATEWAY)])
    assert err.value.field == "downlink_interface_id", str(err.value)
    assert err.value.reason == f"references ha_interface {HA_INTERFACE['id']}, which does not exist"
    assert store.get(keys.config("internet_gateway", GATEWAY_ID)) is None
