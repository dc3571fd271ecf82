"""NetBox event rules -> our webhook receiver -> /config, on a real NetBox (its RQ worker
delivers the webhook) and a real etcd."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pynetbox
import pytest

from nornir_esi.contract import desired, keys
from nornir_esi.contract.records import AuditRequest, ConfigRecord
from nornir_esi.doors.api import ApiServer, NetBoxDoor, create_app
from nornir_esi.netbox.schema import ensure_event_rule
from nornir_esi.netbox.seed import seed
from nornir_esi.netbox.sync import SyncOptions, sync
from nornir_esi.netbox.webhook import SIGNATURE_HEADER, sign
from nornir_esi.store.base import Store
from nornir_esi.testing.netbox import ADMIN_USER, NetBoxServer
from tests.store.helpers import eventually

INVENTORY = Path(__file__).parent.parent.parent / "inventory"
SECRET = "webhook-secret-for-tests"
ROUTER = "198b93f2-006e-45b6-96d3-e7ef6f759501"  # vMX-router-01


@pytest.fixture
def receiver(netbox_server: NetBoxServer, store: Store) -> Iterator[tuple[Any, ApiServer]]:
    nb = pynetbox.api(netbox_server.url, token=netbox_server.token)
    seed(nb, desired.load_file(INVENTORY / "resources.yaml"))
    door = NetBoxDoor(nb, SECRET, SyncOptions(password={"ref": "env:ESI_ROUTER_PASSWORD"}))
    with ApiServer(create_app(store, door)) as api:
        yield nb, api


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _router(store: Store) -> ConfigRecord | None:
    entry = store.get(keys.config("edge_router", ROUTER))
    return None if entry is None else ConfigRecord.from_value(entry.value)


PAYLOAD = json.dumps({"event": "updated", "object_type": "dcim.device", "data": {"id": 1}}).encode()


@pytest.mark.parametrize("path", ["/netbox/webhook", "/netbox/gateways"])
@pytest.mark.parametrize(
    "headers",
    [{}, {SIGNATURE_HEADER: "0" * 128}, {SIGNATURE_HEADER: sign("another secret", PAYLOAD)}],
    ids=["unsigned", "garbage", "wrong-secret"],
)
def test_netbox_webhook_refuses_bad_signatures_and_changes_nothing(
    receiver: tuple[Any, ApiServer], store: Store, headers: dict[str, str], path: str
) -> None:
    """Webhooks and the custom scripts' gateway requests alike."""
    _, api = receiver
    revision = store.revision()
    status, body = _post(f"{api.url}{path}", PAYLOAD, headers)
    assert status == 401
    assert body["field"] == SIGNATURE_HEADER
    assert body["object"] == "NetBox webhook"
    assert api.app.state.sync_loop.runs == 0
    assert store.revision() == revision


def test_netbox_webhook_duplicates_write_nothing_new(
    receiver: tuple[Any, ApiServer], store: Store
) -> None:
    nb, api = receiver
    sync(nb, store, SyncOptions(password={"ref": "env:ESI_ROUTER_PASSWORD"}))
    revision = store.revision()
    loop = api.app.state.sync_loop
    for expected_runs in (1, 2):
        status, body = _post(
            f"{api.url}/netbox/webhook", PAYLOAD, {SIGNATURE_HEADER: sign(SECRET, PAYLOAD)}
        )
        assert (status, body["queued"]) == (202, True)
        eventually(lambda n=expected_runs: loop.runs >= n, what=f"sync run {expected_runs}")
    assert loop.last_error == ""
    assert store.revision() == revision


def test_netbox_event_rule_change_reaches_etcd(
    receiver: tuple[Any, ApiServer], store: Store
) -> None:
    nb, api = receiver
    sync(nb, store, SyncOptions(password={"ref": "env:ESI_ROUTER_PASSWORD"}))
    before = _router(store)
    assert before is not None
    ensure_event_rule(nb, f"{api.url}/netbox/webhook", SECRET)
    device = nb.dcim.devices.get(name="vMX-router-01")
    device.description = "moved to rack 9"
    device.save()
    try:
        record = eventually(
            lambda: (r := _router(store)) and r.version > before.version and r,
            what="the NetBox change in /config",
            timeout=60,
        )
        assert record.body["description"] == "moved to rack 9"
        assert record.version == before.version + 1
        # The event's NetBox user and request id are the new version's audit record.
        audited = store.get(keys.audit_request("edge_router", ROUTER, record.version))
        assert audited is not None
        request = AuditRequest.from_value(audited.value)
        assert (request.via, request.principal, request.change) == (
            "netbox",
            ADMIN_USER,
            "updated",
        )
        assert request.request_id
    finally:
        device.description = "MX80 #1"
        device.save()
