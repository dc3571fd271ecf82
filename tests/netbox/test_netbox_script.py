"""A gateway ordered from NetBox's custom script, end to end: the real NetBox runs the
script (its RQ worker), the script asks our API (signed with the webhook's secret), the
job manager and a worker provision the simulated router pair, and the state is written
back to NetBox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pynetbox
import pytest
import requests

from nornir_esi.contract import desired, keys
from nornir_esi.contract.records import AuditRequest, ConfigRecord
from nornir_esi.doors.api import ApiServer, NetBoxDoor, create_app
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.netbox.schema import ensure_event_rule, ensure_scripts
from nornir_esi.netbox.seed import seed
from nornir_esi.netbox.sync import SyncOptions, sync
from nornir_esi.netbox.webhook import SIGNATURE_HEADER, sign
from nornir_esi.netsim.server import Simulator
from nornir_esi.pair.devices import NornirDevices
from nornir_esi.service import Service
from nornir_esi.store.base import Store
from nornir_esi.testing.netbox import ADMIN_USER, NetBoxServer
from tests.flow.conftest import ROUTERS, write_overrides
from tests.store.helpers import eventually
from tests.synthetic import carried

INVENTORY = Path(__file__).parent.parent.parent / "inventory"
SECRET = "script-secret-for-tests"
GW = "internet_gateway"
SERVICE = "848e04de-733d-4f98-8971-bdb3b83e0296"
QOS = "e25f6309-c384-446e-bdc1-5241cb14890b"


@dataclass
class Stack:
    netbox: NetBoxServer
    nb: Any
    store: Store
    sim: Simulator
    api: ApiServer

    def run_script(self, name: str, data: dict[str, Any], commit: bool) -> dict[str, Any]:
        """Run a custom script through NetBox's REST API; its finished job."""
        headers = {"Authorization": f"Token {self.netbox.token}", "Accept": "application/json"}
        response = requests.post(
            f"{self.netbox.url}/api/extras/scripts/esi_gateways.{name}/",
            json={"data": data, "commit": commit},
            headers=headers,
            timeout=60,
        )
        assert response.status_code < 300, response.text
        job_url = response.json()["result"]["url"]

        def finished() -> dict[str, Any] | None:
            job: dict[str, Any] = requests.get(job_url, headers=headers, timeout=30).json()
            return job if job["status"]["value"] in ("completed", "errored", "failed") else None

        return eventually(finished, what=f"NetBox job of {name}", timeout=120, interval=0.2)

    def gateways(self) -> dict[str, ConfigRecord]:
        return {
            e.key.rsplit("/", 1)[1]: ConfigRecord.from_value(e.value)
            for e in self.store.get_prefix(keys.type_prefix(keys.CONFIG_PREFIX, GW))
        }


def _log(job: dict[str, Any]) -> str:
    data = job.get("data") or {}
    entries = data.get("log", []) if isinstance(data, dict) else []
    return "\n".join(str(e.get("message", "")) for e in entries) + str(job.get("error", ""))


@pytest.fixture
def stack(
    netbox_server: NetBoxServer, store: Store, pair: Simulator, tmp_path: Path
) -> Iterator[Stack]:
    pair.reset()
    nb = pynetbox.api(netbox_server.url, token=netbox_server.token)
    resources = desired.load_file(INVENTORY / "resources.yaml")
    seed(nb, resources)
    overrides = write_overrides(pair, tmp_path)
    door = NetBoxDoor(
        nb,
        SECRET,
        SyncOptions(password={"ref": "env:ESI_ROUTER_PASSWORD"}),
        devices=NornirDevices(str(overrides)),
    )
    with (
        Service(store, inventory=str(overrides), workers=1, manager_lease_ttl=5),
        ApiServer(create_app(store, door)) as api,
    ):
        ensure_event_rule(nb, f"{api.url}/netbox/webhook", SECRET)
        ensure_scripts(netbox_server.url, netbox_server.token)
        sync(nb, store, door.options)
        ours = [(t, b) for t, b in resources if t in ("internet_service", "qos_option")]
        desired.apply(store, ours)
        for resource_type, body in resources:
            assert wait_for_state(store, resource_type, body["id"], timeout=60) is not None
        yield Stack(netbox_server, nb, store, pair, api)
    # NetBox is the session's: what the gateways left in it goes.
    for unit in nb.dcim.interfaces.filter(type="virtual"):
        unit.delete()
    for vrf in nb.ipam.vrfs.all():
        vrf.delete()
    for vlan in nb.ipam.vlans.all():
        vlan.delete()


def _order(stack: Stack, vlan: int) -> dict[str, Any]:
    group = stack.nb.ipam.vlan_groups.get(name="sample-ha-router-downlink")
    tenant = stack.nb.tenancy.tenants.get(slug="0b576f6f4cbf414f829cd12f008bf08f")
    return {
        "ha_interface": group.id,
        "vlan_id": vlan,
        "gateway_name": f"gw-{vlan}",
        "tenant": tenant.id,
        "internet_service": SERVICE,
        "qos_option": QOS,
        "gateway_description": "ordered in NetBox",
    }


def test_netbox_script_dry_run_shows_each_routers_diff_and_writes_nothing(stack: Stack) -> None:
    job = stack.run_script("CreateInternetGateway", _order(stack, 1030), commit=False)
    assert job["status"]["value"] == "completed", _log(job)
    log = _log(job)
    for router in ROUTERS.values():
        assert f"{router}: `show | compare`" in log
    assert "unit 1030" in log and "vrf_gw_sample-ha-router-downlink_1030" in log
    assert stack.gateways() == {}
    assert list(stack.nb.ipam.vlans.filter(vid=1030)) == []
    assert stack.store.get_prefix(keys.JOBS_ALL) == []


def test_netbox_script_gateway_reaches_the_routers_and_netbox_shows_it(stack: Stack) -> None:
    job = stack.run_script("CreateInternetGateway", _order(stack, 1031), commit=True)
    assert job["status"]["value"] == "completed", _log(job)
    ((gateway_id, record),) = stack.gateways().items()
    assert f"internet_gateway {gateway_id}" in _log(job)
    assert f"create:heat_worker:{GW}:{gateway_id}:1:" in _log(job)
    assert record.body["vrf_name"] == "vrf_gw_sample-ha-router-downlink_1031"
    assert record.body["primary_logical_interface_name"] == "ae0.1031"
    state = wait_for_state(stack.store, GW, gateway_id, timeout=60)
    assert state is not None and state.worker_state == "CREATE_COMPLETED", state
    # The audit trail names who ran the script in NetBox, and NetBox's request.
    audited = stack.store.get(keys.audit_request(GW, gateway_id, 1))
    assert audited is not None
    request = AuditRequest.from_value(audited.value)
    assert (request.via, request.principal, request.change) == ("netbox", ADMIN_USER, "created")
    assert request.request_id
    for router in ROUTERS.values():
        on_router = carried(stack.sim, router)
        assert "1031" in on_router["units"], router
        assert "vrf_gw_sample-ha-router-downlink_1031" in on_router["vrfs"], router

    def shown() -> Any:
        vlan = stack.nb.ipam.vlans.get(cf_esi_id=gateway_id)
        return vlan if vlan is not None and vlan.status.value == "active" else None

    vlan = eventually(shown, what="the VLAN active in NetBox", timeout=60)
    assert vlan.vid == 1031 and vlan.custom_fields["esi_state"] == "CREATE_COMPLETED"
    vrf = stack.nb.ipam.vrfs.get(name="vrf_gw_sample-ha-router-downlink_1031")
    assert vrf is not None
    for router in ROUTERS.values():
        device = stack.nb.dcim.devices.get(name=router)
        unit = stack.nb.dcim.interfaces.get(device_id=device.id, name="ae0.1031")
        assert unit is not None, router
        assert unit.vrf.id == vrf.id and [v.id for v in unit.tagged_vlans] == [vlan.id]


def test_netbox_script_refuses_a_vlan_taken_on_the_ha_interface(stack: Stack) -> None:
    first = stack.run_script("CreateInternetGateway", _order(stack, 1032), commit=True)
    assert first["status"]["value"] == "completed", _log(first)
    before = stack.gateways()
    second = stack.run_script("CreateInternetGateway", _order(stack, 1032), commit=True)
    assert second["status"]["value"] in ("errored", "failed")
    assert "vlan_id 1032 is already taken" in _log(second)
    assert stack.gateways().keys() == before.keys()
    assert len(list(stack.nb.ipam.vlans.filter(vid=1032))) == 1


def test_netbox_script_delete_takes_the_gateway_off_routers_and_netbox(stack: Stack) -> None:
    created = stack.run_script("CreateInternetGateway", _order(stack, 1033), commit=True)
    assert created["status"]["value"] == "completed", _log(created)
    ((gateway_id, _),) = stack.gateways().items()
    eventually(
        lambda: (v := stack.nb.ipam.vlans.get(cf_esi_id=gateway_id)) and v.status.value == "active",
        what="the VLAN active in NetBox",
        timeout=60,
    )
    vlan = stack.nb.ipam.vlans.get(cf_esi_id=gateway_id)
    job = stack.run_script("DeleteInternetGateway", {"vlan": vlan.id}, commit=True)
    assert job["status"]["value"] == "completed", _log(job)
    assert f"delete:heat_worker:{GW}:{gateway_id}:2:" in _log(job)
    # The two-step delete ends with every key of the gateway gone from etcd.
    eventually(lambda: stack.gateways() == {}, what="the gateway gone from /config", timeout=90)
    for router in ROUTERS.values():
        assert "1033" not in carried(stack.sim, router)["units"], router
    eventually(
        lambda: stack.nb.ipam.vlans.get(cf_esi_id=gateway_id) is None,
        what="the VLAN gone from NetBox",
        timeout=60,
    )
    assert stack.nb.ipam.vrfs.get(name="vrf_gw_sample-ha-router-downlink_1033") is None
    assert list(stack.nb.dcim.interfaces.filter(name="ae0.1033")) == []


def test_netbox_gateway_request_for_an_unknown_ha_interface_changes_nothing(
    stack: Stack,
) -> None:
    body = json.dumps(
        {
            "action": "create",
            "dry_run": False,
            "gateway": {
                "id": "5a0c8f57-2b8f-4c44-8f8a-9c1f5c0b7d11",
                "name": "gw-nowhere",
                "tenant_id": "0b576f6f4cbf414f829cd12f008bf08f",
                "vlan_id": "1034",
                "downlink_interface_id": "00000000-0000-4000-8000-000000000000",
                "internet_service_id": SERVICE,
                "qos_option_id": QOS,
            },
        }
    ).encode()
    response = requests.post(
        f"{stack.api.url}/netbox/gateways",
        data=body,
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign(SECRET, body)},
        timeout=30,
    )
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["field"] == "downlink_interface_id"
    assert "5a0c8f57-2b8f-4c44-8f8a-9c1f5c0b7d11" in error["object"]
    assert stack.gateways() == {}
    assert stack.store.get_prefix(keys.JOBS_ALL) == []


def test_netbox_script_refused_by_nornir_esi_leaves_no_vlan_behind(stack: Stack) -> None:
    """The VLAN is reserved before nornir-esi is asked; its refusal rolls it back."""
    order = {**_order(stack, 1035), "qos_option": "00000000-0000-4000-8000-0000000000aa"}
    job = stack.run_script("CreateInternetGateway", order, commit=True)
    assert job["status"]["value"] in ("errored", "failed")
    assert "qos_option_id" in _log(job)
    assert list(stack.nb.ipam.vlans.filter(vid=1035)) == []
    assert stack.gateways() == {}


def test_netbox_script_update_modifies_the_gateway(stack: Stack) -> None:
    created = stack.run_script("CreateInternetGateway", _order(stack, 1036), commit=True)
    assert created["status"]["value"] == "completed", _log(created)
    ((gateway_id, _),) = stack.gateways().items()
    state = wait_for_state(stack.store, GW, gateway_id, timeout=60)
    assert state is not None and state.worker_state == "CREATE_COMPLETED", state
    vlan = stack.nb.ipam.vlans.get(cf_esi_id=gateway_id)
    job = stack.run_script(
        "UpdateInternetGateway",
        {"vlan": vlan.id, "gateway_description": "upgraded by the tenant"},
        commit=True,
    )
    assert job["status"]["value"] == "completed", _log(job)
    assert f"internet_gateway {gateway_id}: updated, version 2" in _log(job)
    assert f":{GW}:{gateway_id}:2:" in _log(job)
    state = wait_for_state(stack.store, GW, gateway_id, version=2, timeout=60)
    assert state is not None and state.worker_state == "MODIFY_COMPLETED", state
    record = stack.gateways()[gateway_id]
    assert record.body["description"] == "upgraded by the tenant"
    assert record.body["vlan_id"] == "1036"  # what was not asked for stays
