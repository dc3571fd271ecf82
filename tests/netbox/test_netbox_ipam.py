"""The family's IPAM in a real NetBox, kept in step with etcd by the writeback loop.

The sample resources are seeded into NetBox and synced; the seed's gateway and its family
are provisioned on the simulated pair; the loop (``netbox.writeback``) must then show the
pool and the block as prefixes, the gw_interface's addresses on the gateway's units and
its VIP (role VRRP) in an FHRP group both units join; write nothing more on a second
pass; and take it all away when the family goes, leaving what NetBox users made.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pynetbox
import pytest

from nornir_esi.contract import desired, keys
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.netbox.ipam import write_family
from nornir_esi.netbox.seed import seed
from nornir_esi.netbox.sync import SyncOptions, sync
from nornir_esi.netbox.writeback import WritebackLoop, write_back
from nornir_esi.netsim.server import Simulator
from nornir_esi.service import Service
from nornir_esi.store.base import Store
from nornir_esi.testing.netbox import NetBoxServer
from tests.flow.conftest import ROUTERS, write_overrides
from tests.store.helpers import eventually

INVENTORY = Path(__file__).parent.parent.parent / "inventory"
RESOURCES = desired.load_file(INVENTORY / "resources.yaml")
GATEWAY = desired.load_file(INVENTORY / "gateway.yaml")
FAMILY = desired.load_file(INVENTORY / "family.yaml")
BY_TYPE = {t: b for t, b in FAMILY}
GATEWAY_BODY = GATEWAY[0][1]
GW_INTERFACE = BY_TYPE["gw_interface"]


@pytest.fixture
def provisioned(
    netbox_server: NetBoxServer, store: Store, pair: Simulator, tmp_path: Path
) -> Iterator[tuple[Any, Store]]:
    pair.reset()
    nb = pynetbox.api(netbox_server.url, token=netbox_server.token)
    seed(nb, RESOURCES)
    sync(nb, store, SyncOptions(password={"ref": "env:ESI_ROUTER_PASSWORD"}))
    overrides = write_overrides(pair, tmp_path)
    with Service(store, inventory=str(overrides), workers=1, manager_lease_ttl=5):
        ours = [(t, b) for t, b in RESOURCES if t in ("internet_service", "qos_option")]
        items = [*ours, *GATEWAY, *FAMILY]
        desired.apply(store, items)
        for resource_type, body in [*RESOURCES, *items]:
            state = wait_for_state(store, resource_type, body["id"], timeout=90)
            assert state is not None and not state.worker_state.endswith("FAILED"), state
        yield nb, store
    # NetBox is the session's: what this test left in it goes (the routers' own addresses,
    # seeded, stay).
    for endpoint in (nb.ipam.ip_addresses, nb.ipam.fhrp_groups, nb.ipam.prefixes):
        for _, body in FAMILY:
            for record in endpoint.filter(cf_esi_id=body["id"]):
                record.delete()
    for unit in nb.dcim.interfaces.filter(type="virtual"):
        unit.delete()
    for vrf in nb.ipam.vrfs.all():
        vrf.delete()
    for vlan in nb.ipam.vlans.all():
        vlan.delete()


def _choice(value: Any) -> Any:
    """A NetBox choice's value (pynetbox gives some as records, some as strings)."""
    return getattr(value, "value", value)


def _prefixes(nb: Any) -> dict[str, Any]:
    return {str(p.prefix): p for p in nb.ipam.prefixes.all()}


def _addresses(nb: Any) -> dict[str, Any]:
    return {str(a.address): a for a in nb.ipam.ip_addresses.filter(cf_esi_id=GW_INTERFACE["id"])}


def _written(nb: Any) -> dict[str, Any]:
    """Every object the family's writeback owns, by NetBox type and id: its last change."""
    out: dict[str, Any] = {}
    for name, endpoint in (
        ("prefix", nb.ipam.prefixes),
        ("ip", nb.ipam.ip_addresses),
        ("fhrp", nb.ipam.fhrp_groups),
        ("assignment", nb.ipam.fhrp_group_assignments),
    ):
        for record in endpoint.all():
            out[f"{name} {record.id}"] = str(record.last_updated)
    return out


def test_the_family_shows_in_netbox_ipam_and_goes_with_it(
    provisioned: tuple[Any, Store],
) -> None:
    nb, store = provisioned
    user_made = nb.ipam.prefixes.create(prefix="198.51.100.0/24", status="active")
    loop = WritebackLoop(nb, store, retry_after=0.2).start()
    try:
        vrf = eventually(
            lambda: nb.ipam.vrfs.get(name=GATEWAY_BODY["vrf_name"]), what="the VRF", timeout=60
        )
        addresses = eventually(
            lambda: a if len(a := _addresses(nb)) == 3 else None,
            what="the gw_interface's addresses",
            timeout=60,
        )
        prefixes = _prefixes(nb)
        pool, block = prefixes["203.0.112.0/23"], prefixes["203.0.112.0/28"]
        assert pool.is_pool and pool.custom_fields["esi_id"] == BY_TYPE["public_ip_pool"]["id"]
        assert _choice(block.status) == "active"
        assert block.custom_fields["esi_id"] == BY_TYPE["public_ip"]["id"]

        vip = addresses["172.16.101.151/24"]
        assert _choice(vip.role) == "vrrp" and vip.vrf.id == vrf.id
        (group,) = nb.ipam.fhrp_groups.filter(cf_esi_id=GW_INTERFACE["id"])
        assert (_choice(group.protocol), group.group_id) == ("vrrp3", 20)
        assert (vip.assigned_object_type, vip.assigned_object_id) == ("ipam.fhrpgroup", group.id)
        joined = {
            a.interface_id: a.priority
            for a in nb.ipam.fhrp_group_assignments.filter(group_id=group.id)
        }
        for role, address in (("primary", "172.16.101.152/24"), ("secondary", "172.16.101.153/24")):
            device = nb.dcim.devices.get(name=ROUTERS[role])
            unit = nb.dcim.interfaces.get(device_id=device.id, name="ae0.1025")
            assert unit is not None, role
            own = addresses[address]
            assert (own.assigned_object_type, own.assigned_object_id) == ("dcim.interface", unit.id)
            assert own.vrf.id == vrf.id
            assert joined[unit.id] == (105 if role == "primary" else 100)

        # A second pass writes nothing.
        before = _written(nb)
        write_back(nb, store, GATEWAY_BODY["id"])
        for resource_type in ("public_ip_pool", "public_ip", "gw_interface"):
            write_family(nb, store, resource_type, BY_TYPE[resource_type]["id"])
        assert _written(nb) == before

        # The family deleted: its objects go; the user's prefix and the gateway's stay.
        members = [(t, b["id"]) for t, b in FAMILY if t != "public_ip_pool"]
        desired.delete(store, members)
        for resource_type, rid in members:
            eventually(
                lambda t=resource_type, r=rid: store.get(keys.config(t, r)) is None,
                what=f"{resource_type} gone",
                timeout=90,
            )
        eventually(lambda: not _addresses(nb), what="the addresses gone", timeout=60)
        eventually(lambda: "203.0.112.0/28" not in _prefixes(nb), what="the block gone", timeout=60)
        eventually(
            lambda: not list(nb.ipam.fhrp_groups.filter(cf_esi_id=GW_INTERFACE["id"])),
            what="the FHRP group gone",
            timeout=60,
        )
        assert "198.51.100.0/24" in _prefixes(nb) and "203.0.112.0/23" in _prefixes(nb)
        assert nb.ipam.vrfs.get(name=GATEWAY_BODY["vrf_name"]) is not None
        assert loop.last_error == "", loop.last_error
    finally:
        loop.stop()
        user_made.delete()
