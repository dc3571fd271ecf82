"""The pair as one transaction, seen from etcd: dry run, drift, repair, modify, delete, faults."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from nornir_esi.contract import desired, keys
from nornir_esi.contract.records import ConfigRecord
from nornir_esi.device import netconf
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.junos.diff import diff_text
from nornir_esi.junos.tree import canonical_bytes
from nornir_esi.netsim.device import FAULT_HOLDER
from nornir_esi.netsim.sample import VRF
from nornir_esi.netsim.server import Simulator
from nornir_esi.pair.devices import NornirDevices
from nornir_esi.service import Service
from nornir_esi.services import operations
from nornir_esi.store.base import Store
from tests.store.helpers import eventually

from .conftest import INVENTORY, ROUTERS
from .test_create_flow import _origin_sections
from .test_lifecycle import _events_until

GW = "internet_gateway"


def _items(name: str) -> list[tuple[str, dict[str, Any]]]:
    return desired.load_file(INVENTORY / name)


def _create_all(store: Store) -> dict[str, Any]:
    """The sample resources and the seed's gateway, created; the gateway's body."""
    items = _items("resources.yaml") + _items("gateway.yaml")
    desired.apply(store, items)
    for resource_type, body in items:
        state = wait_for_state(store, resource_type, body["id"], timeout=60)
        assert state is not None and not state.worker_state.endswith("_FAILED"), state
    return items[-1][1]


def _routers(pair: Simulator) -> dict[str, tuple[int, bytes]]:
    """Per router: commits so far and the running configuration."""
    return {
        name: pair.call(
            lambda n=name: (len(pair.router(n).history), canonical_bytes(pair.router(n).running))
        )
        for name in ROUTERS.values()
    }


def _normal(diff: str) -> list[str]:
    return [" ".join(line.split()) for line in diff.splitlines() if line.strip()]


def _out_of_band(pair: Simulator, router: str, commands: str) -> None:
    """Another operator changes a router by hand."""
    host, port = pair.address(router)
    with netconf.connect(host, port, username="noc", password="x") as m:
        m.load_configuration(action="set", config=commands)
        m.commit(comment="by hand")


def test_plan_shows_the_origin_diff_and_changes_nothing(
    store: Store, pair: Simulator, overrides: Path
) -> None:
    pair.reset()
    desired.apply(store, _items("resources.yaml"))  # no manager runs: nothing is pushed
    devices = NornirDevices(overrides=str(overrides))
    before = _routers(pair)
    sections = _origin_sections()
    expected = {ROUTERS["secondary"]: sections["MX-1"], ROUTERS["primary"]: sections["MX-2"]}

    # A resource file, validated and not written.
    (planned,) = operations.plan_items(store, devices, _items("gateway.yaml"))
    plan = planned.diffs
    assert {name: _normal(diff) for name, diff in plan.items()} == expected
    assert store.get_prefix(keys.type_prefix(keys.CONFIG_PREFIX, GW)) == []

    # A pending /config version.
    desired.apply(store, _items("gateway.yaml"))
    ((_, body),) = _items("gateway.yaml")
    plan = operations.plan_pending(store, devices, body["id"])
    assert {name: _normal(diff) for name, diff in plan.items()} == expected
    assert _routers(pair) == before


def test_drift_is_reported_and_repaired(
    service_store: Store, pair: Simulator, overrides: Path
) -> None:
    store = service_store
    gateway = _create_all(store)
    devices = NornirDevices(overrides=str(overrides))
    assert not operations.check(store, devices, gateway["id"]).found

    secondary = ROUTERS["secondary"]
    term = f"firewall family inet filter INET_IN term {VRF}_filter"
    _out_of_band(
        pair, secondary, f"delete {term}\nset {term.replace('INET_IN', 'INET_OUT')} then log\n"
    )
    drift = operations.check(store, devices, gateway["id"])
    assert drift.found
    assert drift.diffs[ROUTERS["primary"]].strip() == ""
    lines = _normal(drift.diffs[secondary])
    assert "[edit firewall family inet filter INET_IN]" in lines
    assert f"+ term {VRF}_filter {{" in lines  # missing, would be added back
    assert "- log;" in lines  # added by hand to our term, would go
    record = json.loads(store.get(keys.monitoring(GW, gateway["id"])).value)  # type: ignore[union-attr]
    assert record["drift"] == "FOUND" and secondary in record["drift_routers"]

    result = operations.repair(store, devices, gateway["id"])
    assert result.changed
    assert not operations.check(store, devices, gateway["id"]).found
    record = json.loads(store.get(keys.monitoring(GW, gateway["id"])).value)  # type: ignore[union-attr]
    assert record["drift"] == "NONE"
    terms = pair.call(
        lambda: [
            t.findtext("name")
            for t in pair.router(secondary).running.iterfind(
                "firewall/family/inet/filter[name='INET_IN']/term"
            )
        ]
    )
    assert terms == [f"{VRF}_filter", "all-accept"]


def _write(store: Store, resource_type: str, body: dict[str, Any], *, delete: bool = False) -> int:
    """A new version of a resource as a front door writes it (delete: the first step)."""
    key = keys.config(resource_type, body["id"])
    current = ConfigRecord.from_value(store.get(key).value)  # type: ignore[union-attr]
    status = "PENDING_DELETE" if delete else "PENDING_UPDATE"
    record = ConfigRecord(
        body={**body, "status": status}, version=current.version + 1, marked_for_deletion=delete
    )
    store.put(key, record.to_json())
    return record.version


def test_create_then_delete_leaves_the_routers_as_they_were(
    service_store: Store, pair: Simulator
) -> None:
    store = service_store
    day0 = {name: running for name, (_, running) in _routers(pair).items()}
    gateway = _create_all(store)
    assert all(running != day0[name] for name, (_, running) in _routers(pair).items())
    start = store.revision() + 1
    version = _write(store, GW, gateway, delete=True)
    events = _events_until(store, start, keys.state(GW, gateway["id"]), version)
    state = json.loads(events[-1].value)["state"]
    assert state["worker_state"] == "DELETE_COMPLETED", state
    stacks = [
        json.loads(e.value)
        for e in events
        if e.key == keys.heat_stack(GW, gateway["id"]) and e.kind == "put"
    ]
    assert [(s["stack_id"], s["stack_status"]) for s in stacks] == [("", "DELETE_COMPLETE")]
    assert {name: running for name, (_, running) in _routers(pair).items()} == day0
    # Then the second step: every key of the gateway goes.
    eventually(
        lambda: (
            not any(
                store.get(key(GW, gateway["id"]))
                for key in (
                    keys.config,
                    keys.state,
                    keys.applied,
                    keys.heat_stack,
                    keys.worker_config,
                    keys.job_state,
                    keys.monitoring,
                )
            )
        ),
        what="the gateway's keys gone",
    )


def test_a_new_qos_option_is_a_minimal_diff(service_store: Store, pair: Simulator) -> None:
    store = service_store
    gateway = _create_all(store)
    faster = _faster_qos(store)
    before = {name: pair.call(lambda n=name: pair.router(n).running) for name in ROUTERS.values()}
    changes = desired.apply(store, [(GW, dict(gateway, qos_option_id=faster["id"]))])
    assert [c.outcome for c in changes] == ["updated"]
    state = wait_for_state(store, GW, gateway["id"], version=2, timeout=60)
    assert state is not None and state.worker_state == "MODIFY_COMPLETED", state
    for name in ROUTERS.values():
        after = pair.call(lambda n=name: pair.router(n).running)
        lines = _normal(diff_text(before[name], after))
        assert [line for line in lines if line[0] in "+-"] == [
            "- input FILTER_10M-GA-UP-INET;",
            "+ input FILTER_20M-GA-UP-INET;",
            "- output FILTER_10M-GA-DOWN-INET;",
            "+ output FILTER_20M-GA-DOWN-INET;",
        ], name
        assert {line for line in lines if line[0] == "["} == {
            "[edit interfaces ae0 unit 1025 family inet filter]"
        }, name


FAULTS = {
    # fault: (router role, faults, the step the job's error names, words it must carry)
    "secondary refuses commit check": (
        "secondary",
        {"fail_checks": 1, "check_message": "commit check failed: RE busy"},
        "commit check",
        ["RE busy"],
    ),
    "primary's commit fails after the secondary's confirmed commit": (
        "primary",
        {"fail_commits": 1, "fail_message": "commit failed: RE busy"},
        "commit confirmed",
        ["RE busy", f"{ROUTERS['secondary']}: rolled back to its previous configuration"],
    ),
    # A dropped session is temporary: the worker retries (once here), and it drops again.
    "primary drops the session mid-commit": (
        "primary",
        {"drop_on_commit": 3, "drop_after_apply": True},
        "commit confirmed",
        [],
    ),
    "primary's lock is held by another session": (
        "primary",
        {"hold_lock": True},
        "lock",
        [],
    ),
    # What the verifier saw last is not asserted: it keeps looking for 15 s, longer than
    # this simulator's Junos minute (5 s), so the trial commit may have reverted by itself.
    "verification fails on the first router": (
        "secondary",
        {"links_down": {"ae0"}},
        "verify",
        [],
    ),
}


def _assert_untouched(
    pair: Simulator, before: dict[str, tuple[int, bytes]], after: dict[str, tuple[int, bytes]]
) -> None:
    """Both routers on their configuration of ``before``: no lock of ours, no change left in
    the candidate, no confirmed commit pending."""
    for name in ROUTERS.values():
        assert after[name][1] == before[name][1], name  # the same running configuration
        router = pair.router(name)
        # No lock of ours is left (the held-lock fault's own holder aside).
        assert pair.call(lambda r=router: r.lock_owner) in (None, FAULT_HOLDER), name
        assert not pair.call(lambda r=router: r.candidate_modified()), name
        assert not pair.call(lambda r=router: r.confirm_pending), name


@pytest.mark.parametrize("fault", list(FAULTS), ids=list(FAULTS))
def test_a_router_fault_fails_the_job_and_leaves_both_routers_unchanged(
    store: Store, pair: Simulator, overrides: Path, fault: str
) -> None:
    role, faults, step, words = FAULTS[fault]
    pair.reset()
    with Service(
        store, inventory=str(overrides), manager_lease_ttl=5, worker_lease_ttl=5, retries=1
    ):
        desired.apply(store, _items("resources.yaml"))
        for resource_type, body in _items("resources.yaml"):
            assert wait_for_state(store, resource_type, body["id"], timeout=60) is not None
        before = _routers(pair)
        pair.set_faults(ROUTERS[role], **faults)
        ((gw_type, body),) = _items("gateway.yaml")
        desired.apply(store, [(gw_type, body)])
        state = wait_for_state(store, gw_type, body["id"], timeout=90)
        after = _routers(pair)
        _assert_untouched(pair, before, after)
    pair.reset()
    assert state is not None and state.worker_state == "CREATE_FAILED", state
    # The error names the router and the step that failed there.
    assert f"router {ROUTERS[role]}: {step}: " in state.error, state.error
    for word in words:
        assert word in state.error, state.error
    assert store.get(keys.job_state(gw_type, body["id"])) is None


def _faster_qos(store: Store) -> dict[str, Any]:
    """A second QoS option, created: the body of a modify that changes the gateway's filters."""
    ((_, qos),) = [item for item in _items("resources.yaml") if item[0] == "qos_option"]
    faster = dict(
        qos,
        id=str(uuid.uuid4()),
        name="20Mbps-Guaranteed",
        bandwidth="20",
        incoming_policer_name="20M-GA-UP-INET",
        outgoing_policer_name="20M-GA-DOWN-INET",
    )
    desired.apply(store, [("qos_option", faster)])
    state = wait_for_state(store, "qos_option", faster["id"], timeout=60)
    assert state is not None and not state.worker_state.endswith("_FAILED"), state
    return faster


@pytest.mark.parametrize("action", ["modify", "delete"])
@pytest.mark.parametrize(
    "fault",
    [
        "secondary refuses commit check",
        "primary's commit fails after the secondary's confirmed commit",
        "verification fails on the first router",
    ],
)
def test_a_router_fault_fails_a_modify_or_delete_and_leaves_both_routers_unchanged(
    service_store: Store, pair: Simulator, action: str, fault: str
) -> None:
    role, faults, step, words = FAULTS[fault]
    if action == "delete" and step == "verify":
        # A delete verifies that the unit is gone, which a link down does not disturb.
        faults, words = {"fail_checks": 1, "check_message": "RE busy"}, ["RE busy"]
        step = "commit check"
    store = service_store
    gateway = _create_all(store)
    body = dict(gateway, qos_option_id=_faster_qos(store)["id"]) if action == "modify" else None
    before = _routers(pair)
    pair.set_faults(ROUTERS[role], **faults)
    if body is not None:
        version = _write(store, GW, body)
    else:
        version = _write(store, GW, gateway, delete=True)
    state = wait_for_state(store, GW, gateway["id"], version=version, timeout=90)
    after = _routers(pair)
    pair.reset()
    assert state is not None and state.worker_state == f"{action.upper()}_FAILED", state
    assert f"router {ROUTERS[role]}: {step}: " in state.error, state.error
    for word in words:
        assert word in state.error, state.error
    _assert_untouched(pair, before, after)
    assert store.get(keys.job_state(GW, gateway["id"])) is None


def test_the_leading_process_checks_for_drift_periodically(
    store: Store, pair: Simulator, overrides: Path
) -> None:
    pair.reset()
    with Service(
        store, inventory=str(overrides), manager_lease_ttl=5, worker_lease_ttl=5, drift_interval=0.5
    ):
        gateway = _create_all(store)
        key = keys.monitoring(GW, gateway["id"])
        eventually(
            lambda: (e := store.get(key)) is not None and json.loads(e.value)["drift"] == "NONE",
            what="a clean check",
        )
        _out_of_band(pair, ROUTERS["primary"], "delete interfaces ae0 unit 1025 description\n")
        record = eventually(
            lambda: (
                (e := store.get(key)) is not None
                and json.loads(e.value)["drift"] == "FOUND"
                and json.loads(e.value)
            ),
            what="the drift found",
        )
        # The description was removed by hand: the check would add it back.
        assert "+ description inet_gw;" in _normal(record["drift_routers"][ROUTERS["primary"]])


# Statements added out of band inside the gateway's own objects: (router role, commands,
# the lines `check` must report for that router, headers and all, in any order).
ADDITIONS = {
    "another tenant's unit in the gateway's VRF": (
        "primary",
        "set interfaces ae0 unit 1099 vlan-id 1099\n"
        f"set routing-instances {VRF} interface ae0.1099\n"
        f"set routing-instances {VRF} description leak\n",
        [f"[edit routing-instances {VRF}]", "- interface ae0.1099;", "- description leak;"],
    ),
    "an extra statement in the gateway's unit": (
        "secondary",
        "set interfaces ae0 unit 1025 encapsulation vlan-bridge\n",
        ["[edit interfaces ae0 unit 1025]", "- encapsulation vlan-bridge;"],
    ),
}


@pytest.mark.parametrize("addition", list(ADDITIONS), ids=list(ADDITIONS))
def test_an_addition_inside_the_gateway_is_reported_and_repaired(
    service_store: Store, pair: Simulator, overrides: Path, addition: str
) -> None:
    role, commands, expected = ADDITIONS[addition]
    store = service_store
    gateway = _create_all(store)
    devices = NornirDevices(overrides=str(overrides))
    created = _routers(pair)
    router, other = ROUTERS[role], ROUTERS["secondary" if role == "primary" else "primary"]
    _out_of_band(pair, router, commands)

    drift = operations.check(store, devices, gateway["id"])
    assert drift.found
    assert set(_normal(drift.diffs[router])) == set(expected)
    assert drift.diffs[other] == ""

    result = operations.repair(store, devices, gateway["id"])
    assert result.changed
    assert set(_normal(result.diffs[router])) == set(expected)
    assert not operations.check(store, devices, gateway["id"]).found
    after = _routers(pair)
    assert after[other] == created[other]  # the clean router got no commit
    # The gateway's objects are back as they were created, to the statement.
    (_, running), (_, hand) = created[router], after[router]
    unit = "interfaces/interface[name='ae0']/unit[name='1025']"
    instance = f"routing-instances/instance[name='{VRF}']"
    for path in (unit, instance):
        was = etree.fromstring(running).find(path)
        now = etree.fromstring(hand).find(path)
        assert was is not None and now is not None
        assert diff_text(was, now) == "", path


def _with_vrf_config(text: str) -> list[tuple[str, dict[str, Any]]]:
    """The sample resources, the internet service carrying ``text`` as its vrf_config."""
    return [
        (kind, dict(body, vrf_config=text) if kind == "internet_service" else body)
        for kind, body in _items("resources.yaml")
    ]


def test_a_services_vrf_config_is_committed_on_both_routers(
    service_store: Store, pair: Simulator, overrides: Path
) -> None:
    store = service_store
    static = "routing-options {\n    static {\n        route 0.0.0.0/0 discard;\n    }\n}\n"
    items = _with_vrf_config(static) + _items("gateway.yaml")
    desired.apply(store, items)
    for resource_type, body in items:
        state = wait_for_state(store, resource_type, body["id"], timeout=60)
        assert state is not None and not state.worker_state.endswith("_FAILED"), state
    state = wait_for_state(store, GW, items[-1][1]["id"], timeout=60)
    assert state is not None and state.worker_state == "CREATE_COMPLETED", state
    instance = f"routing-instances/instance[name='{VRF}']"
    for name in ROUTERS.values():
        got = pair.call(lambda n=name: copy.deepcopy(pair.router(n).running.find(instance)))
        assert got is not None, name
        assert got.findtext("routing-options/static/route/name") == "0.0.0.0/0", name
        assert got.find("routing-options/static/route/discard") is not None, name
        # Beside what the gateway itself puts there.
        assert got.findtext("instance-type") == "virtual-router", name
        assert got.findtext("routing-options/instance-import") == "INSTANCE-USER_IN", name
    # The vrf_config is part of what the gateway should have: no drift.
    gateway_id = items[-1][1]["id"]
    assert not operations.check(store, NornirDevices(overrides=str(overrides)), gateway_id).found


def test_a_vrf_config_the_routers_refuse_fails_at_commit_check(
    service_store: Store, pair: Simulator
) -> None:
    store = service_store
    # Valid Junos syntax (the resource is accepted), but the policy does not exist.
    bad = "routing-options {\n    instance-export NO-SUCH-POLICY;\n}\n"
    resources = _with_vrf_config(bad)
    desired.apply(store, resources)
    for resource_type, body in resources:
        state = wait_for_state(store, resource_type, body["id"], timeout=60)
        assert state is not None and not state.worker_state.endswith("_FAILED"), state
    before = _routers(pair)
    ((_, gateway),) = _items("gateway.yaml")
    desired.apply(store, _items("gateway.yaml"))
    state = wait_for_state(store, GW, gateway["id"], timeout=60)
    after = _routers(pair)
    assert state is not None and state.worker_state == "CREATE_FAILED", state
    # Both refuse it; the error names the first in the rollout, and the step.
    assert f"router {ROUTERS['secondary']}: commit check: " in state.error, state.error
    assert "Policy NO-SUCH-POLICY referenced but not defined" in state.error, state.error
    _assert_untouched(pair, before, after)
    for name in ROUTERS.values():
        assert after[name][0] == before[name][0], name  # no commit at all


def _ask(pair: Simulator, router: str, rpc: str) -> etree._Element:
    """One RPC to ``router`` over NETCONF, as any client sends it; the reply as XML."""
    host, port = pair.address(router)
    with netconf.connect(host, port, username="noc", password="x") as m:
        reply = m.rpc(rpc)
    return etree.fromstring((getattr(reply, "xml", None) or str(reply)).encode())


def test_each_router_shows_the_origin_stanzas_against_its_commit_before_the_job(
    service_store: Store, pair: Simulator
) -> None:
    store = service_store
    # An operator's own term already sits before all-accept: the gateway's goes between.
    mine = "firewall family inet filter {} term noc-block"
    for name in ROUTERS.values():
        _out_of_band(
            pair,
            name,
            "".join(
                f"set {mine.format(f)} from source-address 192.0.2.66/32\n"
                f"set {mine.format(f)} then discard\n"
                f"insert {mine.format(f)} before term all-accept\n"
                for f in ("INET_IN", "INET_OUT")
            ),
        )
    gateway = _create_all(store)
    sections = _origin_sections()
    term = f"{VRF}_filter"
    for origin, role in (("MX-1", "secondary"), ("MX-2", "primary")):
        name = ROUTERS[role]
        history = _ask(pair, name, "<get-commit-information/>")
        logs = [(h.findtext("{*}log") or "").strip() for h in history.iter("{*}commit-history")]
        # The job's two commits (confirmed, then confirm) name it; the one before is ours.
        ours = [n for n, log in enumerate(logs) if gateway["id"] in log]
        assert ours == [0, 1], (name, logs)
        assert logs[2] == "by hand", (name, logs)
        reply = _ask(
            pair, name, '<get-configuration compare="rollback" rollback="2" format="text"/>'
        )
        diff = reply.findtext(".//{*}configuration-output") or ""
        assert [line for line in _normal(diff) if line != "[edit]"] == sections[origin], name
        running = _ask(pair, name, '<get-configuration database="committed"/>')
        for filter_name in ("INET_IN", "INET_OUT"):
            terms = [
                (t.findtext("{*}name") or "").strip()
                for f in running.iter("{*}filter")
                if (f.findtext("{*}name") or "").strip() == filter_name
                for t in f.iterfind("{*}term")
            ]
            assert terms == ["noc-block", term, "all-accept"], (name, filter_name)
