"""The Heat adapter against a real Heat: create, update (PATCH), adopt after a retry,
delete, failure; and the seed's gateway provisioned with real Heat configured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from nornir_esi.contract import desired, keys
from nornir_esi.contract.records import HeatStack, State
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.exceptions import PermanentError
from nornir_esi.heat.base import Pushed, stack_name
from nornir_esi.heat.openstack import OpenStackHeat
from nornir_esi.netsim.server import Simulator
from nornir_esi.pair.devices import NornirDevices
from nornir_esi.service import Service
from nornir_esi.services import operations
from nornir_esi.store.base import Store
from nornir_esi.testing.heat import HeatServer
from tests.flow.conftest import ROUTERS, write_overrides
from tests.store.helpers import eventually

ROOT = Path(__file__).parent.parent.parent
TEMPLATE = ROOT / "nornir_esi" / "templates" / "heat" / "internet_gateway.yaml"
GW = "internet_gateway"


def _params() -> dict[str, Any]:
    """A value for every parameter the gateway template declares (and a password, which
    must never reach the stack)."""
    declared = yaml.safe_load(TEMPLATE.read_text())["parameters"]
    out: dict[str, Any] = {
        name: 830 if spec["type"] == "number" else f"{name}-value"
        for name, spec in declared.items()
        if not name.endswith(("_router", "_configuration"))
    }
    out["primary_device_password"] = "secret-never-in-heat"
    return out


PUSHED = {
    "primary": Pushed("vMX-router-02", "set interfaces ae0 unit 1025 vlan-id 1025\n"),
    "secondary": Pushed("vMX-router-01", "set interfaces ae0 unit 1025 vlan-id 1025\n"),
}


def _outputs(stack: HeatStack) -> dict[str, Any]:
    return {o["output_key"]: o["output_value"] for o in stack.output}


def _apply(heat: OpenStackHeat, rid: str, params: dict[str, Any], **kw: Any) -> HeatStack:
    return heat.apply(
        GW,
        rid,
        tenant_id="t1",
        template="heat_worker",
        parameters=params,
        timeout_mins=5,
        exists=kw.pop("exists", False),
        pushed=kw.pop("pushed", PUSHED),
    )


def test_heat_stack_create_update_delete(heat_server: HeatServer) -> None:
    heat = OpenStackHeat(heat_server.url)
    rid = "11111111-1111-4111-8111-111111111111"
    params = _params()
    created = _apply(heat, rid, params)
    assert created.stack_status == "CREATE_COMPLETE"
    assert created.status_reason == "Stack CREATE completed successfully"
    assert created.stack_id and created.stack_id != stack_name(GW, rid)
    outputs = _outputs(created)
    assert outputs["primary_configuration"]["router"] == "vMX-router-02"
    assert outputs["secondary_configuration"]["configuration"] == PUSHED["secondary"].configuration
    assert outputs["vrf_name"] == "vrf_name-value"
    stack = heat._find(stack_name(GW, rid))
    assert "primary_device_password" not in stack.parameters
    assert stack.timeout_mins == 5  # the job's heat_timeout

    updated = _apply(heat, rid, {**params, "vrf_name": "vrf_gw_changed"}, exists=True)
    assert updated.stack_id == created.stack_id
    assert updated.stack_status == "UPDATE_COMPLETE"
    assert updated.status_reason == "Stack UPDATE completed successfully"
    assert _outputs(updated)["vrf_name"] == "vrf_gw_changed"
    # Nothing changed: no update is sent, the stack stays as it was.
    before = heat._find(stack_name(GW, rid)).updated_time
    again = _apply(heat, rid, {**params, "vrf_name": "vrf_gw_changed"}, exists=True)
    assert again.stack_status == "UPDATE_COMPLETE"
    assert heat._find(stack_name(GW, rid)).updated_time == before

    deleted = heat.delete(GW, rid, tenant_id="t1")
    assert (deleted.stack_id, deleted.stack_status) == ("", "DELETE_COMPLETE")
    assert heat._find(stack_name(GW, rid)) is None


def test_heat_retried_create_adopts_the_stack(heat_server: HeatServer) -> None:
    """A job retried after a crash creates again: the existing stack is taken over."""
    heat = OpenStackHeat(heat_server.url)
    rid = "22222222-2222-4222-8222-222222222222"
    first = _apply(heat, rid, _params())
    second = _apply(heat, rid, _params())
    assert second.stack_id == first.stack_id
    names = [
        s.stack_name for s in heat._client.stacks.list() if s.stack_name == stack_name(GW, rid)
    ]
    assert names == [stack_name(GW, rid)]
    heat.delete(GW, rid, tenant_id="t1")


def test_heat_failed_stack_fails_with_heats_reason(heat_server: HeatServer, tmp_path: Path) -> None:
    (tmp_path / f"{GW}.yaml").write_text(
        yaml.safe_dump(
            {
                "heat_template_version": "2021-04-16",
                "parameters": {"vlan": {"type": "string"}},
                "resources": {
                    "doomed": {
                        "type": "OS::Heat::TestResource",
                        "properties": {"fail": True, "value": {"get_param": "vlan"}},
                    }
                },
            }
        )
    )
    heat = OpenStackHeat(heat_server.url, templates=tmp_path)
    rid = "33333333-3333-4333-8333-333333333333"
    with pytest.raises(PermanentError) as caught:
        _apply(heat, rid, {"vlan": "1025"}, pushed={})
    assert "CREATE_FAILED" in str(caught.value)
    stack = heat._find(stack_name(GW, rid))
    assert stack.stack_status_reason and stack.stack_status_reason in str(caught.value)
    heat.delete(GW, rid, tenant_id="t1")


def test_heat_seed_gateway_with_real_heat(
    heat_server: HeatServer, store: Store, pair: Simulator, tmp_path: Path
) -> None:
    """The seed's gateway with real Heat configured: the heat_stacks record carries Heat's
    real status and reason, and the outputs show each router's configuration."""
    pair.reset()
    overrides = write_overrides(pair, tmp_path)
    resources = desired.load_file(ROOT / "inventory" / "resources.yaml")
    ((gw_type, gateway),) = desired.load_file(ROOT / "inventory" / "gateway.yaml")
    heat = OpenStackHeat(heat_server.url)
    with Service(store, inventory=str(overrides), workers=1, heat=heat):
        desired.apply(store, resources)
        desired.apply(store, [(gw_type, gateway)])
        state = wait_for_state(store, gw_type, gateway["id"], timeout=120)
        assert state is not None and state.worker_state == "CREATE_COMPLETED", state
    entry = store.get(keys.heat_stack(gw_type, gateway["id"]))
    assert entry is not None
    record = HeatStack.from_value(entry.value)
    assert record.stack_status == "CREATE_COMPLETE"
    assert record.status_reason == "Stack CREATE completed successfully"
    assert record.tenant_id == gateway["tenant_id"]
    outputs = _outputs(record)
    for role, router in (("primary", ROUTERS["primary"]), ("secondary", ROUTERS["secondary"])):
        shown = outputs[f"{role}_configuration"]
        assert shown["router"] == router
        assert "set interfaces ae0 unit 1025 vlan-id 1025" in shown["configuration"]
    # /state carries the outputs as JSON text, as the contract's capture shows.
    assert isinstance(state, State) and json.loads(str(state.heat_outputs)) == record.output

    # The stack changed behind our back: `check` sees it, `repair` puts it back.
    devices = NornirDevices(str(overrides))
    assert not operations.check(store, devices, gateway["id"], heat).found
    stack = heat._find(stack_name(gw_type, gateway["id"]))
    heat._client.stacks.update(
        stack.id, existing=True, parameters={"primary_configuration": "set system host-name x"}
    )
    eventually(
        lambda: heat._find(stack_name(gw_type, gateway["id"])).stack_status == "UPDATE_COMPLETE",
        what="the out-of-band stack update",
        timeout=60,
    )
    drift = operations.check(store, devices, gateway["id"], heat)
    assert drift.stack == {
        ROUTERS["primary"]: "the Heat stack records other configuration than /config"
    }
    assert not any(d.strip() for d in drift.diffs.values())  # the routers are fine
    operations.repair(store, devices, gateway["id"], heat)
    assert not operations.check(store, devices, gateway["id"], heat).found
    heat.delete(gw_type, gateway["id"], tenant_id=gateway["tenant_id"])


def test_heat_failed_stack_fails_the_job_with_heats_reason(
    heat_server: HeatServer, store: Store, pair: Simulator, tmp_path: Path
) -> None:
    """A stack Heat fails ends the gateway's workflow in CREATE_FAILED, the error carrying
    Heat's stack_status_reason."""
    (tmp_path / f"{GW}.yaml").write_text(
        yaml.safe_dump(
            {
                "heat_template_version": "2021-04-16",
                "parameters": {"vlan": {"type": "string"}},
                "resources": {
                    "doomed": {"type": "OS::Heat::TestResource", "properties": {"fail": True}}
                },
            }
        )
    )
    pair.reset()
    overrides = write_overrides(pair, tmp_path)
    resources = desired.load_file(ROOT / "inventory" / "resources.yaml")
    ((gw_type, gateway),) = desired.load_file(ROOT / "inventory" / "gateway.yaml")
    heat = OpenStackHeat(heat_server.url, templates=tmp_path)
    with Service(store, inventory=str(overrides), workers=1, heat=heat):
        desired.apply(store, resources)
        desired.apply(store, [(gw_type, gateway)])
        state = wait_for_state(store, gw_type, gateway["id"], timeout=120)
    assert state is not None and state.worker_state == "CREATE_FAILED", state
    stack = heat._find(stack_name(gw_type, gateway["id"]))
    assert stack.stack_status == "CREATE_FAILED"
    assert stack.stack_status_reason in state.error
    heat.delete(gw_type, gateway["id"], tenant_id=gateway["tenant_id"])
