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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from nornir_esi.contract import desired, keys
from nornir_esi.contract.records import ConfigRecord, Monitoring
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.junos.diff import diff_text
from nornir_esi.netsim.server import Simulator
from nornir_esi.service import Service
from nornir_esi.store.base import Store
from tests.store.helpers import eventually

from .conftest import INVENTORY, ROUTERS

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
