"""The family's rules at the front door, on real etcd: each bad input refused, naming the
object and the field, with nothing written; allocations that race never overlap."""

from __future__ import annotations

import copy
import ipaddress
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from nornir_esi.contract import desired, keys
from nornir_esi.contract.config import configs_of, read_config
from nornir_esi.contract.pools import Bitmap
from nornir_esi.exceptions import ValidationError
from nornir_esi.store.base import Store

INVENTORY = Path(__file__).parent.parent / "inventory"
RESOURCES = desired.load_file(INVENTORY / "resources.yaml")
GATEWAY = desired.load_file(INVENTORY / "gateway.yaml")
FAMILY = desired.load_file(INVENTORY / "family.yaml")
BY_TYPE = {t: b for t, b in [*RESOURCES, *GATEWAY, *FAMILY]}
GATEWAY_ID = BY_TYPE["internet_gateway"]["id"]
POOL_ID = BY_TYPE["public_ip_pool"]["id"]  # the operator's, first in family.yaml


def _new(resource_type: str, **changes: Any) -> tuple[str, dict[str, Any]]:
    body = copy.deepcopy(BY_TYPE[resource_type])
    body["id"] = str(uuid.uuid4())
    body.update(changes)
    return resource_type, body


@pytest.fixture
def family(store: Store) -> Store:
    desired.apply(store, [*RESOURCES, *GATEWAY, *FAMILY], plaintext_secrets=True)
    return store


def _refused(store: Store, items: list[tuple[str, dict[str, Any]]], field: str, words: str) -> str:
    before = store.revision()
    with pytest.raises(ValidationError) as caught:
        desired.apply(store, items)
    assert caught.value.field == field, str(caught.value)
    assert words in caught.value.reason, str(caught.value)
    assert items[0][1]["id"] in caught.value.obj or items[0][0] in caught.value.obj
    assert store.revision() == before  # nothing written
    return str(caught.value)


def test_the_sample_family_is_completed_by_the_service(family: Store) -> None:
    public_ip = read_config(family, "public_ip", BY_TYPE["public_ip"]["id"])
    assert public_ip is not None
    assert (public_ip.body["cidr"], public_ip.body["ip_pool_id"]) == ("203.0.112.0", POOL_ID)
    pool = read_config(family, "public_ip_pool", POOL_ID)
    assert pool is not None and pool.body["addresses_available"] == 512 - 16
    bitmap = Bitmap.decode("pool", 512, pool.body["pool_state"])
    assert [bitmap.taken(i) for i in (0, 15, 16)] == [True, True, False]
    route = read_config(family, "static_route", BY_TYPE["static_route"]["id"])
    assert route is not None and route.body["public_ip_id"] == public_ip.body["id"]


def test_a_gw_interface_address_does_not_move(family: Store) -> None:
    moved = {**BY_TYPE["gw_interface"], "gw_vipv4": "172.16.101.160"}
    _refused(family, [("gw_interface", moved)], "gw_vipv4", "cannot change after create")


def test_gw_interface_addresses_are_checked_against_the_segment(store: Store) -> None:
    desired.apply(store, [*RESOURCES, *GATEWAY], plaintext_secrets=True)
    segment = [(t, b) for t, b in FAMILY if t in ("public_ip_pool", "network", "subnet")]
    desired.apply(store, segment)
    gw = BY_TYPE["gw_interface"]
    for field, value, words in (
        ("gw_vipv4", "172.16.102.151", "outside subnet"),
        ("secondary_ipv4", "172.16.101.255", "network or broadcast"),
        ("secondary_ipv4", "172.16.101.152", "also its primary_ipv4"),
        ("netmask", 25, "in no subnet"),
        ("vrid", 256, "outside 1-255"),
    ):
        item = ("gw_interface", {**gw, field: value})
        _refused(store, [item], "primary_ipv4" if field == "netmask" else field, words)
    assert configs_of(store, "gw_interface") == []


def test_a_second_gw_interface_for_a_gateway(family: Store) -> None:
    _refused(family, [_new("gw_interface")], "internet_gw_id", "at most one per gateway")


def test_a_next_hop_off_the_segment(family: Store) -> None:
    item = _new("static_route", destination="198.51.100.0/24", nexthop="172.16.102.1")
    _refused(family, [item], "nexthop", "outside the gw_interface's subnet")
    item = _new("static_route", destination="198.51.100.0/24", nexthop="172.16.101.151")
    _refused(family, [item], "nexthop", "not a host of the tenant's segment")


def test_a_duplicate_route_and_one_over_the_quota(family: Store) -> None:
    # Normalised first: 203.0.112.5/28 is the sample route's 203.0.112.0/28.
    _refused(
        family,
        [_new("static_route", destination="203.0.112.5/28")],
        "destination",
        "already routed",
    )
    gateway = {**BY_TYPE["internet_gateway"], "maximum_static_routes": 2}
    desired.apply(family, [("internet_gateway", gateway)])
    desired.apply(family, [_new("static_route", destination="198.51.100.0/24")])
    _refused(
        family,
        [_new("static_route", destination="198.51.101.0/24")],
        "internet_gw_id",
        "3 static routes, over its maximum_static_routes 2",
    )


def test_a_mask_below_the_minimum_and_above_32(family: Store) -> None:
    _refused(
        family,
        [_new("public_ip", submask_length=24)],
        "submask_length",
        "below the internet service's minimal_submask_length 26",
    )
    _refused(family, [_new("public_ip", submask_length=33)], "submask_length", "above 32")


def test_an_exhausted_pool(family: Store) -> None:
    # 512 addresses, 16 taken: 7 more /26 fit beside the /28's /26, then none.
    for _ in range(7):
        desired.apply(family, [_new("public_ip", submask_length=26)])
    pool = read_config(family, "public_ip_pool", POOL_ID)
    assert pool is not None and pool.body["addresses_available"] == 512 - 16 - 7 * 64
    _refused(family, [_new("public_ip", submask_length=26)], "submask_length", "no room for a /26")


def test_service_fields_and_create_only_fields(family: Store) -> None:
    _refused(family, [_new("public_ip", ip_pool_id=POOL_ID)], "ip_pool_id", "set by the service")
    vrid = {**BY_TYPE["gw_interface"], "vrid": 21}
    _refused(family, [("gw_interface", vrid)], "vrid", "cannot change after create")
    # Name and description may change; the block stays, unasked.
    renamed = {**BY_TYPE["public_ip"], "name": "renamed"}
    (change,) = desired.apply(family, [("public_ip", renamed)])
    assert change.outcome == "updated"
    public_ip = read_config(family, "public_ip", renamed["id"])
    assert public_ip is not None and public_ip.body["cidr"] == "203.0.112.0"


def test_fields_of_the_origins_schemas_are_accepted(store: Store) -> None:
    qos = {**BY_TYPE["qos_option"], "charge_type": "fixed"}
    items = [(t, qos if t == "qos_option" else b) for t, b in RESOURCES]
    changes = desired.apply(store, items, plaintext_secrets=True)
    assert {c.resource_type for c in changes} >= {"qos_option"}


def test_a_gateway_with_its_family_is_not_deleted_alone(family: Store) -> None:
    before = family.revision()
    with pytest.raises(ValidationError) as caught:
        desired.delete(family, [("internet_gateway", GATEWAY_ID)])
    message = str(caught.value)
    for t in ("public_ip", "gw_interface", "static_route"):
        assert f"{t} {BY_TYPE[t]['id']}" in message, message
    assert family.revision() == before
    # With its family, in one command, in any order: marked.
    members = [(t, BY_TYPE[t]["id"]) for t in ("public_ip", "gw_interface", "static_route")]
    changes = desired.delete(family, [("internet_gateway", GATEWAY_ID), *members])
    assert {c.outcome for c in changes} == {"deleting"}


def test_a_gateway_with_its_family_keeps_the_objects_they_live_in(family: Store) -> None:
    gateway = BY_TYPE["internet_gateway"]
    reason = _refused(
        family,
        [
            (
                "internet_gateway",
                {
                    **gateway,
                    "vlan_id": "1026",
                    "primary_logical_interface_name": "ae0.1026",
                    "secondary_logical_interface_name": "ae0.1026",
                },
            )
        ],
        "vlan_id",
        "cannot change while the gateway has family members",
    )
    assert BY_TYPE["gw_interface"]["id"] in reason
    # What lives elsewhere still changes: the name.
    desired.apply(family, [("internet_gateway", {**gateway, "name": "renamed"})])
    record = read_config(family, "internet_gateway", GATEWAY_ID)
    assert record is not None and record.body["name"] == "renamed"


def test_the_segment_stays_while_a_gw_interface_uses_it(family: Store) -> None:
    before = family.revision()
    with pytest.raises(ValidationError) as caught:
        desired.delete(family, [("subnet", BY_TYPE["subnet"]["id"])])
    assert caught.value.field == "cidr" and BY_TYPE["gw_interface"]["id"] in caught.value.reason
    with pytest.raises(ValidationError) as caught:
        desired.delete(family, [("gw_interface", BY_TYPE["gw_interface"]["id"])])
    assert BY_TYPE["static_route"]["id"] in caught.value.reason
    assert family.revision() == before


def test_concurrent_allocations_never_overlap(family: Store, etcd_server: Any) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(12)

    def allocate() -> None:
        client = etcd_server.client(timeout=10.0)
        try:
            start.wait()
            for _ in range(2):
                desired.apply(client, [_new("public_ip", submask_length=28)])
        except BaseException as exc:
            errors.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=allocate) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    blocks = [
        ipaddress.IPv4Network(f"{r.body['cidr']}/{r.body['submask_length']}")
        for _, r in configs_of(family, "public_ip")
    ]
    assert len(blocks) == 25
    assert all(not a.overlaps(b) for i, a in enumerate(blocks) for b in blocks[i + 1 :])
    pool = read_config(family, "public_ip_pool", POOL_ID)
    assert pool is not None and pool.body["addresses_available"] == 512 - 25 * 16
    assert keys.config("public_ip_pool", POOL_ID)
