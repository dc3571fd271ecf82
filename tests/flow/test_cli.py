"""The ``nornir-esi`` command line as a user runs it: a subprocess on the test etcd.

``apply``, ``get`` and ``wait`` each run as ``python -m nornir_esi.cli``; ``run`` runs in
the background against the simulated router pair until SIGTERM. Exit codes are the
module's contract: 0 done, 1 state not reached, 2 bad input or usage, 3 unreachable.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from nornir_esi.contract import desired, keys
from nornir_esi.contract.records import AuditJob, ConfigRecord, State
from nornir_esi.device import netconf
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.junos.tree import canonical_bytes
from nornir_esi.netsim.server import Simulator
from nornir_esi.store.base import Store
from nornir_esi.testing.etcd import EtcdServer
from tests.store.helpers import eventually

from .conftest import INVENTORY, ROUTERS
from .test_create_flow import _origin_sections

ROOT = INVENTORY.parent
RESOURCES_FILE = INVENTORY / "resources.yaml"
GATEWAY_FILE = INVENTORY / "gateway.yaml"
RESOURCES = desired.load_file(RESOURCES_FILE)
GATEWAY = desired.load_file(GATEWAY_FILE)[0][1]
GATEWAY_ID = GATEWAY["id"]
ROUTER_BODIES = {b["id"]: b for t, b in RESOURCES if t == "edge_router"}
NO_ETCD = "no etcd endpoints: pass --etcd or set ESI_ETCD_ENDPOINTS"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ESI_ETCD_ENDPOINTS"}
    env.update(extra)
    return env


def cli(*args: str | Path, timeout: float = 90, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nornir_esi.cli", *map(str, args)],
        cwd=ROOT,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _words(stdout: str) -> list[list[str]]:
    return [line.split() for line in stdout.splitlines()]


def _router_state(pair: Simulator, name: str) -> tuple[int, bytes]:
    router = pair.router(name)
    return pair.call(lambda: (len(router.history), canonical_bytes(router.running)))


def test_cli_apply_get_run_wait_and_stop(
    store: Store, pair: Simulator, overrides: Path, etcd_server: EtcdServer, tmp_path: Path
) -> None:
    pair.reset()
    etcd = ("--etcd", etcd_server.endpoints)
    day0 = {name: _router_state(pair, name) for name in ROUTERS.values()}

    # apply: one `created` line per resource, in file order, version 1.
    result = cli("apply", RESOURCES_FILE, *etcd)
    assert result.returncode == 0, result.stderr
    assert _words(result.stdout) == [["created", t, b["id"], "version", "1"] for t, b in RESOURCES]
    for resource_type, body in RESOURCES:
        assert store.get(keys.config(resource_type, body["id"])) is not None

    # The same file again changes nothing, not even a revision.
    revision = store.revision()
    result = cli("apply", RESOURCES_FILE, *etcd)
    assert result.returncode == 0, result.stderr
    assert _words(result.stdout) == [
        ["unchanged", t, b["id"], "version", "1"] for t, b in RESOURCES
    ]
    assert store.revision() == revision

    # get: a JSON object of both edge routers' records.
    result = cli("get", "/config/v2.0/edge_routers/", *etcd)
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert set(records) == {keys.config("edge_router", rid) for rid in ROUTER_BODIES}
    for key, value in records.items():
        record = ConfigRecord.from_value(value)
        rid = key.rsplit("/", 1)[1]
        assert record.version == 1
        assert record.body["ip"] == ROUTER_BODIES[rid]["ip"]
        assert record.body["name"] == ROUTER_BODIES[rid]["name"]
        assert record.body["status"] == "PENDING_CREATE"

    log = tmp_path / "run.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nornir_esi.cli",
                "run",
                *etcd,
                "--inventory",
                str(overrides),
                "--workers",
                "1",
                "--manager-lease-ttl",
                "5",
                "--worker-lease-ttl",
                "5",
            ],
            cwd=ROOT,
            env=_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        # Signal handlers are installed before this line: SIGTERM is safe from here on.
        eventually(
            lambda: proc.poll() is None and "nornir-esi: running" in log.read_text(),
            timeout=30,
            what="`run` to start",
        )

        result = cli("apply", GATEWAY_FILE, *etcd)
        assert result.returncode == 0, result.stderr
        assert _words(result.stdout) == [
            ["created", "internet_gateway", GATEWAY["id"], "version", "1"]
        ]

        result = cli(
            "wait",
            "internet_gateway",
            GATEWAY["id"],
            "--until",
            "CREATE_COMPLETED",
            "--timeout",
            "60",
            *etcd,
        )
        assert result.returncode == 0, (result.stderr, log.read_text())
        assert result.stdout == f"internet_gateway {GATEWAY['id']} version 1: CREATE_COMPLETED\n"
        # The background `run` did the work on both simulated routers.
        for name in ROUTERS.values():
            commits, running = _router_state(pair, name)
            # One pair transaction: `commit confirmed`, then the confirming commit.
            assert commits == day0[name][0] + 2, name
            assert running != day0[name][1] and b"vrf_gw_sample-ha-router-downlink_1025" in running

        # Another state than the awaited one: exit 1 at once, the state on stderr.
        result = cli(
            "wait",
            "internet_gateway",
            GATEWAY["id"],
            "--until",
            "DELETE_COMPLETED",
            "--timeout",
            "2",
            *etcd,
        )
        assert result.returncode == 1
        assert result.stdout == ""
        assert f"internet_gateway {GATEWAY['id']} version 1: CREATE_COMPLETED" in result.stderr

        # No state at all within the timeout: exit 1 too.
        absent = "ffffffff-ffff-4fff-8fff-ffffffffffff"
        result = cli(
            "wait",
            "internet_gateway",
            absent,
            "--until",
            "CREATE_COMPLETED",
            "--timeout",
            "2",
            *etcd,
        )
        assert result.returncode == 1
        assert f"internet_gateway {absent}: no terminal state within 2 s" in result.stderr

        assert proc.poll() is None, log.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()
        assert "Traceback" not in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def _gateway_items(**changes: Any) -> list[dict[str, Any]]:
    return [{"type": "internet_gateway", "body": {**GATEWAY, **changes}}]


BAD_ROUTER = {**ROUTER_BODIES[RESOURCES[0][1]["id"]], "ip": "10.0.0.999"}

BAD_FILES = {
    # A good gateway, then a bad edge router: all or nothing.
    "bad-router-after-good-gateway": (
        yaml.safe_dump([*_gateway_items(), {"type": "edge_router", "body": BAD_ROUTER}]),
        f"nornir-esi: edge_router {RESOURCES[0][1]['id']}: ip '10.0.0.999' is not an IPv4 "
        "or IPv6 address",
    ),
    "vlan-5000": (
        yaml.safe_dump(_gateway_items(vlan_id="5000")),
        f"nornir-esi: internet_gateway {GATEWAY['id']}: vlan_id 5000 is outside 1-4094",
    ),
    "json-vlan-abc": (
        json.dumps(_gateway_items(vlan_id="abc")),
        f"nornir-esi: internet_gateway {GATEWAY['id']}: vlan_id 'abc' is not a string of digits",
    ),
    "body-not-an-object": (
        yaml.safe_dump([{"type": "internet_gateway", "body": ["vlan_id", "1025"]}]),
        "item 1: body must be an object",
    ),
    "not-yaml": ("- type: internet_gateway\n  body: {vlan_id: [\n", "is not YAML or JSON"),
    "a-scalar": ("just text\n", "must be a list of {type, body} or a map of keys"),
}


@pytest.mark.parametrize("text,message", list(BAD_FILES.values()), ids=list(BAD_FILES))
def test_cli_apply_bad_file_exits_2_and_writes_nothing(
    store: Store, etcd_server: EtcdServer, tmp_path: Path, text: str, message: str
) -> None:
    desired.apply(store, RESOURCES)
    before = (store.revision(), store.get_prefix(""))
    path = tmp_path / "bad.yaml"
    path.write_text(text)

    result = cli("apply", path, "--etcd", etcd_server.endpoints)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr
    assert result.stdout == ""
    assert (store.revision(), store.get_prefix("")) == before
    assert store.get(keys.config("internet_gateway", GATEWAY["id"])) is None


@pytest.mark.parametrize(
    "args",
    [
        ["apply", str(RESOURCES_FILE)],
        ["get", "/config/"],
        ["wait", "internet_gateway", GATEWAY["id"], "--until", "CREATE_COMPLETED"],
        ["run", "--workers", "0"],
    ],
    ids=["apply", "get", "wait", "run"],
)
def test_cli_without_etcd_exits_2(store: Store, args: list[str]) -> None:
    result = cli(*args, timeout=30)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert NO_ETCD in result.stderr
    assert store.get_prefix("") == []


def test_cli_takes_etcd_from_the_environment(store: Store, etcd_server: EtcdServer) -> None:
    desired.apply(store, RESOURCES[:1])
    result = cli("get", "/config/", ESI_ETCD_ENDPOINTS=etcd_server.endpoints)
    assert result.returncode == 0, result.stderr
    assert list(json.loads(result.stdout)) == [keys.config("edge_router", RESOURCES[0][1]["id"])]


def test_commands_print_no_third_party_warning(store: Store, etcd_server: EtcdServer) -> None:
    # Every warning shown, as a user's Python shows them when asked to (-W default).
    desired.apply(store, RESOURCES)
    env = {"ESI_ETCD_ENDPOINTS": etcd_server.endpoints, "PYTHONWARNINGS": "default"}
    for args in (["--help"], ["status"], ["jobs"], ["get", "/config/"]):
        result = cli(*args, **env)
        assert result.returncode == 0, result.stderr
        assert "Warning" not in result.stderr, (args, result.stderr)
    # The simulator's SSH server (asyncssh, which names DSA at import) is loaded only by
    # `nornir-esi netsim`, not with the command line.
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, nornir_esi.cli; print('asyncssh' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "False"


def test_cli_unreachable_etcd_exits_3(store: Store) -> None:
    # Port 9 (discard) on loopback: nothing listens there in the test environment.
    result = cli("get", "/config/", "--etcd", "http://127.0.0.1:9", timeout=60)
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert result.stderr.startswith("nornir-esi: etcd:")
    assert result.stdout == ""


def test_cli_plan_check_and_repair(
    service_store: Store, etcd_server: EtcdServer, pair: Simulator, overrides: Path
) -> None:
    store = service_store
    etcd = ("--etcd", etcd_server.endpoints)
    inventory = ("--inventory", overrides)
    desired.apply(store, RESOURCES)
    for resource_type, body in RESOURCES:
        assert wait_for_state(store, resource_type, body["id"], timeout=60) is not None

    planned = cli("plan", INVENTORY / "gateway.yaml", *etcd, *inventory)
    assert planned.returncode == 0, planned.stderr
    assert f"# internet_gateway {GATEWAY_ID}" in planned.stdout
    for name in ROUTERS.values():
        assert f"## {name}" in planned.stdout
    assert planned.stdout.count("[edit routing-instances]") == 2
    assert store.get(keys.config("internet_gateway", GATEWAY_ID)) is None  # nothing written

    desired.apply(store, desired.load_file(INVENTORY / "gateway.yaml"))
    state = wait_for_state(store, "internet_gateway", GATEWAY_ID, timeout=60)
    assert state is not None and state.worker_state == "CREATE_COMPLETED"
    clean = cli("check", "internet_gateway", GATEWAY_ID, *etcd, *inventory)
    assert clean.returncode == 0, clean.stderr
    assert "no drift" in clean.stdout

    host, port = pair.address(ROUTERS["primary"])
    with netconf.connect(host, port, username="noc", password="x") as m:
        m.load_configuration(action="set", config="delete interfaces ae0 unit 1025 description")
        m.commit()
    drifted = cli("check", "internet_gateway", GATEWAY_ID, *etcd, *inventory)
    assert drifted.returncode == 1
    assert "+   description inet_gw;" in drifted.stdout and "drift found" in drifted.stdout
    repaired = cli("repair", "internet_gateway", GATEWAY_ID, *etcd, *inventory)
    assert repaired.returncode == 0, repaired.stderr
    assert "repaired" in repaired.stdout
    assert cli("check", "internet_gateway", GATEWAY_ID, *etcd, *inventory).returncode == 0

    wrong = cli("check", "edge_router", next(iter(ROUTER_BODIES)), *etcd, *inventory)
    assert (
        wrong.returncode == 2
        and "'edge_router' changes no router; those that do: internet_gateway," in wrong.stderr
    )


def _plan_sections(stdout: str) -> dict[str, list[str]]:
    """``plan``'s output per ``## router`` heading, each line with its spaces collapsed."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in stdout.splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            sections[current] = []
        elif current is not None and line.strip():
            sections[current].append(" ".join(line.split()))
        else:
            assert not line.strip(), f"output before the first router: {line!r}"
    return sections


def test_cli_plan_type_id_shows_the_pending_version_per_router(
    store: Store, etcd_server: EtcdServer, pair: Simulator, overrides: Path
) -> None:
    pair.reset()
    etcd = ("--etcd", etcd_server.endpoints)
    inventory = ("--inventory", overrides)
    # Written to /config, pending: no job manager runs, so nothing is pushed.
    desired.apply(store, RESOURCES + desired.load_file(GATEWAY_FILE))
    before = {name: _router_state(pair, name) for name in ROUTERS.values()}

    planned = cli("plan", "internet_gateway", GATEWAY_ID, *etcd, *inventory)
    assert planned.returncode == 0, planned.stderr
    origin = _origin_sections()
    # The origin's MX-1 is the pair's secondary, MX-2 its primary.
    assert _plan_sections(planned.stdout) == {
        ROUTERS["secondary"]: origin["MX-1"],
        ROUTERS["primary"]: origin["MX-2"],
    }
    assert {name: _router_state(pair, name) for name in ROUTERS.values()} == before
    record = ConfigRecord.from_value(store.get(keys.config("internet_gateway", GATEWAY_ID)).value)  # type: ignore[union-attr]
    assert record.version == 1 and store.get(keys.applied("internet_gateway", GATEWAY_ID)) is None

    unknown = cli("plan", "internet_gateway", "no-such-gateway", *etcd, *inventory)
    assert unknown.returncode == 2
    assert "no-such-gateway" in unknown.stderr and "does not exist" in unknown.stderr
    wrong = cli("plan", "edge_router", next(iter(ROUTER_BODIES)), *etcd, *inventory)
    assert (
        wrong.returncode == 2
        and "'edge_router' changes no router; those that do: internet_gateway," in wrong.stderr
    )


def test_cli_status_and_jobs(service_store: Store, etcd_server: EtcdServer) -> None:
    """`status` and `jobs`, as tables and as `--json`; `status` exits 1 when one failed."""
    store = service_store
    etcd = ("--etcd", etcd_server.endpoints)
    desired.apply(store, RESOURCES)
    ((gw_type, gateway),) = desired.load_file(INVENTORY / "gateway.yaml")
    desired.apply(store, [(gw_type, gateway)])
    state = wait_for_state(store, gw_type, gateway["id"], timeout=60)
    assert state is not None and state.worker_state == "CREATE_COMPLETED", state

    result = cli("status", "--json", *etcd)
    assert result.returncode == 0, result.stderr
    rows = {(r["type"], r["id"]): r for r in json.loads(result.stdout)}
    assert set(rows) == {(t, b["id"]) for t, b in [*RESOURCES, (gw_type, gateway)]}
    row = rows[(gw_type, gateway["id"])]
    assert (row["version"], row["worker_state"], row["state_version"]) == (
        1,
        "CREATE_COMPLETED",
        1,
    )
    assert row["name"] == gateway["name"] and row["error"] == "" and not row["deleting"]
    table = cli("status", gw_type, *etcd)
    assert table.returncode == 0, table.stderr
    assert "CREATE_COMPLETED" in table.stdout and gateway["name"] in table.stdout

    # A failed resource makes `status` exit 1, with its error shown.
    failed = State(worker_state="CREATE_FAILED", version=1, error="router said no")
    store.put(keys.state(gw_type, gateway["id"]), failed.to_json())
    result = cli("status", gw_type, "--json", *etcd)
    assert result.returncode == 1
    assert json.loads(result.stdout)[0]["error"] == "router said no"

    assert json.loads(cli("jobs", "--json", *etcd).stdout) == []
    job_id = keys.job_id("create", "heat_worker", gw_type, gateway["id"], 7, "zzzzz")
    # Planned 95 s ago (the manager's audit record); a job without one has no age.
    planned = (datetime.now(UTC) - timedelta(seconds=95)).isoformat(timespec="milliseconds")
    old_job = keys.job_id("create", "heat_worker", gw_type, gateway["id"], 6, "yyyyy")
    store.put(
        keys.audit_job(job_id), AuditJob.planned_at("heat_worker", "create", planned).to_json()
    )
    store.put(keys.job_waiting(job_id), "")
    store.put(keys.job_waiting(old_job), "heat_worker")
    try:
        result = cli("jobs", "--json", *etcd)
        assert result.returncode == 0, result.stderr
        rows = sorted(json.loads(result.stdout), key=lambda r: -r["version"])
        age = rows[0].pop("age")
        assert 95 <= age < 95 + 60, age
        assert rows == [
            {
                "queue": "waiting",
                "job": job_id,
                "handler": "heat_worker",
                "action": "create",
                "resource": f"{gw_type} {gateway['id']}",
                "version": 7,
                "worker": "",
                "attempts": 0,
                "planned": planned,
            },
            {
                "queue": "waiting",
                "job": old_job,
                "handler": "heat_worker",
                "action": "create",
                "resource": f"{gw_type} {gateway['id']}",
                "version": 6,
                "worker": "",
                "attempts": 0,
                "planned": "",
                "age": None,
            },
        ]
        table = cli("jobs", *etcd).stdout
        assert "heat_worker" in table and re.search(r"│ 1m\d\ds ", table), table
        assert re.search(r"│ waiting +│ \? +│", table), table
    finally:
        store.delete(keys.job_waiting(old_job))
        store.delete(keys.job_waiting(job_id))
