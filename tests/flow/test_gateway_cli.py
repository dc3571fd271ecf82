"""``nornir-esi gateway create|show|list|delete`` on a running system (real etcd, a job
manager and a worker, the simulated router pair), through click's runner.

Exit codes are the group's contract: 0 done, 1 the workflow failed, 2 bad input (nothing
written), 3 no outcome yet (timed out).
"""

from __future__ import annotations

import getpass
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from nornir_esi.cli import main
from nornir_esi.contract import desired, keys
from nornir_esi.contract.records import AuditRequest, ConfigRecord, State
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.netsim.server import Simulator
from nornir_esi.service import Service
from nornir_esi.store.base import Store
from nornir_esi.testing.etcd import EtcdServer
from tests.store.helpers import eventually

from .conftest import INVENTORY, ROUTERS

RESOURCES = desired.load_file(INVENTORY / "resources.yaml")
BY_TYPE = {t: b for t, b in RESOURCES}
GW = "internet_gateway"
HA_ID = BY_TYPE["ha_interface"]["id"]
SERVICE_ID = BY_TYPE["internet_service"]["id"]
QOS_ID = BY_TYPE["qos_option"]["id"]
TENANT = BY_TYPE["internet_service"]["tenant_id"]
NEW_ID = "7d0c4b8e-3f7a-4b4e-9d0e-5a8c2f1e6b01"


def choices(vlan: str = "1026", **changes: str) -> list[str]:
    """The options of a gateway on the sample HA interface."""
    given = {
        "--id": NEW_ID,
        "--name": "gw-cli",
        "--tenant": TENANT,
        "--vlan": vlan,
        "--downlink-interface": HA_ID,
        "--internet-service": SERVICE_ID,
        "--qos-option": QOS_ID,
        **changes,
    }
    return [part for option, value in given.items() for part in (option, value)]


def cli(etcd: EtcdServer, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--etcd", etcd.endpoints], catch_exceptions=False)


def _config(store: Store, resource_id: str = NEW_ID) -> ConfigRecord | None:
    entry = store.get(keys.config(GW, resource_id))
    return None if entry is None else ConfigRecord.from_value(entry.value)


def _state(store: Store, resource_id: str = NEW_ID) -> State | None:
    entry = store.get(keys.state(GW, resource_id))
    return None if entry is None else State.from_value(entry.value)


def test_create_follows_the_workflow_and_exits_0(
    store: Store, sample_service: Service, etcd_server: EtcdServer
) -> None:
    result = cli(etcd_server, "gateway", "create", *choices())
    assert result.exit_code == 0, (result.stdout, result.stderr)
    # The live display's last frame: every step done, the jobs with the worker that ran them.
    worker = sample_service.workers[0].id
    out = result.stdout
    assert f"{GW} {NEW_ID}" in out and "version 1 (create)" in out
    for line in (
        "config written",
        "jobs planned",
        "create heat_worker",
        "create monitoring_worker",
        f"finished by {worker}",
        "CREATE_COMPLETE",
        "downlink=ACTIVE",
        "CREATE_COMPLETED",
    ):
        assert line in out, (line, out)
    assert "…" not in out  # nothing left pending
    # Not a terminal: the last frame once, ending its line (the shell's next line is its own).
    assert out.count("config written") == 1 and out.endswith("\n"), repr(out[-80:])
    state = _state(store)
    assert state is not None and (state.worker_state, state.version) == ("CREATE_COMPLETED", 1)
    # The body the options asked for, the rest derived as NetBox's script derives it.
    record = _config(store)
    assert record is not None
    body = record.body
    assert (body["vlan_id"], body["name"], body["tenant_id"]) == ("1026", "gw-cli", TENANT)
    assert body["vrf_name"] == "vrf_gw_sample-ha-router-downlink_1026"
    assert body["primary_logical_interface_name"] == "ae0.1026"
    assert body["secondary_logical_interface_name"] == "ae0.1026"
    assert body["maximum_static_routes"] == 32
    # Who asked: the OS user, through the CLI, in the version's audit record.
    entry = store.get(keys.audit_request(GW, NEW_ID, 1))
    assert entry is not None
    request = AuditRequest.from_value(entry.value)
    assert (request.via, request.principal, request.change) == (
        "cli",
        getpass.getuser(),
        "created",
    )


def test_create_json_is_one_object_with_the_outcome(
    store: Store, sample_service: Service, etcd_server: EtcdServer
) -> None:
    result = cli(etcd_server, "gateway", "create", *choices(), "--json")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    out = json.loads(result.stdout)  # nothing but the object: no live display
    assert (out["type"], out["id"], out["version"]) == (GW, NEW_ID, 1)
    assert (out["outcome"], out["change"], out["worker_state"], out["error"]) == (
        "done",
        "created",
        "CREATE_COMPLETED",
        "",
    )
    assert sorted((j["action"], j["handler"]) for j in out["jobs"]) == [
        ("create", "heat_worker"),
        ("create", "monitoring_worker"),
    ]
    for job in out["jobs"]:
        assert job["queue"] == "finished" and job["worker"] == sample_service.workers[0].id, job
        assert job["job"].startswith(f"{job['action']}:{job['handler']}:{GW}:{NEW_ID}:1:")
    assert out["stack_status"] == "CREATE_COMPLETE"
    assert out["monitoring"] == {"downlink": "ACTIVE", "uplink": "ACTIVE"}


def test_create_without_vlan_or_ha_interface_places_the_gateway(
    store: Store, sample_service: Service, etcd_server: EtcdServer
) -> None:
    assert cli(etcd_server, "gateway", "create", *choices(vlan="1025"), "--json").exit_code == 0
    placed = [
        p
        for p in choices()
        if p not in ("--vlan", "1026", "--downlink-interface", HA_ID, "--id", NEW_ID)
    ]
    result = cli(etcd_server, "gateway", "create", *placed, "--json")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    out = json.loads(result.stdout)
    assert out["worker_state"] == "CREATE_COMPLETED"
    record = _config(store, out["id"])
    assert record is not None
    # The lowest VLAN free on the service's downlink: 1025 is the first gateway's.
    assert (record.body["downlink_interface_id"], record.body["vlan_id"]) == (HA_ID, "1026")
    assert record.body["primary_logical_interface_name"] == "ae0.1026"


def test_create_from_a_file_of_choices(
    store: Store, sample_service: Service, etcd_server: EtcdServer, tmp_path: Path
) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "id": NEW_ID,
                "name": "gw-file",
                "vlan_id": 1030,
                "downlink_interface_id": HA_ID,
                "internet_service_id": SERVICE_ID,
                "qos_option_id": QOS_ID,
            }
        )
    )
    # An option given beside the file wins over the file's value.
    result = cli(etcd_server, "gateway", "create", "-f", str(path), "--name", "gw-opt", "--json")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert json.loads(result.stdout)["worker_state"] == "CREATE_COMPLETED"
    record = _config(store)
    assert record is not None
    assert (record.body["name"], record.body["vlan_id"]) == ("gw-opt", "1030")
    assert record.body["vrf_name"] == "vrf_gw_sample-ha-router-downlink_1030"
    # No tenant chosen: the HA interface's.
    assert record.body["tenant_id"] == BY_TYPE["ha_interface"]["tenant_id"]


BAD = {
    "vlan-out-of-range": (choices(vlan="5000"), "vlan_id 5000 is outside 1-4094"),
    "vlan-not-digits": (choices(vlan="abc"), "vlan_id 'abc' is not a string of digits"),
    "unknown-ha-interface": (
        choices(**{"--downlink-interface": "ffffffff-ffff-4fff-8fff-ffffffffffff"}),
        "downlink_interface_id ha_interface 'ffffffff-ffff-4fff-8fff-ffffffffffff' is not in",
    ),
    "unknown-qos-option": (
        choices(**{"--qos-option": "ffffffff-ffff-4fff-8fff-ffffffffffff"}),
        "qos_option_id",
    ),
    # A gateway's name may be left out, as the origin's schema allows; its QoS option not.
    "no-qos-option": (
        [p for p in choices() if p not in ("--qos-option", QOS_ID)],
        "qos_option_id is missing",
    ),
}


@pytest.mark.parametrize("args,message", list(BAD.values()), ids=list(BAD))
def test_bad_input_exits_2_naming_the_field_and_writes_nothing(
    store: Store, sample_service: Service, etcd_server: EtcdServer, args: list[str], message: str
) -> None:
    eventually(lambda: not store.get_prefix(keys.JOBS_PREFIX), timeout=10, what="a quiet queue")
    before = (store.revision(), store.get_prefix(""))
    result = cli(etcd_server, "gateway", "create", *args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert f"nornir-esi: {GW} {NEW_ID}: {message}" in result.stderr, result.stderr
    assert (store.revision(), store.get_prefix("")) == before


def test_an_existing_id_exits_2(
    store: Store, sample_service: Service, etcd_server: EtcdServer
) -> None:
    assert cli(etcd_server, "gateway", "create", *choices(), "--json").exit_code == 0
    # The last job's /state lands before the manager collects the jobs: wait for quiet.
    eventually(lambda: not store.get_prefix(keys.JOBS_PREFIX), timeout=10, what="a quiet queue")
    before = (store.revision(), store.get_prefix(""))
    result = cli(etcd_server, "gateway", "create", *choices(vlan="1027"))
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert f"{GW} {NEW_ID}: id already exists" in result.stderr
    assert (store.revision(), store.get_prefix("")) == before


def test_a_failed_workflow_exits_1_with_the_error(
    store: Store, sample_service: Service, etcd_server: EtcdServer, pair: Simulator
) -> None:
    pair.set_faults(ROUTERS["primary"], fail_commits=1, fail_message="commit failed: RE busy")
    try:
        result = cli(etcd_server, "gateway", "create", *choices())
        as_json = cli(etcd_server, "gateway", "show", NEW_ID, "--json")
    finally:
        pair.set_faults(ROUTERS["primary"], fail_commits=0)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "CREATE_FAILED" in result.stdout  # the display's last frame
    assert result.stderr.startswith("nornir-esi: CREATE_FAILED: ")
    assert "commit failed: RE busy" in result.stderr and ROUTERS["primary"] in result.stderr
    # show: exit 1 too, the state with its error.
    assert as_json.exit_code == 1
    shown = json.loads(as_json.stdout)
    assert shown["state"]["state"]["worker_state"] == "CREATE_FAILED"
    assert "commit failed: RE busy" in shown["state"]["error"]


def test_no_wait_returns_once_written_and_a_timeout_exits_3(
    store: Store, sample_service: Service, etcd_server: EtcdServer
) -> None:
    result = cli(etcd_server, "gateway", "create", *choices(), "--no-wait")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert result.stdout == f"created {GW} {NEW_ID} version 1\n"
    record = _config(store)
    assert record is not None and record.version == 1
    assert wait_for_state(store, GW, NEW_ID, timeout=60) is not None

    # No time to wait at all: the outcome is not known, the workflow goes on.
    other = "7d0c4b8e-3f7a-4b4e-9d0e-5a8c2f1e6b02"
    result = cli(
        etcd_server,
        "gateway",
        "create",
        *choices(vlan="1027", **{"--id": other}),
        "--timeout",
        "0",
        "--json",
    )
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert json.loads(result.stdout)["outcome"] == "timeout"
    state = wait_for_state(store, GW, other, timeout=60)
    assert state is not None and state.worker_state == "CREATE_COMPLETED"


def test_show_list_and_delete(
    store: Store, sample_service: Service, etcd_server: EtcdServer
) -> None:
    assert cli(etcd_server, "gateway", "create", *choices(), "--json").exit_code == 0

    shown = cli(etcd_server, "gateway", "show", NEW_ID, "--json")
    assert shown.exit_code == 0, shown.stderr
    value = json.loads(shown.stdout)
    assert (value["id"], value["version"], value["deleting"]) == (NEW_ID, 1, False)
    assert value["body"]["vrf_name"] == "vrf_gw_sample-ha-router-downlink_1026"
    assert value["state"] == {"state": value["state"]["state"], "version": 1, "error": ""}
    assert value["state"]["state"]["worker_state"] == "CREATE_COMPLETED"
    assert value["monitoring"] == {"downlink": "ACTIVE", "uplink": "ACTIVE"}
    assert value["stack"]["stack_status"] == "CREATE_COMPLETE"
    # The API's status, derived from /config and /state, not the one stored at the write.
    assert (value["status"], value["body"]["status"]) == ("ACTIVE", "PENDING_CREATE")
    table = cli(etcd_server, "gateway", "show", NEW_ID)
    assert table.exit_code == 0 and "CREATE_COMPLETED (v1)" in table.stdout
    assert "gw-cli" in table.stdout
    assert re.search(r"\bstatus\s+│\s+ACTIVE\s", table.stdout), table.stdout
    assert "PENDING_CREATE" not in table.stdout
    assert "downlink=ACTIVE, uplink=ACTIVE" in table.stdout

    listed = cli(etcd_server, "gateway", "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert (row["id"], row["name"], row["worker_state"]) == (NEW_ID, "gw-cli", "CREATE_COMPLETED")
    # A gateway writes no /monitoring: its monitoring is the measure in its /state, as shown.
    assert store.get(keys.monitoring(GW, NEW_ID)) is None
    assert row["monitoring"] == value["monitoring"] == {"downlink": "ACTIVE", "uplink": "ACTIVE"}
    listed = cli(etcd_server, "gateway", "list")
    assert NEW_ID in listed.stdout and "gw-cli" in listed.stdout
    assert "downlink=ACTIVE, uplink=ACTIVE" in listed.stdout
    status = cli(etcd_server, "status", GW, "--json")
    assert status.exit_code == 0, status.stderr
    assert [r["monitoring"] for r in json.loads(status.stdout)] == [row["monitoring"]]

    deleted = cli(etcd_server, "gateway", "delete", NEW_ID)
    assert deleted.exit_code == 0, (deleted.stdout, deleted.stderr)
    for line in ("version 2 (delete)", "logical_delete heat_worker", "DELETE_COMPLETED"):
        assert line in deleted.stdout, (line, deleted.stdout)
    assert deleted.stdout.endswith("\n")
    assert "the resource is gone" in deleted.stdout
    # DELETE_COMPLETED means the keys are gone; the audit trail stays.
    assert _config(store) is None and _state(store) is None
    assert store.get(keys.heat_stack(GW, NEW_ID)) is None
    assert store.get(keys.audit_request(GW, NEW_ID, 2)) is not None

    missing = cli(etcd_server, "gateway", "show", NEW_ID)
    assert missing.exit_code == 2 and f"{GW} {NEW_ID}: id is not in /config" in missing.stderr
    gone = cli(etcd_server, "gateway", "delete", NEW_ID, "--json")
    assert gone.exit_code == 2 and "does not exist" in gone.stderr


def test_delete_json(store: Store, sample_service: Service, etcd_server: EtcdServer) -> None:
    assert cli(etcd_server, "gateway", "create", *choices(), "--json").exit_code == 0
    result = cli(etcd_server, "gateway", "delete", NEW_ID, "--json")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    out: dict[str, Any] = json.loads(result.stdout)
    assert (out["outcome"], out["change"], out["version"], out["gone"]) == (
        "done",
        "deleting",
        2,
        True,
    )
    assert out["worker_state"] == "DELETE_COMPLETED"
    assert [(j["action"], j["queue"]) for j in out["jobs"]] == [("logical_delete", "finished")]


def test_the_group_help_documents_the_exit_codes() -> None:
    result = CliRunner().invoke(main, ["gateway", "--help"])
    assert result.exit_code == 0
    for line in ("0  done", "1  the workflow failed", "2  bad input", "3  no outcome yet"):
        assert line in result.stdout, result.stdout
