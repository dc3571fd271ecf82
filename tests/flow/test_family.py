"""The gateway's service family end to end: public IP, segment, gw_interface, static route.

On real etcd and the simulated pair, per resource as the origin created them (one after
the other): each router's commit shows exactly the origin's diff for the origin's sample
(``fixtures/family/<type>-create.txt``); deleted in reverse, each commit shows that diff
taken back (Junos shows no empty container, so an emptied ``protocols { bgp; }`` or
``static`` goes with its last statement: the origin's derived delete diffs, which assumed
its plugin left them, do not hold here), and the routers end exactly at day 0.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from nornir_esi.contract import desired, keys
from nornir_esi.contract.records import ConfigRecord, Monitoring
from nornir_esi.doors import audit
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.junos.diff import diff_text
from nornir_esi.netsim.server import Simulator
from nornir_esi.pair.devices import NornirDevices
from nornir_esi.service import Service
from nornir_esi.services import forwarding, operations
from nornir_esi.store.base import Store
from tests.store.helpers import eventually

from .conftest import INVENTORY, ROUTERS
from .test_pair_flow import _out_of_band

FIXTURES = Path(__file__).parent.parent / "fixtures" / "family"
RESOURCES = desired.load_file(INVENTORY / "resources.yaml")
GATEWAY = desired.load_file(INVENTORY / "gateway.yaml")
FAMILY = desired.load_file(INVENTORY / "family.yaml")
BY_TYPE = {t: b for t, b in FAMILY}
GATEWAY_ID = GATEWAY[0][1]["id"]


def _origin_diff(resource_type: str, role: str) -> list[str]:
    """The origin's ``show | compare`` of ``role``'s router for the sample's ``resource_type``."""
    wanted = "## PRIMARY" if role == "primary" else "## SECONDARY"
    lines: list[str] = []
    inside = False
    for line in (FIXTURES / f"{resource_type}-create.txt").read_text().splitlines():
        if line.startswith("## "):
            inside = line.startswith(wanted)
            continue
        if line.startswith("# ---"):
            break
        if inside and line.strip() and not line.startswith("#"):
            lines.append(" ".join(line.split()))
    return lines


def _taken_back(lines: list[str]) -> list[str]:
    return ["-" + line[1:] if line.startswith("+") else line for line in lines]


def _normal(diff: str) -> list[str]:
    return [" ".join(line.split()) for line in diff.splitlines() if line.strip()]


def _running(pair: Simulator) -> dict[str, etree._Element]:
    return {
        role: pair.call(lambda n=name: copy.deepcopy(pair.router(n).running))
        for role, name in ROUTERS.items()
    }


def _settled(store: Store, items: list[tuple[str, dict[str, Any]]], *, until: str) -> None:
    for resource_type, body in items:
        state = wait_for_state(store, resource_type, body["id"], timeout=90)
        assert state is not None and state.worker_state in (until, "READ_COMPLETE"), (
            resource_type,
            state,
        )


@pytest.fixture
def gateway(store: Store, pair: Simulator, overrides: Path) -> Iterator[Store]:
    """The sample resources and the seed's gateway, created, with a manager and a worker."""
    pair.reset()
    with Service(
        store, inventory=str(overrides), workers=1, manager_lease_ttl=5, worker_lease_ttl=5
    ):
        desired.apply(store, [*RESOURCES, *GATEWAY], plaintext_secrets=True)
        _settled(store, [*RESOURCES, *GATEWAY], until="CREATE_COMPLETED")
        yield store


def test_each_member_commits_the_origins_diff_and_goes_back_to_day0(
    pair: Simulator, gateway: Store
) -> None:
    store = gateway
    day0 = _running(pair)
    desired.apply(store, [("public_ip_pool", BY_TYPE["public_ip_pool"])])
    order = [
        ("public_ip", ["public_ip"]),
        ("network", ["network", "subnet"]),
        ("gw_interface", ["gw_interface"]),
        ("static_route", ["static_route"]),
    ]
    diffs: dict[str, dict[str, list[str]]] = {}
    for name, types in order:
        before = _running(pair)
        items = [(t, BY_TYPE[t]) for t in types]
        desired.apply(store, items)
        _settled(store, items, until="CREATE_COMPLETED")
        after = _running(pair)
        diffs[name] = {role: _normal(diff_text(before[role], after[role])) for role in ROUTERS}

    for resource_type in ("public_ip", "gw_interface", "static_route"):
        for role in ROUTERS:
            assert diffs[resource_type][role] == _origin_diff(resource_type, role), (
                resource_type,
                role,
            )
    # network and subnet are records here: nothing on the routers.
    assert diffs["network"] == {"primary": [], "secondary": []}

    # The block came from the pool, which counts it; the route knows its public IP.
    public_ip = ConfigRecord.from_value(
        store.get(keys.config("public_ip", BY_TYPE["public_ip"]["id"])).value  # type: ignore[union-attr]
    ).body
    assert (public_ip["cidr"], public_ip["ip_pool_id"]) == (
        "203.0.112.0",
        BY_TYPE["public_ip_pool"]["id"],
    )
    pool = ConfigRecord.from_value(
        store.get(keys.config("public_ip_pool", public_ip["ip_pool_id"])).value  # type: ignore[union-attr]
    )
    assert pool.body["addresses_available"] == 512 - 16
    route = ConfigRecord.from_value(
        store.get(keys.config("static_route", BY_TYPE["static_route"]["id"])).value  # type: ignore[union-attr]
    ).body
    assert route["public_ip_id"] == public_ip["id"]
    # VRRP settled as the origin's collector wanted it, recorded as it recorded it.
    monitoring = Monitoring.from_value(
        store.get(keys.monitoring("gw_interface", BY_TYPE["gw_interface"]["id"])).value  # type: ignore[union-attr]
    )
    assert monitoring.to_value() == {
        "status": {"primary": "MASTER", "secondary": "BACKUP"},
        "version": 1,
    }

    for name, types in reversed(order):
        before = _running(pair)
        desired.delete(store, [(t, BY_TYPE[t]["id"]) for t in types])
        for t in types:
            eventually(
                lambda t=t: store.get(keys.config(t, BY_TYPE[t]["id"])) is None,
                timeout=90,
                what=f"{t} gone",
            )
        after = _running(pair)
        for role in ROUTERS:
            got = _normal(diff_text(before[role], after[role]))
            if name in ("network",):
                assert got == []
            else:
                assert got == _taken_back(_origin_diff(name, role)), (name, role)

    # The block went back to the pool; the routers carry the gateway as before the family.
    pool = ConfigRecord.from_value(
        store.get(keys.config("public_ip_pool", public_ip["ip_pool_id"])).value  # type: ignore[union-attr]
    )
    assert pool.body["addresses_available"] == 512
    now = _running(pair)
    for role in ROUTERS:
        assert diff_text(day0[role], now[role]).strip() == ""


@pytest.fixture
def checking(store: Store, pair: Simulator, overrides: Path) -> Iterator[Store]:
    """The sample resources and gateway, with a service whose leader checks every 0.5 s."""
    pair.reset()
    with Service(
        store,
        inventory=str(overrides),
        workers=1,
        manager_lease_ttl=5,
        worker_lease_ttl=5,
        drift_interval=0.5,
    ):
        desired.apply(store, [*RESOURCES, *GATEWAY], plaintext_secrets=True)
        _settled(store, [*RESOURCES, *GATEWAY], until="CREATE_COMPLETED")
        yield store


def _record(store: Store, resource_type: str, resource_id: str) -> dict[str, Any] | None:
    entry = store.get(keys.monitoring(resource_type, resource_id))
    return None if entry is None else Monitoring.from_value(entry.value).to_value()


def _vrrp_recorded(store: Store) -> dict[str, str] | None:
    record = _record(store, "gw_interface", BY_TYPE["gw_interface"]["id"])
    return None if record is None else record.get("status")


def test_the_family_in_one_file_forwards_and_a_failover_shows_in_monitoring(
    pair: Simulator, checking: Store, overrides: Path
) -> None:
    store = checking
    devices = NornirDevices(overrides=str(overrides))
    # Planned as one candidate per pair, nothing written: the file's diff on each router.
    (planned,) = operations.plan_items(store, devices, FAMILY)
    assert {t for t, _ in planned.resources} == {"public_ip", "gw_interface", "static_route"}
    for role, name in ROUTERS.items():
        shown = _normal(planned.diffs[name])
        for resource_type in ("public_ip", "gw_interface", "static_route"):
            missing = [x for x in _origin_diff(resource_type, role) if x not in shown]
            assert not missing, (role, resource_type, missing)
    assert store.get(keys.config("gw_interface", BY_TYPE["gw_interface"]["id"])) is None

    # With a second route, whose only order is the gw_interface's (no public IP of its).
    other_route = {
        **BY_TYPE["static_route"],
        "id": "5e1c7a3e-2f4b-4d6e-9a1b-0c2d3e4f5a6b",
        "name": "to-the-tenants-lan",
        "destination": "198.51.100.0/24",
    }
    items = [*FAMILY, ("static_route", other_route)]
    desired.apply(store, items, requested_by=desired.Requester("cli", "noc"))
    _settled(store, items, until="CREATE_COMPLETED")
    settled_at = int(time.time())
    health = forwarding.forwarding_health(store, devices, GATEWAY_ID)
    assert {
        role: (h.vrrp, h.bgp, h.routes_active, h.routes_total) for role, h in health.items()
    } == {
        "primary": ("MASTER", "Established", 2, 2),
        "secondary": ("BACKUP", "Established", 2, 2),
    }
    assert forwarding.forwards(health)
    state = wait_for_state(store, "gw_interface", BY_TYPE["gw_interface"]["id"], timeout=1)
    assert state is not None and state.measured() == {"primary": "MASTER", "secondary": "BACKUP"}
    # Each member's audit trail: its heat job's commits on both routers, found by the job
    # id their comments carry (alone, or with others its transaction carried).
    heat_jobs: dict[str, dict[str, Any]] = {}
    for resource_type in ("public_ip", "gw_interface", "static_route"):
        trail = audit.gather(store, resource_type, BY_TYPE[resource_type]["id"], devices)
        (v1,) = trail["versions"]
        assert (v1["request"]["change"], v1["request"]["principal"]) == ("created", "noc")
        (heat_job,) = [j for j in v1["jobs"] if j["handler"] == "heat_worker"]
        assert heat_job["outcome"] == "finished"
        for name in ROUTERS.values():
            assert len(heat_job["routers"][name]["commits"]) == 2, (resource_type, heat_job)
        heat_jobs[resource_type] = heat_job
    # Ordered by reference: the route's change after its public IP's (the origin's mapping)
    # and after the gw_interface's, over whose segment its next hop resolves.
    for before in ("public_ip", "gw_interface"):
        assert heat_jobs[before]["ended"] <= heat_jobs["static_route"]["started"], heat_jobs
    trail = audit.gather(store, "static_route", other_route["id"])
    (other_job,) = [j for j in trail["versions"][0]["jobs"] if j["handler"] == "heat_worker"]
    assert heat_jobs["gw_interface"]["ended"] <= other_job["started"], (heat_jobs, other_job)
    # The leader's rounds: no drift on the gateway (its replay carries its family) nor on
    # any member.
    for resource_type in ("internet_gateway", "public_ip", "gw_interface", "static_route"):
        resource_id = (
            GATEWAY_ID if resource_type == "internet_gateway" else BY_TYPE[resource_type]["id"]
        )
        record = eventually(
            lambda t=resource_type, r=resource_id: (
                (m := _record(store, t, r)) is not None
                and m.get("drift_checked_at", 0) > settled_at
                and m
            ),
            timeout=30,
            what=f"{resource_type} checked",
        )
        assert record["drift"] == "NONE", (resource_type, record)
    assert _vrrp_recorded(store) == {"primary": "MASTER", "secondary": "BACKUP"}

    # The primary's link goes down: the secondary takes over, and monitoring says so.
    pair.set_faults(ROUTERS["primary"], links_down={"ae0"})
    try:
        eventually(
            lambda: _vrrp_recorded(store) == {"primary": "INIT", "secondary": "MASTER"},
            timeout=30,
            what="the failover recorded",
        )
        health = forwarding.forwarding_health(store, devices, GATEWAY_ID)
        assert not forwarding.forwards(health)
    finally:
        pair.set_faults(ROUTERS["primary"], links_down=set())
    eventually(
        lambda: _vrrp_recorded(store) == {"primary": "MASTER", "secondary": "BACKUP"},
        timeout=30,
        what="the primary back as master",
    )


def test_a_members_drift_is_found_and_repaired_and_a_gateway_repair_keeps_its_family(
    pair: Simulator, gateway: Store, overrides: Path
) -> None:
    store = gateway
    devices = NornirDevices(overrides=str(overrides))
    desired.apply(store, FAMILY)
    _settled(store, FAMILY, until="CREATE_COMPLETED")
    with_family = _running(pair)
    route_id = BY_TYPE["static_route"]["id"]
    vrf = GATEWAY[0][1]["vrf_name"]
    primary = ROUTERS["primary"]

    assert not operations.check(store, devices, GATEWAY_ID).found
    assert not operations.check(store, devices, route_id, resource_type="static_route").found

    # The route deleted by hand on the primary: the route's check finds it, its repair
    # puts it back, on that router only.
    _out_of_band(pair, primary, f"delete routing-instances {vrf} routing-options static\n")
    drift = operations.check(store, devices, route_id, resource_type="static_route")
    assert drift.found
    assert "+ route 203.0.112.0/28 next-hop 172.16.101.1;" in _normal(drift.diffs[primary])
    assert drift.diffs[ROUTERS["secondary"]].strip() == ""
    operations.repair(store, devices, route_id, resource_type="static_route")
    assert not operations.check(store, devices, route_id, resource_type="static_route").found

    # A gateway repair deletes and sets its unit and routing instance: its family comes
    # back with it, and VRRP keeps its roles.
    operations.repair(store, devices, GATEWAY_ID)
    now = _running(pair)
    for role in ROUTERS:
        assert diff_text(with_family[role], now[role]).strip() == "", role
    health = forwarding.forwarding_health(store, devices, GATEWAY_ID)
    assert forwarding.forwards(health), health


def test_a_public_ip_nothing_counts_fails_and_changes_no_router(
    pair: Simulator, gateway: Store
) -> None:
    store = gateway
    vrf = GATEWAY[0][1]["vrf_name"]
    primary = ROUTERS["primary"]
    # Out of band, the gateway's count term goes from the primary's INET_IN.
    _out_of_band(pair, primary, f"delete firewall family inet filter INET_IN term {vrf}_filter\n")
    before = _running(pair)
    items = [(t, BY_TYPE[t]) for t in ("public_ip_pool", "public_ip")]
    desired.apply(store, items)
    state = wait_for_state(store, "public_ip", BY_TYPE["public_ip"]["id"], timeout=90)
    assert state is not None and state.worker_state == "CREATE_FAILED", state
    assert f"router {primary}: verify: " in state.error, state.error
    assert f"no firewall filter term counts destination-prefix-list {vrf}_prefix" in state.error
    after = _running(pair)
    for role in ROUTERS:
        assert diff_text(before[role], after[role]).strip() == "", role


def test_a_gateway_update_keeps_its_family(
    pair: Simulator, gateway: Store, overrides: Path
) -> None:
    store = gateway
    desired.apply(store, FAMILY)
    _settled(store, FAMILY, until="CREATE_COMPLETED")
    before = _running(pair)
    # Another QoS option: the update replaces the gateway's unit, and its family with it.
    qos = {
        **next(b for t, b in RESOURCES if t == "qos_option"),
        "id": "7d1f0c52-93a4-4f0e-8b61-2c5a9e3d4f70",
        "name": "20Mbps-Guaranteed",
        "bandwidth": "20",
        "incoming_policer_name": "20M-GA-UP-INET",
        "outgoing_policer_name": "20M-GA-DOWN-INET",
    }
    desired.apply(store, [("qos_option", qos)])
    _settled(store, [("qos_option", qos)], until="READ_COMPLETE")
    updated = {**GATEWAY[0][1], "qos_option_id": qos["id"]}
    desired.apply(store, [("internet_gateway", updated)])
    state = wait_for_state(store, "internet_gateway", GATEWAY_ID, version=2, timeout=90)
    assert state is not None and state.worker_state == "MODIFY_COMPLETED", state
    after = _running(pair)
    for role in ROUTERS:
        # Only the filters changed: the address, VRRP group, iBGP group and route stayed.
        changed = [
            line for line in _normal(diff_text(before[role], after[role])) if line[0] in "+-"
        ]
        assert sorted(changed) == sorted(
            [
                "- input FILTER_10M-GA-UP-INET;",
                "+ input FILTER_20M-GA-UP-INET;",
                "- output FILTER_10M-GA-DOWN-INET;",
                "+ output FILTER_20M-GA-DOWN-INET;",
            ]
        ), (role, changed)
    health = forwarding.forwarding_health(
        store, NornirDevices(overrides=str(overrides)), GATEWAY_ID
    )
    assert forwarding.forwards(health), health
