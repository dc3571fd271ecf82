"""``nornir-esi audit TYPE ID``: for each version of a gateway, who asked for it (CLI user,
API token, NetBox user and request id), the jobs and the workers that ran them, on each
router the commits of each job (comment names the job id) with their rollback index, and the
stack; the routers read live, the rest from the audit records, which outlive the gateway
(and keep which routers its jobs changed, so their commits still show after a delete).
"""

from __future__ import annotations

import getpass
import json
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from click.testing import CliRunner, Result

from nornir_esi.cli import main
from nornir_esi.contract import desired, keys
from nornir_esi.contract.records import AuditJob, AuditRequest, AuditRouter, AuditStack
from nornir_esi.doors.api import ApiServer, create_app
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.exceptions import ValidationError
from nornir_esi.netbox import gateways, webhook
from nornir_esi.netsim.server import Simulator
from nornir_esi.service import Service
from nornir_esi.store.base import Store
from nornir_esi.testing.etcd import EtcdServer
from tests.store.helpers import eventually

from .conftest import INVENTORY, ROUTERS

RESOURCES = desired.load_file(INVENTORY / "resources.yaml")
((GW, GATEWAY),) = desired.load_file(INVENTORY / "gateway.yaml")
GATEWAY_ID = GATEWAY["id"]
ROUTER_IDS = {b["name"]: b["id"] for t, b in RESOURCES if t == "edge_router"}
TOKENS = {"ops-robot": "ops-robot-0123456789abcdef"}


def cli(etcd: EtcdServer, *args: str | Path) -> Result:
    return CliRunner().invoke(
        main, [*map(str, args), "--etcd", etcd.endpoints], catch_exceptions=False
    )


def audit(etcd: EtcdServer, overrides: Path, *extra: str) -> dict[str, Any]:
    result = cli(etcd, "audit", GW, GATEWAY_ID, "--json", "--inventory", overrides, *extra)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    trail: dict[str, Any] = json.loads(result.stdout)
    return trail


def _heat_job(version: dict[str, Any]) -> dict[str, Any]:
    (job,) = [j for j in version["jobs"] if j["handler"] == "heat_worker"]
    return job


def _comment(pair: Simulator, router: str, index: int) -> str:
    """The log of a router's commit ``index`` (its rollback number), from the simulator."""
    return pair.call(lambda: pair.router(router).history[index].comment)


def test_audit_of_a_cli_create_then_an_api_update(
    store: Store, sample_service: Service, pair: Simulator, overrides: Path, etcd_server: EtcdServer
) -> None:
    worker = sample_service.workers[0].id
    created = cli(etcd_server, "gateway", "create", "-f", INVENTORY / "gateway.yaml", "--json")
    assert created.exit_code == 0, (created.stdout, created.stderr)

    # After the create: one version, asked for by the OS user through the CLI.
    trail = audit(etcd_server, overrides)
    (v1,) = trail["versions"]
    assert v1["request"]["via"] == "cli" and v1["request"]["principal"] == getpass.getuser()
    assert (v1["request"]["change"], v1["request"]["request_id"]) == ("created", "")
    assert sorted((j["action"], j["handler"]) for j in v1["jobs"]) == [
        ("create", "heat_worker"),
        ("create", "monitoring_worker"),
    ]
    for job in v1["jobs"]:
        assert (job["worker"], job["outcome"], job["error"], job["attempts"]) == (
            worker,
            "finished",
            "",
            1,
        )
        # Planned (by the manager, with the version's jobs) after it was asked for.
        assert v1["request"]["at"] <= job["planned"] <= job["started"] <= job["ended"]
    create = _heat_job(v1)
    assert set(trail["routers"]) == set(ROUTERS.values())
    for role, name in ROUTERS.items():
        assert trail["routers"][name] == {"role": role, "error": ""}
        # The pair transaction's two commits (confirmed, then confirming), both carrying the
        # job id; the newest is rollback 0.
        assert create["routers"][name] == {"commits": [0, 1], "rollback": 0, "undone": []}
        assert _comment(pair, name, 0) == _comment(pair, name, 1) == create["job"]
    assert v1["stack"] == {
        "stack_id": f"{GW}_{GATEWAY_ID}",
        "stack_status": "CREATE_COMPLETE",
        "status_reason": v1["stack"]["status_reason"],
        # The routers the job changed, for when the gateway's way to them is gone.
        "routers": {role: {"id": ROUTER_IDS[name], "name": name} for role, name in ROUTERS.items()},
    }

    # A second version through the API, by a token's holder, with the client's request id.
    with ApiServer(create_app(store, tokens=TOKENS)) as api:
        answer = requests.put(
            f"{api.url}/v2.0/internet_gateways/{GATEWAY_ID}",
            json={GW: {"vrf_name": "vrf_gw_1025_v2"}},
            headers={"X-Auth-Token": TOKENS["ops-robot"], "X-Request-Id": "req-42"},
            timeout=10,
        )
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Request-Id"] == "req-42"
    state = wait_for_state(store, GW, GATEWAY_ID, version=2, timeout=60)
    assert state is not None and state.worker_state == "MODIFY_COMPLETED", state

    trail = audit(etcd_server, overrides)
    v1, v2 = trail["versions"]
    assert v1["request"]["via"] == "cli"  # the first version's requester is kept
    assert (v2["request"]["via"], v2["request"]["principal"], v2["request"]["request_id"]) == (
        "api",
        "ops-robot",
        "req-42",
    )
    assert v2["request"]["change"] == "updated"
    assert sorted((j["action"], j["handler"]) for j in v2["jobs"]) == [
        ("create", "monitoring_worker"),
        ("delete", "monitoring_worker"),
        ("modify", "heat_worker"),
    ]
    assert {j["worker"] for j in v2["jobs"]} == {worker}
    modify, create = _heat_job(v2), _heat_job(v1)
    for name in ROUTERS.values():
        # The modify's commits are the newest; the create's moved down by two.
        assert modify["routers"][name] == {"commits": [0, 1], "rollback": 0, "undone": []}
        assert create["routers"][name] == {"commits": [2, 3], "rollback": 2, "undone": []}
        assert _comment(pair, name, 0) == modify["job"]
        assert _comment(pair, name, 2) == create["job"]
        # Jobs that change no router have no commit there.
        for job in v2["jobs"]:
            if job["handler"] == "monitoring_worker":
                assert job["routers"][name] == {"commits": [], "rollback": None, "undone": []}
    assert v1["stack"]["stack_status"] == "CREATE_COMPLETE"
    assert v2["stack"]["stack_status"] == "UPDATE_COMPLETE"
    assert trail["stack"]["stack_status"] == "UPDATE_COMPLETE"  # the record as stored now
    assert trail["current"] == {
        "version": 2,
        "deleting": False,
        "worker_state": "MODIFY_COMPLETED",
        "state_version": 2,
        "error": "",
    }

    # The same as a tree for people.
    text = cli(etcd_server, "audit", GW, GATEWAY_ID, "--inventory", overrides)
    assert text.exit_code == 0, text.stderr
    out = text.stdout
    assert f"version 1: created via cli by {getpass.getuser()}" in out
    assert "version 2: updated via api by ops-robot request req-42" in out
    assert f"job {modify['job']}: finished (worker {worker}, 1 attempt" in out
    for name in ROUTERS.values():
        assert f"{name}: commits 0, 1 (comment names the job id), rollback 0" in out
        assert f"{name}: commits 2, 3 (comment names the job id), rollback 2" in out
    assert "stack now: " in out and "UPDATE_COMPLETE" in out
    assert "no commit" not in out

    # A third version that changes only the description, which no router configuration
    # carries: its heat job finishes without a commit, and the trail says so per router.
    with ApiServer(create_app(store, tokens=TOKENS)) as api:
        answer = requests.put(
            f"{api.url}/v2.0/internet_gateways/{GATEWAY_ID}",
            json={GW: {"description": "renamed in the portal"}},
            headers={"X-Auth-Token": TOKENS["ops-robot"]},
            timeout=10,
        )
    assert answer.status_code == 200, answer.text
    state = wait_for_state(store, GW, GATEWAY_ID, version=3, timeout=60)
    assert state is not None and state.worker_state == "MODIFY_COMPLETED", state
    trail = audit(etcd_server, overrides)
    v3 = trail["versions"][2]
    described = _heat_job(v3)
    assert described["outcome"] == "finished"
    for name in ROUTERS.values():
        assert described["routers"][name] == {"commits": [], "rollback": None, "undone": []}
        assert _comment(pair, name, 0) == modify["job"]  # still the newest commit
    text = cli(etcd_server, "audit", GW, GATEWAY_ID, "--inventory", overrides)
    assert text.exit_code == 0, text.stderr
    for name in ROUTERS.values():
        assert text.stdout.count(f"{name}: no commit (nothing to change)") == 1, text.stdout


def test_a_router_that_cannot_be_reached_shows_as_such(
    store: Store, sample_service: Service, pair: Simulator, etcd_server: EtcdServer, tmp_path: Path
) -> None:
    assert cli(etcd_server, "gateway", "create", "-f", INVENTORY / "gateway.yaml").exit_code == 0
    hosts = yaml.safe_load((tmp_path / "hosts.yaml").read_text())
    down, up = ROUTERS["secondary"], ROUTERS["primary"]
    hosts[down] = {"hostname": "127.0.0.1", "port": 9}  # nothing listens on discard
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(hosts))

    trail = audit(etcd_server, broken)
    assert trail["routers"][up]["error"] == ""
    assert down in trail["routers"][down]["error"]
    create = _heat_job(trail["versions"][0])
    assert create["routers"][up]["rollback"] == 0
    assert set(create["routers"][down]) == {"error"}
    text = cli(etcd_server, "audit", GW, GATEWAY_ID, "--inventory", broken)
    assert text.exit_code == 0
    assert f"{down}: cannot be read: " in text.stdout


def test_the_trail_outlives_the_gateway(
    store: Store, sample_service: Service, pair: Simulator, overrides: Path, etcd_server: EtcdServer
) -> None:
    assert cli(etcd_server, "gateway", "create", "-f", INVENTORY / "gateway.yaml").exit_code == 0
    deleted = cli(etcd_server, "gateway", "delete", GATEWAY_ID, "--json")
    assert deleted.exit_code == 0, (deleted.stdout, deleted.stderr)
    assert store.get(keys.config(GW, GATEWAY_ID)) is None  # really deleted

    trail = audit(etcd_server, overrides)
    assert trail["current"] is None and trail["stack"] is None
    v1, v2 = trail["versions"]
    assert (v1["request"]["change"], v2["request"]["change"]) == ("created", "deleting")
    assert [(j["action"], j["handler"], j["outcome"]) for j in v2["jobs"]] == [
        ("logical_delete", "heat_worker", "finished")
    ]
    assert (v2["stack"]["stack_id"], v2["stack"]["stack_status"]) == ("", "DELETE_COMPLETE")

    # The gateway's way to its pair is gone; the routers its heat jobs recorded are read.
    assert "/config is gone" in trail["routers_note"]
    assert trail["routers"] == {name: {"role": role, "error": ""} for role, name in ROUTERS.items()}
    create, delete = _heat_job(v1), _heat_job(v2)
    assert delete["job"].startswith("logical_delete:heat_worker:")
    for name in ROUTERS.values():
        # The delete's own two commits are the newest; the create's below them.
        assert delete["routers"][name] == {"commits": [0, 1], "rollback": 0, "undone": []}
        assert create["routers"][name] == {"commits": [2, 3], "rollback": 2, "undone": []}
        assert _comment(pair, name, 0) == _comment(pair, name, 1) == delete["job"]
        assert _comment(pair, name, 2) == _comment(pair, name, 3) == create["job"]
    text = cli(etcd_server, "audit", GW, GATEWAY_ID, "--inventory", overrides)
    assert text.exit_code == 0, text.stderr
    for name in ROUTERS.values():
        assert f"{name}: commits 0, 1 (comment names the job id), rollback 0" in text.stdout
        assert f"{name}: commits 2, 3 (comment names the job id), rollback 2" in text.stdout

    # A recorded router that is gone too says so; the other is still read.
    gone, kept = ROUTERS["secondary"], ROUTERS["primary"]
    store.delete(keys.config("edge_router", ROUTER_IDS[gone]))
    trail = audit(etcd_server, overrides)
    assert trail["routers"][kept] == {"role": "primary", "error": ""}
    assert trail["routers"][gone]["role"] == "secondary"
    assert trail["routers"][gone]["error"] == (
        f"edge_router {ROUTER_IDS[gone]} ({gone}): is gone from /config: its commits cannot be read"
    )
    delete = _heat_job(trail["versions"][1])
    assert delete["routers"][kept]["rollback"] == 0
    assert set(delete["routers"][gone]) == {"error"}

    # A resource that never was has no trail: bad input.
    result = cli(etcd_server, "audit", GW, "ffffffff-ffff-4fff-8fff-ffffffffffff", "--no-routers")
    assert result.exit_code == 2 and "has no audit trail" in result.stderr


def test_a_failed_job_is_in_the_trail_with_its_error(
    store: Store, sample_service: Service, pair: Simulator, overrides: Path, etcd_server: EtcdServer
) -> None:
    pair.set_faults(ROUTERS["primary"], fail_commits=1, fail_message="commit failed: RE busy")
    try:
        result = cli(etcd_server, "gateway", "create", "-f", INVENTORY / "gateway.yaml", "--json")
    finally:
        pair.set_faults(ROUTERS["primary"], fail_commits=0)
    assert result.exit_code == 1
    # The manager cancels the workflow's later job when it collects the failed one.
    eventually(lambda: store.get_prefix(keys.JOBS_ALL) == [], what="the jobs collected")
    (v1,) = audit(etcd_server, overrides)["versions"]
    job = _heat_job(v1)
    assert job["outcome"] == "failed" and "commit failed: RE busy" in job["error"]
    assert v1["stack"] is None  # no stack was made
    # The secondary committed first and was rolled back: the job's commit, then its undo.
    secondary = job["routers"][ROUTERS["secondary"]]
    assert secondary["commits"] and secondary["undone"]
    assert secondary["undone"][0] < secondary["commits"][0]
    assert job["routers"][ROUTERS["primary"]]["commits"] == []
    # The monitoring job after it was cancelled with the workflow: planned, never run.
    (monitoring,) = [j for j in v1["jobs"] if j["handler"] == "monitoring_worker"]
    assert (monitoring["outcome"], monitoring["worker"], monitoring["started"]) == (
        "planned",
        "",
        "",
    )
    assert monitoring["planned"] == job["planned"]
    text = cli(etcd_server, "audit", GW, GATEWAY_ID, "--inventory", overrides).stdout
    assert f"job {monitoring['job']}: not run (its workflow ended before it)" in text


def test_netbox_requests_carry_the_netbox_user_and_request_id(store: Store) -> None:
    """The custom scripts' door and the webhook's sync put NetBox's user and request id in
    the trail (as NetBox's payloads name them)."""
    desired.apply(store, RESOURCES)
    payload = {"username": "noc-alice", "request_id": "5c1f-netbox-req"}
    chosen = {k: GATEWAY[k] for k in ("id", "name", "tenant_id", "vlan_id")}
    chosen |= {k: GATEWAY[k] for k in ("downlink_interface_id", "internet_service_id")}
    chosen["qos_option_id"] = GATEWAY["qos_option_id"]
    answer = gateways.handle(
        store,
        None,
        "create",
        chosen,
        dry_run=False,
        jobs_timeout=0,
        requested_by=webhook.requester(payload),
    )
    assert answer["outcome"] == "created"
    entry = store.get(keys.audit_request(GW, GATEWAY_ID, 1))
    assert entry is not None
    request = AuditRequest.from_value(entry.value)
    assert (request.via, request.principal, request.request_id) == (
        "netbox",
        "noc-alice",
        "5c1f-netbox-req",
    )

    # Events folded into one sync: each user and request id once, in arrival order.
    seen: list[desired.Requester | None] = []
    ran = threading.Event()

    def run_sync(who: desired.Requester | None) -> None:
        seen.append(who)
        ran.set()

    loop = webhook.SyncLoop(run_sync)
    for user, rid in (("bob", "r1"), ("alice", "r2"), ("bob", "r3")):
        loop.poke(webhook.requester({"username": user, "request_id": rid}))
    loop.start()
    try:
        assert ran.wait(timeout=10)
    finally:
        loop.stop()
    assert seen == [desired.Requester("netbox", "bob, alice", "r1, r2, r3")]


def test_audit_keys_and_records_round_trip() -> None:
    job = keys.job_id("modify", "heat_worker", GW, GATEWAY_ID, 2, "ab12c")
    for key, parsed in (
        (keys.audit_request(GW, GATEWAY_ID, 3), (GW, GATEWAY_ID, 3, "request", "")),
        (keys.audit_stack(GW, GATEWAY_ID, 1), (GW, GATEWAY_ID, 1, "stack", "")),
        (keys.audit_job(job), (GW, GATEWAY_ID, 2, "job", job)),
    ):
        assert key.startswith(keys.audit_prefix(GW, GATEWAY_ID))
        assert keys.parse_audit_key(key) == parsed
    # Not audit keys: other trees, a version 0, a key under a version that is no record.
    for key in (
        keys.config(GW, GATEWAY_ID),
        keys.audit_prefix(GW, GATEWAY_ID) + "0/request",
        keys.audit_prefix(GW, GATEWAY_ID) + "1/body",
    ):
        assert keys.parse_audit_key(key) is None, key
    with pytest.raises(ValidationError):
        keys.audit_request(GW, GATEWAY_ID, 0)

    request = AuditRequest("api", "ops-robot", "req-1", "updated", "2025-01-01T00:00:00+00:00")
    assert AuditRequest.from_value(request.to_json()) == request
    with pytest.raises(ValidationError, match="via 'mail' is not one of"):
        AuditRequest.from_value({**request.to_value(), "via": "mail"})
    record = AuditJob("heat_worker", "create", "w-1", 2, "failed", "no", "t0", "t1")
    assert AuditJob.from_value(record.to_json()) == record
    with pytest.raises(ValidationError, match="attempts must be int"):
        AuditJob.from_value({**record.to_value(), "attempts": "2"})
    with pytest.raises(ValidationError, match="requester: via"):
        desired.Requester("mail", "x")

    # A stack record keeps the routers by role; one written before them reads as none.
    old = {"stack_id": "s", "stack_status": "CREATE_COMPLETE", "status_reason": ""}
    assert AuditStack.from_value(json.dumps(old)) == AuditStack("s", "CREATE_COMPLETE", "")
    assert AuditStack.from_value(old).to_value() == old
    routers = {"primary": {"id": "r2", "name": "MX-2"}, "secondary": {"id": "r1", "name": "MX-1"}}
    stack = AuditStack.from_value({**old, "routers": routers})
    assert stack.routers == (
        AuditRouter("primary", "r2", "MX-2"),
        AuditRouter("secondary", "r1", "MX-1"),
    )
    assert stack.to_value() == {**old, "routers": routers}
    with pytest.raises(ValidationError, match=r"routers\.secondary\.id must be str"):
        AuditStack.from_value({**old, "routers": {**routers, "secondary": {"name": "MX-1"}}})
