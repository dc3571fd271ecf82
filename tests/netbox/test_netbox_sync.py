"""NetBox -> /config on a real NetBox and a real etcd.

The origin's resources are seeded into NetBox (``nornir_esi.netbox.seed``, each object
carrying its resource id); a sync must give back exactly the origin's bodies for the
types NetBox holds, write nothing the second time, follow a change made in NetBox, and
refuse bad data naming the object and the field, writing nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pynetbox
import pytest

from nornir_esi.contract import desired, keys, secrets
from nornir_esi.contract.records import ConfigRecord
from nornir_esi.exceptions import ValidationError
from nornir_esi.netbox.seed import seed
from nornir_esi.netbox.sync import NETBOX_PREFIX, SyncOptions, sync
from nornir_esi.store.base import Store
from nornir_esi.store.etcd import EtcdStore
from nornir_esi.testing.netbox import NetBoxServer
from tests.flow.test_cli import cli

INVENTORY = Path(__file__).parent.parent.parent / "inventory"
MAPPED = ("edge_router", "er_physical_interface", "ha_router", "ha_interface")
# New routers get the reference `--password-env ESI_ROUTER_PASSWORD` gives (the default).
OPTIONS = SyncOptions(login="esi", password=secrets.reference("env", "ESI_ROUTER_PASSWORD"))


@pytest.fixture(scope="module")
def nb(netbox_server: NetBoxServer) -> Iterator[Any]:
    api = pynetbox.api(netbox_server.url, token=netbox_server.token)
    seed(api, desired.load_file(INVENTORY / "resources.yaml"))
    yield api


def _config(store: Store, resource_type: str) -> dict[str, ConfigRecord]:
    prefix = keys.type_prefix(keys.CONFIG_PREFIX, resource_type)
    return {
        e.key.rsplit("/", 1)[1]: ConfigRecord.from_value(e.value) for e in store.get_prefix(prefix)
    }


def test_netbox_sync_gives_back_the_origins_resources(nb: Any, store: Store) -> None:
    report = sync(nb, store, OPTIONS)
    origin = desired.load_file(INVENTORY / "resources.yaml")
    expected = [(t, b) for t, b in origin if t in MAPPED]
    assert sorted(report.created) == sorted(f"{t} {b['id']}" for t, b in expected)
    for resource_type, body in expected:
        record = _config(store, resource_type)[body["id"]]
        assert record.version == 1
        got = {k: v for k, v in record.body.items() if k != "status"}
        want = {k: v for k, v in body.items() if k != "vlan_pool_state"}
        got.pop("vlan_pool_state", None)
        if resource_type == "ha_interface":
            # Counters NetBox does not hold start from the options' defaults.
            for counter in ("vlan_ids_available",):
                assert got.pop(counter) == 4093 - 1025 + 1
                want.pop(counter)
        assert got == want, resource_type
    assert len(store.get_prefix(NETBOX_PREFIX)) == len(expected)


def test_netbox_sync_twice_writes_nothing(nb: Any, store: Store) -> None:
    sync(nb, store, OPTIONS)
    revision = store.revision()
    report = sync(nb, store, OPTIONS)
    assert report.created == report.updated == report.deleting == []
    assert len(report.unchanged) == 6
    assert store.revision() == revision


def test_netbox_sync_follows_a_change_in_netbox(nb: Any, store: Store) -> None:
    sync(nb, store, OPTIONS)
    device = nb.dcim.devices.get(name="vMX-router-01")
    device.description = "MX80 #1, rack 7"
    device.save()
    try:
        report = sync(nb, store, OPTIONS)
        assert report.updated == ["edge_router 198b93f2-006e-45b6-96d3-e7ef6f759501"]
        record = _config(store, "edge_router")["198b93f2-006e-45b6-96d3-e7ef6f759501"]
        assert record.version == 2
        assert record.body["description"] == "MX80 #1, rack 7"
        # What NetBox does not hold stays as it was.
        assert record.body["password"] == {"ref": "env:ESI_ROUTER_PASSWORD"}
    finally:
        device.description = "MX80 #1"
        device.save()


def test_netbox_sync_refuses_a_plain_password_and_writes_nothing(nb: Any, store: Store) -> None:
    revision = store.revision()
    with pytest.raises(ValidationError) as caught:
        sync(nb, store, SyncOptions(password="esiesi0000"))
    assert caught.value.field == "password"
    assert "would be stored in etcd" in str(caught.value)
    assert "esiesi0000" not in str(caught.value)
    assert store.revision() == revision


def test_netbox_sync_writes_a_plain_password_with_the_compatibility_switch(
    nb: Any, store: Store
) -> None:
    sync(nb, store, SyncOptions(password="esiesi0000", plaintext_secrets=True))
    routers = _config(store, "edge_router").values()
    assert [r.body["password"] for r in routers] == ["esiesi0000", "esiesi0000"]


def test_netbox_sync_refuses_a_router_without_address_and_writes_nothing(
    nb: Any, store: Store
) -> None:
    device = nb.dcim.devices.get(name="vMX-router-02")
    address = device.primary_ip4.id
    device.primary_ip4 = None
    device.save()
    try:
        revision = store.revision()
        with pytest.raises(ValidationError) as caught:
            sync(nb, store, OPTIONS)
        assert "vMX-router-02" in str(caught.value)
        assert caught.value.field == "primary_ip4"
        assert store.revision() == revision
    finally:
        device.primary_ip4 = address
        device.save()


def test_netbox_sync_refuses_an_ha_interface_on_an_unknown_device_and_writes_nothing(
    nb: Any, store: Store
) -> None:
    """A VLAN group naming an interface of a device that is no edge router of ours."""
    sync(nb, store, OPTIONS)
    revision = store.revision()
    site = nb.dcim.sites.get(slug="esi-lab")
    other_role = nb.dcim.device_roles.create(name="Switch", slug="switch", color="9e9e9e")
    stranger = nb.dcim.devices.create(
        name="tor-switch-9",
        device_type=nb.dcim.device_types.get(slug="vmx").id,
        role=other_role.id,
        site=site.id,
    )
    port = nb.dcim.interfaces.create(device=stranger.id, name="ae7", type="lag")
    group = nb.ipam.vlan_groups.get(name="sample-ha-router-downlink")
    original = group.custom_fields["esi_secondary_interface"]["id"]
    group.custom_fields["esi_secondary_interface"] = port.id
    group.save()
    try:
        with pytest.raises(ValidationError) as caught:
            sync(nb, store, OPTIONS)
        assert "sample-ha-router-downlink" in caught.value.obj
        assert caught.value.field == "esi_secondary_interface"
        assert store.revision() == revision
    finally:
        group.custom_fields["esi_secondary_interface"] = original
        group.save()
        stranger.delete()
        other_role.delete()


def test_netbox_sync_as_a_command(nb: Any, store: Store, netbox_server: NetBoxServer) -> None:
    """`nornir-esi netbox setup` twice (nothing to create the second time), then
    `nornir-esi netbox sync` twice: created, then unchanged; and a port moved in NetBox."""
    assert isinstance(store, EtcdStore)
    env = {
        "ESI_NETBOX_URL": netbox_server.url,
        "ESI_NETBOX_TOKEN": netbox_server.token,
        "ESI_ROUTER_PASSWORD": "esiesi0000",
        "ESI_ETCD_ENDPOINTS": ",".join(store.endpoints),
        "ESI_PLAINTEXT_SECRETS": "",
    }
    setup = cli("netbox", "setup", **env)
    assert setup.returncode == 0, setup.stderr
    assert "custom scripts esi_gateways.py" in setup.stdout
    assert not any(line.startswith("custom field") for line in setup.stdout.splitlines())
    first = cli("netbox", "sync", **env)
    assert first.returncode == 0, first.stderr
    assert sorted(line.split()[0] for line in first.stdout.splitlines()) == ["created"] * 6
    # --password-env names the variable the workers read: its value is in no key.
    routers = _config(store, "edge_router").values()
    assert [r.body["password"] for r in routers] == [{"ref": "env:ESI_ROUTER_PASSWORD"}] * 2
    assert not any("esiesi0000" in str(e.value) for e in store.get_prefix(""))
    service = nb.ipam.services.get(
        name="netconf", parent_object_id=nb.dcim.devices.get(name="vMX-router-02").id
    )
    service.port_mappings = ["tcp/8830"]
    service.save()
    try:
        second = cli("netbox", "sync", **env)
        assert second.returncode == 0, second.stderr
        assert "updated edge_router 9b82b55a-551e-4069-ae77-c972e30ab0cc" in second.stdout
        assert second.stdout.count("unchanged") == 5
        router = _config(store, "edge_router")["9b82b55a-551e-4069-ae77-c972e30ab0cc"]
        assert router.body["ssh_port"] == 8830
    finally:
        service.port_mappings = ["tcp/830"]
        service.save()
