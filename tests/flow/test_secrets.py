"""No secret in etcd: the create flow through the front doors, on routers that check the
password, leaves the routers' password in no key and no value; jobs carry references
(``"type": "secret"``) that the worker resolves; an unresolvable reference fails the job
naming the router and the reference, and in a runbook over the fleet fails that router
only; a plain password is refused unless the compatibility switch is on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from nornir import InitNornir

from nornir_esi.contract import desired, keys
from nornir_esi.contract.records import ConfigRecord, JobEntry
from nornir_esi.doors.api import ApiServer, create_app
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.exceptions import PermanentError, SecretError, ValidationError
from nornir_esi.netsim.server import RouterSpec, Simulator
from nornir_esi.service import Service
from nornir_esi.store.base import Event, Store
from nornir_esi.store.etcd import EtcdStore
from nornir_esi.store.feed import Feed
from nornir_esi.tasks.collect_state import collect_state
from tests.flow.test_cli import cli

from .conftest import INVENTORY, ROUTERS, write_overrides

PASSWORD = "Pa55-only-in-the-worker"
SAMPLE = "esiesi0000"  # what the origin stored in clear
REF = {"ref": "env:ESI_ROUTER_PASSWORD"}
TOKEN = "secrets-0123456789abcdef"
RESOURCES = desired.load_file(INVENTORY / "resources.yaml")
((GW_TYPE, GATEWAY),) = desired.load_file(INVENTORY / "gateway.yaml")
ROUTER_IDS = {b["name"]: b["id"] for t, b in RESOURCES if t == "edge_router"}


@pytest.fixture(scope="module")
def guarded_pair() -> Iterator[Simulator]:
    """The origin's pair, letting in only ``esi`` with :data:`PASSWORD`."""
    specs = [
        RouterSpec(name, "127.0.0.1", 0, role=role)  # type: ignore[arg-type]
        for role, name in ROUTERS.items()
    ]
    with Simulator(specs, minute=5.0, users={"esi": PASSWORD}) as sim:
        yield sim


@pytest.fixture
def running(
    store: Store, guarded_pair: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Store]:
    """A job manager and a worker whose environment holds the password; no switch on."""
    monkeypatch.setenv("ESI_ROUTER_PASSWORD", PASSWORD)
    monkeypatch.delenv("ESI_PLAINTEXT_SECRETS", raising=False)
    guarded_pair.reset()
    overrides = write_overrides(guarded_pair, tmp_path)
    with Service(
        store, inventory=str(overrides), workers=1, manager_lease_ttl=5, worker_lease_ttl=5
    ):
        yield store


def _record_until(store: Store, revision: int, key: str) -> list[Event]:
    """Every event from ``revision`` until ``key`` is put."""
    events: list[Event] = []
    with Feed(store, ["/"], start_revision=revision) as feed:
        while True:
            event = feed.get(timeout=60)
            assert event is not None, f"no {key} yet"
            events.append(event)
            if event.kind == "put" and event.key == key:
                return events


def _post_routers(store: Store) -> None:
    """The routers through the HTTP API, with their password by reference."""
    with ApiServer(create_app(store, tokens={"test": TOKEN})) as server:
        for resource_type, body in RESOURCES:
            if resource_type != "edge_router":
                continue
            answer = requests.post(
                f"{server.url}/v2.0/edge_routers",
                json={"edge_router": body},
                headers={"X-Auth-Token": TOKEN},
                timeout=10,
            )
            assert answer.status_code == 201, answer.text
            assert answer.json()["edge_router"]["password"] == REF


def test_no_secret_in_etcd_after_the_create_flow(running: Store, guarded_pair: Simulator) -> None:
    store = running
    start = store.revision() + 1
    _post_routers(store)
    desired.apply(store, [(t, b) for t, b in RESOURCES if t != "edge_router"])
    desired.apply(store, [(GW_TYPE, GATEWAY)])
    events = _record_until(store, start, keys.state(GW_TYPE, GATEWAY["id"]))
    state = wait_for_state(store, GW_TYPE, GATEWAY["id"], timeout=1)
    assert state is not None and state.worker_state == "CREATE_COMPLETED", state
    # The routers let the worker in: the gateway's commit is on both.
    for name in ROUTERS.values():
        comment = guarded_pair.router(name).history[0].comment
        assert comment.startswith("create:heat_worker:internet_gateway:"), name

    # Every value ever written during the flow (jobs are gone by now), and what stays.
    written = [(e.key, e.value) for e in events if e.kind == "put"]
    written += [(e.key, e.value) for e in store.get_prefix("")]
    assert len(written) > 50
    for key, value in written:
        for secret in (PASSWORD, SAMPLE):
            assert secret not in key and secret not in value, key

    # The jobs carried references, typed as secrets, where the origin carried passwords.
    params: dict[str, dict[str, Any]] = {}
    for key, value in written:
        if key.startswith(keys.JOBS_ALL):
            job = JobEntry.from_value(value).job
            for p in job.params:
                params[f"{job.resource_type}/{job.handler}/{p.param}"] = p.to_value()
    secret_params = sorted(name for name, p in params.items() if p["type"] == "secret")
    assert secret_params == [
        "internet_gateway/heat_worker/primary_device_password",
        "internet_gateway/heat_worker/secondary_device_password",
        "internet_gateway/monitoring_worker/password",
    ]
    for name in secret_params:
        assert params[name]["value"] == REF
    heat = params["internet_gateway/heat_worker/primary_device_password"]
    assert heat["resources"][-1] == {
        "resource_type": "edge_router",
        "resource_id": ROUTER_IDS[ROUTERS["primary"]],
    }


def test_an_unresolvable_reference_fails_the_job_naming_router_and_reference(
    running: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = running
    monkeypatch.delenv("ESI_ROUTER_PASSWORD")
    desired.apply(store, RESOURCES)
    desired.apply(store, [(GW_TYPE, GATEWAY)])
    state = wait_for_state(store, GW_TYPE, GATEWAY["id"], timeout=60)
    assert state is not None and state.worker_state == "CREATE_FAILED", state
    assert 'password {"ref": "env:ESI_ROUTER_PASSWORD"}' in state.error
    assert "environment variable ESI_ROUTER_PASSWORD is not set" in state.error
    assert any(f"edge_router {rid}" in state.error for rid in ROUTER_IDS.values()), state.error
    # The SecretError itself, before either router of the pair was touched: nothing undone.
    assert state.error.startswith("edge_router ") and "rollback" not in state.error
    # A router's own monitoring fails the same way, naming that router.
    for name, rid in ROUTER_IDS.items():
        router_state = wait_for_state(store, "edge_router", rid, timeout=60)
        assert router_state is not None and router_state.worker_state == "CREATE_FAILED"
        assert f"edge_router {rid} ({name}): password" in router_state.error


def test_one_routers_missing_secret_fails_that_router_only(
    store: Store, guarded_pair: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runbooks' inventory builds although one router's reference does not resolve;
    that router's task fails with the SecretError when its session would open, the other's
    runs (its password resolved and accepted by the router)."""
    monkeypatch.setenv("ESI_ROUTER_PASSWORD", PASSWORD)
    monkeypatch.delenv("ESI_UNSET_PASSWORD", raising=False)
    broken, fine = ROUTERS["secondary"], ROUTERS["primary"]
    unset = {"ref": "env:ESI_UNSET_PASSWORD"}
    desired.apply(
        store,
        [(t, {**b, "password": unset} if b.get("name") == broken else b) for t, b in RESOURCES],
    )
    nr = InitNornir(
        inventory={
            "plugin": "EtcdRouterInventory",
            "options": {"store": store, "overrides": str(write_overrides(guarded_pair, tmp_path))},
        },
        logging={"enabled": False},
    )
    assert sorted(nr.inventory.hosts) == sorted(ROUTERS.values())
    try:
        result = nr.run(task=collect_state, interfaces=["ae0"])
    finally:
        nr.close_connections()
    assert not result[fine].failed
    assert result[fine][0].result["interfaces"] == {"ae0": "up"}
    assert result[broken].failed
    error = result[broken][0].exception
    assert isinstance(error, SecretError) and isinstance(error, PermanentError)
    assert str(error) == (
        f"edge_router {ROUTER_IDS[broken]} ({broken}): password "
        '{"ref": "env:ESI_UNSET_PASSWORD"}: environment variable ESI_UNSET_PASSWORD is not set'
    )
    assert PASSWORD not in str(error)


def _plain(password: str = SAMPLE) -> list[tuple[str, dict[str, Any]]]:
    return [(t, {**b, "password": password} if t == "edge_router" else b) for t, b in RESOURCES]


def test_a_plain_password_is_refused_and_nothing_written(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ESI_PLAINTEXT_SECRETS", raising=False)
    with pytest.raises(ValidationError) as caught:
        desired.apply(store, _plain())
    assert caught.value.obj == f"edge_router {ROUTER_IDS['vMX-router-02']}"
    assert caught.value.field == "password"
    assert str(caught.value).startswith(
        f"edge_router {ROUTER_IDS['vMX-router-02']}: password is a plain password, which would "
        'be stored in etcd; give {"ref": "env:NAME"} or {"ref": "file:PATH"}'
    )
    assert SAMPLE not in str(caught.value)
    assert store.get_prefix("") == []

    # The command line: exit 2, the same message, nothing written.
    path = tmp_path / "plain.json"
    path.write_text(json.dumps([{"type": t, "body": b} for t, b in _plain()]))
    done = cli("apply", path, ESI_ETCD_ENDPOINTS=_endpoints(store), ESI_PLAINTEXT_SECRETS="")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "password is a plain password, which would be stored in etcd" in done.stderr
    assert store.get_prefix("") == []

    # The HTTP API: 422 naming the field, nothing written.
    with ApiServer(create_app(store, tokens={"test": TOKEN})) as server:
        answer = requests.post(
            f"{server.url}/v2.0/edge_routers",
            json={"edge_router": _plain()[0][1]},
            headers={"X-Auth-Token": TOKEN},
            timeout=10,
        )
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "password"
    assert SAMPLE not in answer.text
    assert store.get_prefix("") == []


def _endpoints(store: Store) -> str:
    assert isinstance(store, EtcdStore)
    return ",".join(store.endpoints)


def test_the_compatibility_switch_writes_the_value_as_the_original_did(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ESI_PLAINTEXT_SECRETS", raising=False)
    desired.apply(store, _plain()[:1], plaintext_secrets=True)
    monkeypatch.setenv("ESI_PLAINTEXT_SECRETS", "1")
    desired.apply(store, _plain()[1:2])
    routers = [
        ConfigRecord.from_value(e.value).body
        for e in store.get_prefix(keys.type_prefix(keys.CONFIG_PREFIX, "edge_router"))
    ]
    assert [r["password"] for r in routers] == [SAMPLE, SAMPLE]

    # The command line's flag, on a changed router (its description).
    store.delete("", prefix=True)
    path = tmp_path / "plain.json"
    path.write_text(json.dumps([{"type": t, "body": b} for t, b in _plain()]))
    done = cli(
        "apply",
        path,
        "--plaintext-secrets",
        ESI_ETCD_ENDPOINTS=_endpoints(store),
        ESI_PLAINTEXT_SECRETS="",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("created") == len(RESOURCES)
    # An unchanged plain password (the original's data) is not written again: no refusal.
    monkeypatch.delenv("ESI_PLAINTEXT_SECRETS")
    changes = desired.apply(store, _plain())
    assert {c.outcome for c in changes} == {"unchanged"}
