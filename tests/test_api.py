"""The northbound API (``/v2.0/<plural>``) over real HTTP on a real etcd."""

from __future__ import annotations

import datetime
import ipaddress
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import Request, Response
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from nornir_esi.contract import desired, keys, resources
from nornir_esi.contract.records import ConfigRecord, State
from nornir_esi.doors.api import ApiServer, create_app
from nornir_esi.doors.identity import load_tokens
from nornir_esi.doors.views import api_status
from nornir_esi.exceptions import ValidationError
from nornir_esi.store.base import Store
from nornir_esi.testing.etcd import EtcdServer
from tests.store.helpers import InterposingStore

INVENTORY = Path(__file__).parent.parent / "inventory"
RESOURCES = desired.load_file(INVENTORY / "resources.yaml")
GATEWAY = desired.load_file(INVENTORY / "gateway.yaml")
FAMILY = desired.load_file(INVENTORY / "family.yaml")
ITEMS = RESOURCES + GATEWAY + FAMILY
TYPES = list(dict.fromkeys(t for t, _ in ITEMS))  # in dependency order, as the files are

TOKENS = {"alice": "alice-0123456789abcdef", "bob": "bob-0123456789abcdef"}
AUTH = {"X-Auth-Token": TOKENS["alice"]}
TENANT = "0b576f6f4cbf414f829cd12f008bf08f"


class Api:
    """The app served on 127.0.0.1, and who each request was (``principals``)."""

    def __init__(self, server: ApiServer, principals: list[str | None]) -> None:
        self.server = server
        self.url = server.url
        self.principals = principals

    def call(
        self, method: str, path: str, *, auth: bool = True, **kwargs: Any
    ) -> requests.Response:
        headers = {**(AUTH if auth else {}), **kwargs.pop("headers", {})}
        return requests.request(method, self.url + path, headers=headers, timeout=10, **kwargs)


def _serve(store: Store, **server_args: Any) -> tuple[ApiServer, list[str | None]]:
    app = create_app(store, tokens=TOKENS)
    principals: list[str | None] = []

    @app.middleware("http")
    async def record_principal(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        principal = getattr(request.state, "principal", None)
        principals.append(None if principal is None else principal.name)
        return response

    return ApiServer(app, **server_args), principals


@pytest.fixture
def api(store: Store) -> Iterator[Api]:
    server, principals = _serve(store)
    with server:
        yield Api(server, principals)


def _path(type_name: str, resource_id: str | None = None) -> str:
    base = f"/v2.0/{keys.plural(type_name)}"
    return base if resource_id is None else f"{base}/{resource_id}"


def _item(type_name: str) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, Any]]:
    """What a resource of ``type_name`` needs (every item before it) and its body."""
    n = next(i for i, (t, _) in enumerate(ITEMS) if t == type_name)
    return ITEMS[:n], ITEMS[n][1]


def _config(store: Store, type_name: str, resource_id: str) -> ConfigRecord | None:
    entry = store.get(keys.config(type_name, resource_id))
    return None if entry is None else ConfigRecord.from_value(entry.value)


def _state(worker_state: str, version: int, error: str = "") -> State:
    return State(worker_state=worker_state, version=version, error=error)


def _write_state(store: Store, type_name: str, resource_id: str, state: State) -> None:
    store.put(keys.state(type_name, resource_id), state.to_json())


def _wrapped(type_name: str, body: dict[str, Any]) -> dict[str, Any]:
    return {type_name: body}


# --- round trips -----------------------------------------------------------------------


def _service_filled(type_name: str, stored: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``stored`` the service filled in: computed ones, a public IP's block."""
    fields = resources.RESOURCE_TYPES[type_name].fields.values()
    names = {f.name for f in fields if f.computed} | (
        {"cidr"} if type_name == "public_ip" else set()
    )
    return {k: v for k, v in stored.items() if k in names}


@pytest.mark.parametrize("type_name", TYPES)
def test_create_get_list_update_delete(api: Api, store: Store, type_name: str) -> None:
    needs, body = _item(type_name)
    desired.apply(store, needs)
    rid = body["id"]

    created = api.call("POST", _path(type_name), json=_wrapped(type_name, body))
    assert created.status_code == 201, created.text
    record = _config(store, type_name, rid)
    assert record is not None and record.version == 1 and not record.marked_for_deletion
    # What the service fills in (a public IP's block, a pool's state) comes with the body.
    filled = _service_filled(type_name, record.body)
    assert created.json() == {type_name: {**body, **filled, "status": "PENDING_CREATE"}}
    assert {k: v for k, v in record.body.items() if k != "status"} == {**body, **filled}

    shown = api.call("GET", _path(type_name, rid))
    assert shown.status_code == 200
    assert shown.json() == created.json()

    listed = api.call("GET", _path(type_name), params={"tenant_id": TENANT})
    assert listed.status_code == 200
    assert created.json()[type_name] in listed.json()[keys.plural(type_name)]
    other = api.call("GET", _path(type_name), params={"tenant_id": "another-tenant"})
    assert other.json() == {keys.plural(type_name): []}

    updated = api.call(
        "PUT", _path(type_name, rid), json=_wrapped(type_name, {"description": "changed"})
    )
    assert updated.status_code == 200, updated.text
    assert updated.json() == {
        type_name: {**body, **filled, "description": "changed", "status": "PENDING_UPDATE"}
    }
    record = _config(store, type_name, rid)
    assert record is not None and record.version == 2
    assert record.body["description"] == "changed"

    deleted = api.call("DELETE", _path(type_name, rid))
    assert deleted.status_code == 202, deleted.text
    assert deleted.json()[type_name]["status"] == "PENDING_DELETE"
    record = _config(store, type_name, rid)
    assert record is not None and record.version == 3 and record.marked_for_deletion
    # Listed until the job manager has really deleted it.
    listed = api.call("GET", _path(type_name)).json()[keys.plural(type_name)]
    assert [r["status"] for r in listed if r["id"] == rid] == ["PENDING_DELETE"]
    # A second DELETE changes nothing.
    revision = store.revision()
    assert api.call("DELETE", _path(type_name, rid)).status_code == 202
    assert store.revision() == revision


def test_create_without_id_gets_a_new_uuid(api: Api, store: Store) -> None:
    _, body = _item("edge_router")
    body = {k: v for k, v in body.items() if k != "id"}
    created = api.call("POST", _path("edge_router"), json=_wrapped("edge_router", body))
    assert created.status_code == 201, created.text
    rid = created.json()["edge_router"]["id"]
    assert uuid.UUID(rid).version == 4 and str(uuid.UUID(rid)) == rid
    assert _config(store, "edge_router", rid) is not None


def test_update_is_partial_and_null_removes_an_optional_field(api: Api, store: Store) -> None:
    needs, body = _item("internet_gateway")
    desired.apply(store, [*needs, ("internet_gateway", body)])
    rid = body["id"]
    answer = api.call(
        "PUT",
        _path("internet_gateway", rid),
        json=_wrapped("internet_gateway", {"id": rid, "maximum_static_routes": None}),
    )
    assert answer.status_code == 200, answer.text
    got = answer.json()["internet_gateway"]
    assert "maximum_static_routes" not in got
    assert got["vrf_name"] == body["vrf_name"]
    record = _config(store, "internet_gateway", rid)
    assert record is not None and "maximum_static_routes" not in record.body


def test_list_filters_by_name(api: Api, store: Store) -> None:
    desired.apply(store, [item for item in ITEMS if item[0] == "edge_router"])
    listed = api.call("GET", "/v2.0/edge_routers", params={"name": "vMX-router-01"}).json()
    assert [r["ip"] for r in listed["edge_routers"]] == ["10.79.5.184"]
    assert len(api.call("GET", "/v2.0/edge_routers").json()["edge_routers"]) == 2


# --- status ----------------------------------------------------------------------------


def test_status_follows_the_state_of_the_workflow(api: Api, store: Store) -> None:
    desired.apply(store, RESOURCES + GATEWAY)  # no family: the gateway may be deleted alone
    rid = GATEWAY[0][1]["id"]
    path = _path("internet_gateway", rid)

    def status() -> dict[str, Any]:
        shown = api.call("GET", path).json()["internet_gateway"]
        listed = api.call("GET", "/v2.0/internet_gateways").json()["internet_gateways"]
        assert listed == [shown]
        return {k: shown.get(k) for k in ("status", "error")}

    # No workflow runs here: version 1 stays in flight.
    assert status() == {"status": "PENDING_CREATE", "error": None}
    _write_state(store, "internet_gateway", rid, _state("CREATE_COMPLETED", 1))
    assert status() == {"status": "ACTIVE", "error": None}
    assert [
        r["id"]
        for r in api.call("GET", "/v2.0/internet_gateways", params={"status": "ACTIVE"}).json()[
            "internet_gateways"
        ]
    ] == [rid]
    assert api.call("GET", "/v2.0/internet_gateways", params={"status": "ERROR"}).json() == {
        "internet_gateways": []
    }

    api.call("PUT", path, json=_wrapped("internet_gateway", {"description": "v2"}))
    # The state of version 1 says nothing about version 2.
    assert status() == {"status": "PENDING_UPDATE", "error": None}
    reason = "router vMX-router-02: commit: FILTER_10M-GA-UP-INET is not defined"
    _write_state(store, "internet_gateway", rid, _state("MODIFY_FAILED", 2, reason))
    assert status() == {"status": "ERROR", "error": reason}

    api.call("DELETE", path)
    assert status() == {"status": "PENDING_DELETE", "error": None}
    _write_state(store, "internet_gateway", rid, _state("DELETE_FAILED", 3, "gone"))
    assert status() == {"status": "ERROR", "error": "gone"}


def test_a_non_workable_resource_is_active_once_read(api: Api, store: Store) -> None:
    needs, body = _item("internet_service")
    desired.apply(store, [*needs, ("internet_service", body)])
    path = _path("internet_service", body["id"])
    assert api.call("GET", path).json()["internet_service"]["status"] == "PENDING_CREATE"
    _write_state(store, "internet_service", body["id"], _state("READ_COMPLETE", 1))
    assert api.call("GET", path).json()["internet_service"]["status"] == "ACTIVE"


def test_an_unreadable_state_is_an_error(api: Api, store: Store) -> None:
    needs, body = _item("edge_router")
    desired.apply(store, [*needs, ("edge_router", body)])
    store.put(keys.state("edge_router", body["id"]), "not json")
    shown = api.call("GET", _path("edge_router", body["id"])).json()["edge_router"]
    assert shown["status"] == "ERROR"
    assert "cannot be read" in shown["error"]


@pytest.mark.parametrize(
    ("version", "marked", "state", "expected"),
    [
        (1, False, None, ("PENDING_CREATE", "")),
        (2, False, None, ("PENDING_UPDATE", "")),
        (3, True, None, ("PENDING_DELETE", "")),
        (1, False, _state("CREATE_COMPLETED", 1), ("ACTIVE", "")),
        (2, False, _state("CREATE_COMPLETED", 1), ("PENDING_UPDATE", "")),
        (2, False, _state("MODIFY_COMPLETED", 2), ("ACTIVE", "")),
        (1, False, _state("READ_COMPLETE", 1), ("ACTIVE", "")),
        (1, False, _state("CREATE_FAILED", 1, "why"), ("ERROR", "why")),
        (
            1,
            False,
            _state("CREATE_FAILED", 1),
            ("ERROR", "the workflow ended in CREATE_FAILED"),
        ),
        (3, True, _state("DELETE_COMPLETED", 3), ("PENDING_DELETE", "")),
        (3, True, _state("DELETE_FAILED", 3, "x"), ("ERROR", "x")),
        (3, True, _state("MODIFY_FAILED", 2, "x"), ("PENDING_DELETE", "")),
    ],
)
def test_api_status(
    version: int, marked: bool, state: State | None, expected: tuple[str, str]
) -> None:
    # A body without a stored status (internet_service): the version tells.
    record = ConfigRecord(body={"id": "x"}, version=version, marked_for_deletion=marked)
    assert api_status(record, state) == expected


# --- refusals --------------------------------------------------------------------------


def _refused(
    api: Api, store: Store, method: str, path: str, status: int, **kwargs: Any
) -> dict[str, Any]:
    """Make a request that must be refused with ``status``; nothing may be written."""
    revision = store.revision()
    answer = api.call(method, path, **kwargs)
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert set(body) == {"error", "message", "object", "field", "reason"}
    assert body["message"] == body["error"]
    assert store.revision() == revision
    return body


def test_no_valid_token_is_401_before_anything_else(api: Api, store: Store) -> None:
    desired.apply(store, RESOURCES)
    router = RESOURCES[0][1]
    for headers in (
        {},
        {"X-Auth-Token": "wrong-0123456789abcdef"},
        {"Authorization": f"Basic {TOKENS['alice']}"},
        {"Authorization": "Bearer"},
    ):
        for method, path, extra in (
            ("GET", "/v2.0/edge_routers", {}),
            ("POST", "/v2.0/edge_routers", {"data": "{not json"}),
            ("DELETE", _path("edge_router", router["id"]), {}),
        ):
            extra = {"headers": headers, **extra}
            body = _refused(api, store, method, path, 401, auth=False, **extra)
            assert body["field"] == "X-Auth-Token"
    answer = api.call("GET", "/v2.0/edge_routers", auth=False)
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert set(api.principals) == {None}


def test_a_valid_token_names_the_principal(api: Api) -> None:
    assert api.call("GET", "/v2.0/edge_routers").status_code == 200
    bearer = {"Authorization": f"Bearer {TOKENS['bob']}"}
    assert api.call("GET", "/v2.0/edge_routers", auth=False, headers=bearer).status_code == 200
    assert api.principals == ["alice", "bob"]


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        (
            {"data": '{"edge_router": {', "headers": {"Content-Type": "application/json"}},
            "is not JSON",
        ),
        ({"data": "name=x"}, "must be JSON"),
        ({"json": [1, 2]}, 'must be a JSON object {"edge_router": {...}}'),
        ({"json": dict(RESOURCES[0][1])}, 'must be a JSON object {"edge_router": {...}}'),
        ({"json": {"ha_router": {}}}, 'must be a JSON object {"edge_router": {...}}'),
        ({"json": {"edge_router": "x"}}, 'must be a JSON object {"edge_router": {...}}'),
    ],
)
def test_a_body_of_the_wrong_shape_is_400(
    api: Api, store: Store, kwargs: dict[str, Any], reason: str
) -> None:
    body = _refused(api, store, "POST", "/v2.0/edge_routers", 400, **kwargs)
    assert body["reason"].startswith(reason)


def test_an_unknown_resource_is_404(api: Api, store: Store) -> None:
    rid = str(uuid.uuid4())
    for method, kwargs in (
        ("GET", {}),
        ("PUT", {"json": {"edge_router": {"name": "x"}}}),
        ("DELETE", {}),
    ):
        body = _refused(api, store, method, _path("edge_router", rid), 404, **kwargs)
        assert body["object"] == f"edge_router {rid}"
        assert body["reason"] == "does not exist"


def test_an_existing_id_is_409(api: Api, store: Store) -> None:
    _, body = _item("edge_router")
    desired.apply(store, [("edge_router", body)])
    changed = {**body, "name": "another"}
    refusal = _refused(
        api, store, "POST", "/v2.0/edge_routers", 409, json=_wrapped("edge_router", changed)
    )
    assert (refusal["object"], refusal["field"]) == (f"edge_router {body['id']}", "id")
    assert refusal["reason"] == "already exists"


def test_a_create_that_another_create_beat_is_409_and_overwrites_nothing(store: Store) -> None:
    _, body = _item("edge_router")
    theirs = {**body, "name": "theirs"}
    key = keys.config("edge_router", body["id"])
    # Another request creates the same id between this one's check and its write.
    racing = InterposingStore(store, key, lambda: desired.apply(store, [("edge_router", theirs)]))
    server, _ = _serve(racing)  # type: ignore[arg-type]
    with server:
        answer = Api(server, []).call(
            "POST", "/v2.0/edge_routers", json=_wrapped("edge_router", {**body, "name": "mine"})
        )
    assert answer.status_code == 409, answer.text
    assert (answer.json()["field"], answer.json()["reason"]) == ("id", "already exists")
    record = _config(store, "edge_router", body["id"])
    assert record is not None and (record.version, record.body["name"]) == (1, "theirs")


def test_an_update_based_on_a_stale_read_is_409_and_undoes_nothing(store: Store) -> None:
    _, body = _item("edge_router")
    desired.apply(store, [("edge_router", body)])
    key = keys.config("edge_router", body["id"])
    # Another request renames it between this one's read (the merge's base) and its write.
    theirs = {**body, "name": "theirs"}
    racing = InterposingStore(store, key, lambda: desired.apply(store, [("edge_router", theirs)]))
    server, _ = _serve(racing)  # type: ignore[arg-type]
    with server:
        answer = Api(server, []).call(
            "PUT",
            _path("edge_router", body["id"]),
            json=_wrapped("edge_router", {"description": "mine"}),
        )
    assert answer.status_code == 409, answer.text
    assert "changed since it was read" in answer.json()["reason"]
    record = _config(store, "edge_router", body["id"])
    assert record is not None and record.version == 2
    assert (record.body["name"], record.body.get("description")) == (
        "theirs",
        body.get("description"),
    )


def test_deleting_a_referenced_resource_is_409(api: Api, store: Store) -> None:
    desired.apply(store, RESOURCES)
    router = RESOURCES[0][1]
    refusal = _refused(api, store, "DELETE", _path("edge_router", router["id"]), 409)
    assert refusal["object"] == f"edge_router {router['id']}"
    assert refusal["field"] in ("device_id", "primary_router_id")
    assert "still references it" in refusal["reason"]


def test_updating_a_resource_being_deleted_is_409(api: Api, store: Store) -> None:
    _, body = _item("edge_router")
    desired.apply(store, [("edge_router", body)])
    desired.delete(store, [("edge_router", body["id"])])
    refusal = _refused(
        api,
        store,
        "PUT",
        _path("edge_router", body["id"]),
        409,
        json=_wrapped("edge_router", {"name": "back"}),
    )
    assert refusal["reason"] == "is being deleted"


GATEWAY_BODY = GATEWAY[0][1]


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"vlan_id": "5000"}, "vlan_id", "5000 is outside 1-4094"),
        ({"vlan_id": 1025}, "vlan_id", "must be a string, not integer"),
        (
            {"maximum_static_routes": "32"},
            "maximum_static_routes",
            "must be an integer, not string",
        ),
        ({"vlanid": "1025"}, "vlanid", "is not a field of internet_gateway"),
        ({"status": "ACTIVE"}, "status", "is read-only"),
        ({"internet_service_id": None}, "internet_service_id", "is missing"),
        ({"qos_option_id": str(uuid.uuid4())}, "qos_option_id", "does not exist"),
    ],
)
def test_a_bad_field_is_422_naming_it(
    api: Api, store: Store, change: dict[str, Any], field: str, reason: str
) -> None:
    desired.apply(store, RESOURCES)
    body = {k: v for k, v in {**GATEWAY_BODY, **change}.items() if v is not None}
    refusal = _refused(
        api, store, "POST", "/v2.0/internet_gateways", 422, json=_wrapped("internet_gateway", body)
    )
    assert refusal["field"] == field
    assert refusal["object"] == f"internet_gateway {GATEWAY_BODY['id']}"
    assert reason in refusal["reason"]


def test_a_bad_update_is_422_naming_the_field(api: Api, store: Store) -> None:
    desired.apply(store, ITEMS)
    rid = GATEWAY_BODY["id"]
    path = _path("internet_gateway", rid)
    for change, field, reason in (
        ({"id": str(uuid.uuid4())}, "id", "cannot change"),
        ({"vrf_name": None}, "vrf_name", "must be a string, not null"),
        ({"vlan_id": "1026"}, "primary_logical_interface_name", "must be 'ae0.1026'"),
        (
            {"associated_uplink_id": GATEWAY_BODY["downlink_interface_id"]},
            "associated_uplink_id",
            "is a downlink",
        ),
    ):
        refusal = _refused(api, store, "PUT", path, 422, json=_wrapped("internet_gateway", change))
        assert (refusal["field"], refusal["object"]) == (field, f"internet_gateway {rid}")
        assert reason in refusal["reason"]


def test_an_id_that_is_no_uuid_is_404_as_a_missing_one(api: Api, store: Store) -> None:
    # Neutron's answer: the id names nothing (with a slash-free text too long for a key).
    for bad in ("not-a-uuid", "x" * 300, "%2e%2e"):
        for method in ("GET", "PUT", "DELETE"):
            kwargs = {"json": {"edge_router": {"name": "x"}}} if method == "PUT" else {}
            refusal = _refused(api, store, method, f"/v2.0/edge_routers/{bad}", 404, **kwargs)
            assert refusal["reason"] == "does not exist"


def test_etcd_down_is_503_with_retry_after(tmp_path: Path) -> None:
    with EtcdServer("api-down") as etcd:
        store = etcd.client(timeout=2.0)
        server, _ = _serve(store)
        with server:
            etcd.halt(kill=True)
            answer = requests.get(server.url + "/v2.0/edge_routers", headers=AUTH, timeout=30)
        store.close()
    assert answer.status_code == 503, answer.text
    assert int(answer.headers["Retry-After"]) >= 1
    assert answer.json()["object"] == "store"


# --- tokens ----------------------------------------------------------------------------


def test_tokens_load_from_a_yaml_map(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text(f"alice: {TOKENS['alice']}\nbob: '{TOKENS['bob']}'\n")
    assert load_tokens(path) == TOKENS


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("- alice\n", ""),
        ("alice: short\n", "alice"),
        ("alice: 12345678901234567890\n", "alice"),
        (f"alice: {TOKENS['alice']}\nbob: {TOKENS['alice']}\n", "bob"),
    ],
)
def test_a_bad_token_file_is_refused(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text(text)
    with pytest.raises(ValidationError) as refused:
        load_tokens(path)
    assert refused.value.field == field


# --- TLS -------------------------------------------------------------------------------


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certfile, keyfile


def _fetch(url: str, **kwargs: Any) -> tuple[int, Any]:
    # The response goes with this frame: one kept alive keeps its TLS socket open (close()
    # does not free it), and the server's shutdown then waits out its TLS goodbye (30 s).
    answer = requests.get(url, **kwargs)
    return answer.status_code, answer.json()


def test_the_api_serves_https_with_a_certificate(store: Store, tmp_path: Path) -> None:
    certfile, keyfile = _self_signed(tmp_path)
    desired.apply(store, RESOURCES[:1])
    server, principals = _serve(store, certfile=str(certfile), keyfile=str(keyfile))
    with server:
        assert server.url.startswith("https://127.0.0.1:")
        url = server.url + "/v2.0/edge_routers"
        status, body = _fetch(url, headers=AUTH, verify=str(certfile), timeout=10)
        with pytest.raises(requests.exceptions.SSLError):
            _fetch(url, headers=AUTH, timeout=10)
    assert status == 200
    assert [r["id"] for r in body["edge_routers"]] == [RESOURCES[0][1]["id"]]
    assert principals == ["alice"]


# --- the OpenAPI document --------------------------------------------------------------


def test_the_document_describes_every_type(api: Api) -> None:
    doc = requests.get(api.url + "/openapi.json", timeout=10).json()
    for type_name in TYPES:
        plural = keys.plural(type_name)
        assert set(doc["paths"][f"/v2.0/{plural}"]) == {"get", "post"}
        assert set(doc["paths"][f"/v2.0/{plural}/{{id}}"]) == {"get", "put", "delete"}
    gateway = doc["components"]["schemas"]["InternetGatewayCreate"]
    # What the service derives (VLAN, HA interface, names) and the tenant may be left out.
    assert gateway["required"] == ["internet_service_id"]
    assert gateway["additionalProperties"] is False
    assert "status" not in gateway["properties"]
    assert set(doc["components"]["securitySchemes"]) == {"AuthToken", "Bearer"}
    # The NetBox routes keep their own (HMAC) auth and are not part of the resource API.
    assert not [p for p in doc["paths"] if p.startswith("/netbox")]


def test_every_operation_conforms_to_the_document(store: Store) -> None:
    """Schemathesis, against the document the app serves: requests made from each
    operation's schemas (valid ones, invalid ones, and ones on the id of a stored resource,
    with the origin's resources in etcd), and every answer checked: no 5xx, a documented
    status and content type, documented headers, a body conforming to its status' schema."""
    desired.apply(store, ITEMS)
    _write_state(store, "edge_router", RESOURCES[0][1]["id"], _state("CREATE_COMPLETED", 1))
    _write_state(store, "internet_gateway", GATEWAY_BODY["id"], _state("CREATE_FAILED", 1, "x"))
    stored = {type_name: body["id"] for type_name, body in reversed(ITEMS)}
    statuses: list[int] = []
    server, _ = _serve(store)
    with server:
        schema = schemathesis.openapi.from_url(server.url + "/openapi.json", timeout=10)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) == 5 * len(TYPES)
        for operation in operations:
            strategies = [
                operation.as_strategy(),
                operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
            ]
            if operation.path.endswith("/{id}"):
                type_name = keys.singular(operation.path.split("/")[2])
                strategies.append(operation.as_strategy(path_parameters={"id": stored[type_name]}))
            for strategy in strategies:

                @given(case=strategy)
                @settings(
                    max_examples=6,
                    deadline=None,
                    database=None,
                    derandomize=True,
                    suppress_health_check=list(HealthCheck),
                )
                def conforms(case: Any) -> None:
                    response = case.call_and_validate(
                        base_url=server.url, headers=AUTH, timeout=10, checks=CHECKS
                    )
                    statuses.append(response.status_code)

                conforms()
    # Served and refused requests of every kind were checked.
    assert {200, 202, 400, 404, 409, 422} <= set(statuses), sorted(set(statuses))


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
