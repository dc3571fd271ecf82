"""The Nornir inventory read from a real NetBox (``NetBoxRouterInventory``).

The origin's resources are seeded into NetBox; the inventory must give the two routers
with their address, NETCONF port, platform, ids and the credentials it was given, load
through ``InitNornir`` and reach the simulated pair through an overrides file, refuse a
router without an address naming it, and page through more devices than one page holds
with one list of devices and one of services. What a test adds to NetBox it removes: the
session's other tests expect exactly the two seeded edge routers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pynetbox
import pytest
from lxml import etree
from nornir import InitNornir
from nornir_netconf.plugins.tasks import netconf_rpc

from nornir_esi.contract import desired
from nornir_esi.exceptions import ValidationError
from nornir_esi.netbox.inventory import NetBoxRouterInventory
from nornir_esi.netbox.schema import EDGE_ROUTER_ROLE, NETCONF_SERVICE
from nornir_esi.netbox.seed import DEVICE_TYPE, SITE, seed
from nornir_esi.netbox.sync import resource_id
from nornir_esi.netsim.server import Simulator
from nornir_esi.testing.netbox import NetBoxServer
from tests.netsim.conftest import sim

__all__ = ["sim"]

INVENTORY = Path(__file__).parent.parent.parent / "inventory"
PRIMARY = "9b82b55a-551e-4069-ae77-c972e30ab0cc"  # vMX-router-02, 10.79.5.185
SECONDARY = "198b93f2-006e-45b6-96d3-e7ef6f759501"  # vMX-router-01, 10.79.5.184
EXTRAS = 120
OTHER_ROLE = "esi-test-switch"


@pytest.fixture(scope="module")
def nb(netbox_server: NetBoxServer) -> Iterator[Any]:
    api = pynetbox.api(netbox_server.url, token=netbox_server.token)
    seed(api, desired.load_file(INVENTORY / "resources.yaml"))
    yield api


def _inventory(server: NetBoxServer, **options: Any) -> NetBoxRouterInventory:
    return NetBoxRouterInventory(
        server.url,
        server.token,
        **{"username": "esi", "password": "esiesi0000", **options},
    )


def _counted(inventory: NetBoxRouterInventory) -> list[str]:
    """The URLs of the inventory's HTTP requests, as they are made."""
    urls: list[str] = []
    inventory.session.hooks["response"].append(lambda r, *args, **kwargs: urls.append(r.url))
    return urls


def _seeded_service(nb: Any, device_name: str) -> Any:
    device = nb.dcim.devices.get(name=device_name)
    return nb.ipam.services.get(
        parent_object_type="dcim.device", parent_object_id=device.id, name=NETCONF_SERVICE
    )


def test_netbox_inventory_hosts_of_the_seeded_routers(nb: Any, netbox_server: NetBoxServer) -> None:
    # Both seeded services say 830, the default: one is moved so the port is seen to come
    # from the service, and the other removed so the default is seen too.
    moved = _seeded_service(nb, "vMX-router-01")
    removed = _seeded_service(nb, "vMX-router-02")
    removed_fields = {
        "parent_object_type": "dcim.device",
        "parent_object_id": removed.parent_object_id,
        "name": NETCONF_SERVICE,
        "port_mappings": list(removed.port_mappings),
    }
    moved.port_mappings = ["tcp/2830"]
    moved.save()
    removed.delete()
    try:
        inventory = _inventory(netbox_server)
        urls = _counted(inventory)
        hosts = inventory.load().hosts
    finally:
        moved.port_mappings = ["tcp/830"]
        moved.save()
        nb.ipam.services.create(removed_fields)

    assert sorted(hosts) == ["vMX-router-01", "vMX-router-02"]
    ids = {name: nb.dcim.devices.get(name=name).id for name in hosts}
    for name, rid, ip, port in (
        ("vMX-router-02", PRIMARY, "10.79.5.185", 830),
        ("vMX-router-01", SECONDARY, "10.79.5.184", 2830),
    ):
        host = hosts[name]
        assert (host.hostname, host.port, host.platform) == (ip, port, "junos")
        assert (host.username, host.password) == ("esi", "esiesi0000")
        assert host.data == {"id": rid, "ip": ip, "esi_id": rid, "netbox_id": ids[name]}
        params = host.get_connection_parameters("netconf")
        assert (params.hostname, params.port) == (ip, port)
        # No key recorded for these addresses: verified against none, so connecting fails.
        assert params.extras == {
            "hostkey_verify": True,
            "allow_agent": False,
            "look_for_keys": False,
            "device_params": {"name": "junos"},
        }
    # One list of devices and one of services, filtered by NetBox.
    assert len(urls) == 2
    assert "/api/dcim/devices/" in urls[0] and f"role={EDGE_ROUTER_ROLE}" in urls[0]
    assert "/api/ipam/services/" in urls[1] and f"name={NETCONF_SERVICE}" in urls[1]
    # The extras are deep copies: changing one host's leaves the other's alone.
    first = hosts["vMX-router-01"].connection_options["netconf"].extras
    assert first is not None
    first["device_params"]["name"] = "changed"
    second = hosts["vMX-router-02"].connection_options["netconf"].extras
    assert second is not None and second["device_params"] == {"name": "junos"}


def test_netbox_inventory_needs_credentials(nb: Any, netbox_server: NetBoxServer) -> None:
    with pytest.raises(ValidationError) as caught:
        _inventory(netbox_server, password=None).load()
    assert caught.value.field == "password"
    assert caught.value.obj.startswith("NetBox device vMX-router-0")


def test_netbox_inventory_through_init_nornir_reaches_the_pair(
    nb: Any, netbox_server: NetBoxServer, sim: Simulator, tmp_path: Path
) -> None:
    mx2, mx1 = sim.address("MX-2"), sim.address("MX-1")
    overrides = tmp_path / "overrides.yaml"
    # vMX-router-02 by its IP; vMX-router-01 by name, which wins over its IP's entry.
    overrides.write_text(
        f"10.79.5.185: {{hostname: {mx2[0]}, port: {mx2[1]}}}\n"
        "10.79.5.184: {hostname: 127.0.0.1, port: 9, username: nobody}\n"
        f"vMX-router-01: {{hostname: {mx1[0]}, port: {mx1[1]}, username: esi}}\n"
    )
    nornir = InitNornir(
        inventory={
            "plugin": "NetBoxRouterInventory",
            "options": {
                "nb_url": netbox_server.url,
                "nb_token": netbox_server.token,
                "username": "lab",
                "password": "esiesi0000",
                "overrides": str(overrides),
            },
        },
        logging={"enabled": False},
    )
    try:
        hosts = nornir.inventory.hosts
        assert sorted(hosts) == ["vMX-router-01", "vMX-router-02"]
        assert (hosts["vMX-router-02"].hostname, hosts["vMX-router-02"].port) == mx2
        assert hosts["vMX-router-02"].username == "lab"  # the options' username
        assert (hosts["vMX-router-01"].hostname, hosts["vMX-router-01"].port) == mx1
        assert hosts["vMX-router-01"].username == "esi"  # the name's entry, not the IP's
        results = nornir.run(task=netconf_rpc, payload="<get-software-information/>")
        assert not results.failed, {n: r.exception for n, r in results.items()}
        names = {}
        for name, result in results.items():
            reply = etree.fromstring(str(result.result.rpc).encode())
            names[name] = reply.findtext(".//{*}host-name")
        assert names == {"vMX-router-02": "MX-2", "vMX-router-01": "MX-1"}
    finally:
        nornir.close_connections()


def test_netbox_inventory_refuses_a_router_without_address(
    nb: Any, netbox_server: NetBoxServer
) -> None:
    device = nb.dcim.devices.get(name="vMX-router-02")
    address = device.primary_ip4.id
    device.primary_ip4 = None
    device.save()
    try:
        with pytest.raises(ValidationError) as caught:
            _inventory(netbox_server).load()
        assert caught.value.obj == f"NetBox device vMX-router-02 (id {device.id})"
        assert caught.value.field == "primary_ip4"
    finally:
        device.primary_ip4 = address
        device.save()
    assert "vMX-router-02" in _inventory(netbox_server).load().hosts


# -- more devices than a page ----------------------------------------------------------------


@dataclass
class Extra:
    name: str
    ip: str
    port: int
    esi_id: str | None
    netbox_id: int = 0


def _extras(count: int) -> list[Extra]:
    """Every fourth without a netconf service (port 830), every other without esi_id."""
    return [
        Extra(
            name=f"esi-inventory-test-{i:03d}",
            ip=f"10.200.{i // 250}.{i % 250 + 1}",
            port=830 if i % 4 == 0 else 10000 + i,
            esi_id=f"00000000-0000-4000-8000-{i:012d}" if i % 2 else None,
        )
        for i in range(count)
    ]


@pytest.fixture
def many(nb: Any) -> Iterator[list[Extra]]:
    """120 more edge routers, and 5 devices of another role, made in bulk requests."""
    site = nb.dcim.sites.get(slug=SITE)
    dtype = nb.dcim.device_types.get(slug=DEVICE_TYPE.lower())
    role = nb.dcim.device_roles.get(slug=EDGE_ROUTER_ROLE)
    other = nb.dcim.device_roles.create(name="ESI test switch", slug=OTHER_ROLE, color="9e9e9e")
    extras = _extras(EXTRAS)
    devices: list[Any] = []
    try:
        devices = nb.dcim.devices.create(
            [
                {
                    "name": e.name,
                    "device_type": dtype.id,
                    "role": role.id,
                    "site": site.id,
                    "status": "active",
                    **({"custom_fields": {"esi_id": e.esi_id}} if e.esi_id else {}),
                }
                for e in extras
            ]
            + [
                {
                    "name": f"esi-test-switch-{i}",
                    "device_type": dtype.id,
                    "role": other.id,
                    "site": site.id,
                }
                for i in range(5)
            ]
        )
        for extra, device in zip(extras, devices, strict=False):
            extra.netbox_id = int(device.id)
        interfaces = nb.dcim.interfaces.create(
            [
                {"device": d.id, "name": "fxp0", "type": "1000base-t", "mgmt_only": True}
                for d in devices
            ]
        )
        addresses = nb.ipam.ip_addresses.create(
            [
                {
                    "address": f"10.201.0.{i + 1}/32" if i >= EXTRAS else f"{extras[i].ip}/32",
                    "assigned_object_type": "dcim.interface",
                    "assigned_object_id": interface.id,
                }
                for i, interface in enumerate(interfaces)
            ]
        )
        nb.dcim.devices.update(
            [{"id": d.id, "primary_ip4": a.id} for d, a in zip(devices, addresses, strict=True)]
        )
        nb.ipam.services.create(
            [
                {
                    "parent_object_type": "dcim.device",
                    "parent_object_id": e.netbox_id,
                    "name": NETCONF_SERVICE,
                    # Some list another protocol first: the TCP mapping is the port.
                    "port_mappings": [*(["udp/161"] if i % 4 == 1 else []), f"tcp/{e.port}"],
                }
                for i, e in enumerate(extras)
                if e.port != 830
            ]
        )
        yield extras
    finally:
        # Interfaces, their addresses and services go with their devices.
        if devices:
            nb.dcim.devices.delete(devices)
        other.delete()
    assert nb.dcim.devices.count(role=EDGE_ROUTER_ROLE) == 2
    assert nb.ipam.services.count(name=NETCONF_SERVICE) == 2
    assert nb.ipam.ip_addresses.count(parent="10.200.0.0/15") == 0


def test_netbox_inventory_pages_through_many_routers(
    nb: Any, netbox_server: NetBoxServer, many: list[Extra]
) -> None:
    inventory = _inventory(netbox_server, page_size=50)
    urls = _counted(inventory)
    hosts = inventory.load().hosts
    assert len(hosts) == EXTRAS + 2
    assert not any(name.startswith("esi-test-switch") for name in hosts)
    records = {d.id: d for d in nb.dcim.devices.filter(role=EDGE_ROUTER_ROLE)}
    for extra in many:
        host = hosts[extra.name]
        assert (host.hostname, host.port) == (extra.ip, extra.port), extra.name
        # Without esi_id, the id the NetBox sync derives from the device.
        esi_id = extra.esi_id or resource_id("dcim.device", records[extra.netbox_id])
        assert host.data == {
            "id": esi_id,
            "ip": extra.ip,
            "esi_id": esi_id,
            "netbox_id": extra.netbox_id,
        }
    # 122 devices and 92 netconf services (2 seeded, 90 extra) in pages of 50: three
    # requests each, following NetBox's next links with the filters sent once.
    devices = [u for u in urls if "/api/dcim/devices/" in u]
    services = [u for u in urls if "/api/ipam/services/" in u]
    assert (len(devices), len(services), len(urls)) == (3, 2, 5)
    assert [u.count(f"role={EDGE_ROUTER_ROLE}") for u in devices] == [1, 1, 1]
    assert "offset=100" in devices[-1] and "offset=50" in services[-1]

    # NetBox's own page size (limit=0: MAX_PAGE_SIZE, 1,000) takes one request each.
    inventory = _inventory(netbox_server)
    urls = _counted(inventory)
    assert len(inventory.load().hosts) == EXTRAS + 2
    assert len(urls) == 2
