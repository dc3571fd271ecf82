"""The API as tenants and operators use it: isolation, the public model, placement, lists.

Principals from a token file (tenants A and B, an operator); the routers are not involved
(the end-to-end run with the real clients and a real Keystone is tests/keystone).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from nornir_esi.contract import desired, keys
from nornir_esi.contract.records import ConfigRecord
from nornir_esi.doors.api import ApiServer, create_app
from nornir_esi.doors.errors import ECHO_LIMIT
from nornir_esi.doors.identity import TokenFile
from nornir_esi.doors.public import PUBLIC_FIELDS
from nornir_esi.exceptions import ValidationError
from nornir_esi.store.base import Store

INVENTORY = Path(__file__).parent.parent / "inventory"
POOL = [i for i in desired.load_file(INVENTORY / "family.yaml") if i[0] == "public_ip_pool"]
RESOURCES = desired.load_file(INVENTORY / "resources.yaml") + POOL
BODIES = {t: b for t, b in RESOURCES}
SERVICE = BODIES["internet_service"]["id"]
QOS = BODIES["qos_option"]["id"]
HA = BODIES["ha_interface"]["id"]

TENANT_A = "a" * 32
TENANT_B = "b" * 32
TOKENS = {
    "alice": {"token": "alice-0123456789abcdef", "tenant_id": TENANT_A, "role": "member"},
    "bob": {"token": "bob-0123456789abcdef", "tenant_id": TENANT_B, "role": "member"},
    "noc": {"token": "noc-0123456789abcdef", "role": "admin"},
}
INTERNAL = {
    "vrf_name",
    "vlan_id",
    "downlink_interface_id",
    "primary_logical_interface_name",
    "secondary_logical_interface_name",
    "maximum_static_routes",
}


class Api:
    def __init__(self, url: str) -> None:
        self.url = url

    def call(self, who: str | None, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if who is not None:
            headers["X-Auth-Token"] = TOKENS[who]["token"]
        return requests.request(method, self.url + path, headers=headers, timeout=20, **kwargs)

    def ok(self, who: str, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        answer = self.call(who, method, path, **kwargs)
        assert answer.status_code == status, answer.text
        return answer.json()


@pytest.fixture
def api(store: Store) -> Iterator[Api]:
    desired.apply(store, RESOURCES)
    with ApiServer(create_app(store, tokens=TOKENS, max_body=4096)) as server:
        yield Api(server.url)


def _gateway(api: Api, who: str, **extra: Any) -> dict[str, Any]:
    body = {"internet_service_id": SERVICE, "qos_option_id": QOS, **extra}
    created: dict[str, Any] = api.ok(
        who, "POST", "/v2.0/internet_gateways", 201, json={"internet_gateway": body}
    )["internet_gateway"]
    return created


def _stored(store: Store, type_name: str, rid: str) -> dict[str, Any]:
    entry = store.get(keys.config(type_name, rid))
    assert entry is not None
    return ConfigRecord.from_value(entry.value).body


def _refused(
    api: Api, store: Store, who: str | None, method: str, path: str, status: int, **kwargs: Any
) -> dict[str, Any]:
    revision = store.revision()
    answer = api.call(who, method, path, **kwargs)
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert set(body) == {"error", "message", "object", "field", "reason"}
    assert body["message"] == body["error"]
    assert store.revision() == revision
    return body


# --- a tenant's gateway, from a service and an option only --------------------------------


def test_a_tenant_creates_a_gateway_from_a_service_and_an_option(api: Api, store: Store) -> None:
    shown = _gateway(api, "alice", name="mine", description="for the shop")
    assert set(shown) == set(PUBLIC_FIELDS["internet_gateway"])
    assert shown["tenant_id"] == TENANT_A and shown["status"] == "PENDING_CREATE"
    stored = _stored(store, "internet_gateway", shown["id"])
    # Placed on the service's downlink, at the lowest VLAN its pool allows (0-1024 restricted).
    assert stored["downlink_interface_id"] == HA
    assert stored["vlan_id"] == "1025"
    assert stored["vrf_name"] == "vrf_gw_sample-ha-router-downlink_1025"
    assert stored["primary_logical_interface_name"] == "ae0.1025"
    assert stored["maximum_static_routes"] == 32
    second = _gateway(api, "bob")
    assert _stored(store, "internet_gateway", second["id"])["vlan_id"] == "1026"
    assert second["name"] is None  # the origin's default: no name


def test_concurrent_creates_never_share_a_vlan(api: Api, store: Store) -> None:
    created: list[str] = []
    errors: list[str] = []

    def buy() -> None:
        answer = api.call(
            "alice",
            "POST",
            "/v2.0/internet_gateways",
            json={"internet_gateway": {"internet_service_id": SERVICE, "qos_option_id": QOS}},
        )
        if answer.status_code == 201:
            created.append(answer.json()["internet_gateway"]["id"])
        else:
            errors.append(answer.text)

    threads = [threading.Thread(target=buy) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(created) == 8
    vlans = [_stored(store, "internet_gateway", rid)["vlan_id"] for rid in created]
    assert sorted(vlans, key=int) == [str(v) for v in range(1025, 1033)]


def test_a_gateway_being_deleted_keeps_its_vlan(api: Api, store: Store) -> None:
    first = _gateway(api, "alice")
    api.ok("alice", "DELETE", f"/v2.0/internet_gateways/{first['id']}", 202)
    # Its delete has not run (no job manager here): its unit is still on the routers.
    second = _gateway(api, "alice")
    assert _stored(store, "internet_gateway", second["id"])["vlan_id"] == "1026"


def test_a_full_downlink_is_a_clear_409(api: Api, store: Store) -> None:
    router = dict(BODIES["ha_router"], maximum_gateways=1, available_gateways=1)
    desired.apply(store, [("ha_router", router)])
    _gateway(api, "alice")
    refusal = _refused(
        api,
        store,
        "alice",
        "POST",
        "/v2.0/internet_gateways",
        409,
        json={"internet_gateway": {"internet_service_id": SERVICE, "qos_option_id": QOS}},
    )
    assert refusal["field"] == "internet_service_id"
    assert "no downlink with room" in refusal["reason"]


def test_no_qos_option_is_a_clear_422(api: Api, store: Store) -> None:
    # eclcli sends "qos_option_id": null when --qos_option_id is left out.
    body = {"internet_gateway": {"internet_service_id": SERVICE, "qos_option_id": None}}
    refusal = _refused(api, store, "alice", "POST", "/v2.0/internet_gateways", 422, json=body)
    assert refusal["field"] == "qos_option_id"
    assert "is required" in refusal["reason"]


@pytest.mark.parametrize(
    ("extra", "field", "status"),
    [
        ({"vlan_id": "2000"}, "vlan_id", 422),
        ({"vrf_name": "vrf_x"}, "vrf_name", 422),
        ({"tenant_id": TENANT_B}, "tenant_id", 403),
    ],
)
def test_a_tenant_sets_only_public_fields_for_itself(
    api: Api, store: Store, extra: dict[str, Any], field: str, status: int
) -> None:
    body = {"internet_gateway": {"internet_service_id": SERVICE, "qos_option_id": QOS, **extra}}
    refusal = _refused(api, store, "alice", "POST", "/v2.0/internet_gateways", status, json=body)
    assert refusal["field"] == field


def test_an_operator_creates_for_any_tenant_and_sees_the_whole_record(
    api: Api, store: Store
) -> None:
    shown = _gateway(api, "noc", tenant_id=TENANT_B)
    assert set(shown) >= INTERNAL
    assert shown["tenant_id"] == TENANT_B
    seen = api.ok("bob", "GET", f"/v2.0/internet_gateways/{shown['id']}")["internet_gateway"]
    assert not INTERNAL & set(seen)
    assert seen["id"] == shown["id"]


def _operator_gateway(vlan: str, rid: str | None = None) -> dict[str, Any]:
    return {
        "id": rid or str(uuid.uuid4()),
        "tenant_id": TENANT_A,
        "name": f"gw-{vlan}",
        "vlan_id": vlan,
        "downlink_interface_id": HA,
        "internet_service_id": SERVICE,
        "qos_option_id": QOS,
        "vrf_name": f"vrf_gw_sample-ha-router-downlink_{vlan}",
        "primary_logical_interface_name": f"ae0.{vlan}",
        "secondary_logical_interface_name": f"ae0.{vlan}",
    }


def test_two_gateways_never_share_a_unit(api: Api, store: Store) -> None:
    taken = _gateway(api, "alice")  # placed at 1025
    body = {"internet_gateway": _operator_gateway("1025")}
    refusal = _refused(api, store, "noc", "POST", "/v2.0/internet_gateways", 409, json=body)
    assert refusal["field"] == "vlan_id"
    assert f"internet_gateway {taken['id']} has unit ae0.1025" in refusal["reason"]
    # Nor two of one batch; nothing of it is written.
    revision = store.revision()
    with pytest.raises(ValidationError, match="vlan_id 1030 is taken"):
        desired.apply(
            store,
            [
                ("internet_gateway", _operator_gateway("1030")),
                ("internet_gateway", _operator_gateway("1030")),
            ],
        )
    assert store.revision() == revision
    # A gateway's own update keeps its unit.
    mine = _operator_gateway("1031")
    desired.apply(store, [("internet_gateway", mine)])
    desired.apply(store, [("internet_gateway", {**mine, "description": "again"})])


# --- isolation ----------------------------------------------------------------------------


def test_another_tenants_objects_are_as_missing_ones(api: Api, store: Store) -> None:
    mine = _gateway(api, "alice", name="alices")
    path = f"/v2.0/internet_gateways/{mine['id']}"
    missing = f"/v2.0/internet_gateways/{uuid.uuid4()}"
    assert api.ok("bob", "GET", "/v2.0/internet_gateways") == {"internet_gateways": []}
    for method, kwargs in (
        ("GET", {}),
        ("PUT", {"json": {"internet_gateway": {"name": "bobs now"}}}),
        ("DELETE", {}),
    ):
        theirs = _refused(api, store, "bob", method, path, 404, **kwargs)
        nothing = _refused(api, store, "bob", method, missing, 404, **kwargs)
        # The same words, but for the id: nothing tells them apart.
        assert theirs["reason"] == nothing["reason"] == "does not exist"
    assert _stored(store, "internet_gateway", mine["id"])["name"] == "alices"
    # Nor can B hang its objects on A's gateway.
    body = {"public_ip": {"internet_gw_id": mine["id"], "submask_length": 28}}
    refusal = _refused(api, store, "bob", "POST", "/v2.0/public_ips", 422, json=body)
    assert refusal["field"] == "internet_gw_id"
    assert refusal["reason"] == f"references internet_gateway {mine['id']}, which does not exist"
    listed = api.ok("alice", "GET", "/v2.0/internet_gateways")["internet_gateways"]
    assert [g["id"] for g in listed] == [mine["id"]]


@pytest.mark.parametrize(
    "plural",
    ["edge_routers", "er_physical_interfaces", "ha_routers", "ha_interfaces", "public_ip_pools"],
)
def test_infrastructure_is_the_operators_alone(api: Api, store: Store, plural: str) -> None:
    rid = BODIES[keys.singular(plural)]["id"]
    for method, path in (
        ("GET", f"/v2.0/{plural}"),
        ("GET", f"/v2.0/{plural}/{rid}"),
        ("DELETE", f"/v2.0/{plural}/{rid}"),
        ("POST", f"/v2.0/{plural}"),
    ):
        refusal = _refused(api, store, "alice", method, path, 403, json={})
        assert refusal["object"] == plural
    assert api.ok("noc", "GET", f"/v2.0/{plural}/{rid}")


def test_tenants_read_the_catalog_in_its_public_shape(api: Api, store: Store) -> None:
    services = api.ok("alice", "GET", "/v2.0/internet_services")["internet_services"]
    assert services == [
        {
            "id": SERVICE,
            "name": "sample-internet-service",
            "description": "",
            "minimal_submask_length": 26,
            "zone": "jp1-zone1",
        }
    ]
    option = api.ok("alice", "GET", f"/v2.0/qos_options/{QOS}")["qos_option"]
    assert set(option) == set(PUBLIC_FIELDS["qos_option"])
    assert option["bandwidth"] == "10" and option["vpn_service_id"] is None
    assert not {k for k in option if "policer" in k}
    body = {"qos_option": {"name": "free"}}
    _refused(api, store, "alice", "PUT", f"/v2.0/qos_options/{QOS}", 403, json=body)
    _refused(api, store, "alice", "DELETE", f"/v2.0/internet_services/{SERVICE}", 403)


# --- lists --------------------------------------------------------------------------------


def test_lists_filter_on_every_public_field_and_sort(api: Api, store: Store) -> None:
    ids = [_gateway(api, "alice", name=name)["id"] for name in ("b", "a", "c")]
    path = "/v2.0/internet_gateways"

    def names(**query: Any) -> list[str]:
        found = api.ok("alice", "GET", path, params=query)["internet_gateways"]
        return [g["name"] for g in found]

    assert names(name="a") == ["a"]
    assert names(name=["a", "c"], sort_key="name") == ["a", "c"]
    assert names(id=ids[0]) == ["b"]
    assert names(qos_option_id=QOS, sort_key="name", sort_dir="desc") == ["c", "b", "a"]
    assert names(internet_service_id=SERVICE, status="PENDING_CREATE", sort_key="name") == [
        "a",
        "b",
        "c",
    ]
    # Neutron's answers: a value nothing has is an empty list, not an error.
    assert names(status="NO_SUCH_STATUS") == []
    assert names(tenant_id=TENANT_B) == []
    only = api.ok("alice", "GET", path, params={"fields": ["id", "name"], "name": "a"})
    assert only == {"internet_gateways": [{"id": ids[1], "name": "a"}]}
    # eclsdk's spelling of the internet service's mask (sic).
    services = api.ok(
        "alice", "GET", "/v2.0/internet_services", params={"minimal_subnet_length": 26}
    )["internet_services"]
    assert [s["id"] for s in services] == [SERVICE]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"vlan_id": "1025"}, "vlan_id"),  # internal: no filter for a tenant
        ({"colour": "red"}, "colour"),
        ({"sort_key": "vrf_name"}, "sort_key"),
        ({"sort_key": "name", "sort_dir": "up"}, "sort_dir"),
    ],
)
def test_a_parameter_that_is_no_filter_is_400(
    api: Api, store: Store, query: dict[str, str], field: str
) -> None:
    refusal = _refused(api, store, "alice", "GET", "/v2.0/internet_gateways", 400, params=query)
    assert refusal["field"] == field


# --- identity, bounds and the one error shape ------------------------------------------------


def test_no_or_a_bad_token_is_401_in_the_error_shape(api: Api, store: Store) -> None:
    for headers in ({}, {"X-Auth-Token": "nobody-0123456789abcdef"}):
        refusal = _refused(api, store, None, "GET", "/v2.0/internet_gateways", 401, headers=headers)
        assert refusal["field"] == "X-Auth-Token"


def test_unknown_routes_and_methods_answer_in_the_error_shape(api: Api, store: Store) -> None:
    missing = _refused(api, store, "alice", "GET", "/v2.0/no_such_things", 404)
    assert missing["object"] == "GET /v2.0/no_such_things"
    wrong = _refused(api, store, "alice", "PATCH", "/v2.0/internet_gateways", 405)
    assert wrong["reason"] == "is not a method of this route"


def test_a_body_over_the_limit_is_413_before_it_is_read(api: Api, store: Store) -> None:
    big = {"internet_gateway": {"internet_service_id": SERVICE, "name": "x" * 5000}}
    refusal = _refused(api, store, "alice", "POST", "/v2.0/internet_gateways", 413, json=big)
    assert "4096" in refusal["reason"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it comes
        yield b'{"internet_gateway": {"name": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}}'

    headers = {"Content-Type": "application/json"}
    _refused(
        api, store, "alice", "POST", "/v2.0/internet_gateways", 413, data=chunks(), headers=headers
    )
    # Under the limit, chunked, the body is read whole and the request served.
    small = iter(
        [
            b'{"internet_gateway": {"internet_service_id": "',
            SERVICE.encode(),
            b'", "qos_option_id": "',
            QOS.encode(),
            b'"}}',
        ]
    )
    answer = api.call("alice", "POST", "/v2.0/internet_gateways", data=small, headers=headers)
    assert answer.status_code == 201, answer.text


def test_an_error_echoes_a_short_prefix_only(api: Api, store: Store) -> None:
    name = "n" * 3000  # under the body limit, far over the echo limit
    body = {"network": {"name": name, "plane": "nowhere"}}
    answer = api.call("alice", "POST", "/v2.0/networks", json=body)
    assert answer.status_code == 422, answer.text
    assert len(answer.content) < 6 * ECHO_LIMIT + 400
    assert answer.json()["field"] == "plane"


def test_a_token_file_is_checked_at_start() -> None:
    with pytest.raises(ValidationError, match=r"carol.role must be one of"):
        TokenFile({"carol": {"token": "carol-0123456789abcdef", "tenant_id": "c", "role": "x"}})
    with pytest.raises(ValidationError, match=r"dave.tenant_id is missing"):
        TokenFile({"dave": {"token": "dave-0123456789abcdef", "role": "member"}})
    old = TokenFile({"ops": "ops-0123456789abcdef"}).principal("ops-0123456789abcdef")
    assert old is not None and old.operator
