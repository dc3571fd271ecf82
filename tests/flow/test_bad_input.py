"""Bad input at the front door: refused with a precise error, and nothing written anywhere.

The sample resources and the seed's gateway are created first (so references, type
checks and cross checks run against a real, populated ``/config``); then each bad batch
goes through :func:`desired.apply`. Each must raise a ValidationError naming the object
and the field, and leave every etcd key (value and revisions) and both simulated
routers (commit history and running configuration) exactly as they were.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from nornir_esi.contract import desired, keys
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.exceptions import ValidationError
from nornir_esi.junos.tree import canonical_bytes
from nornir_esi.netsim.server import Simulator
from nornir_esi.service import Service
from nornir_esi.store.base import Entry, Store
from nornir_esi.testing.etcd import EtcdServer
from tests.store.helpers import eventually

from .conftest import INVENTORY, ROUTERS, write_overrides

Items = list[tuple[str, Any]]

RESOURCES = desired.load_file(INVENTORY / "resources.yaml")
GATEWAY = desired.load_file(INVENTORY / "gateway.yaml")[0][1]
_BY_TYPE: dict[str, list[dict[str, Any]]] = {}
for _type, _body in RESOURCES:
    _BY_TYPE.setdefault(_type, []).append(_body)

PRIMARY_ER, SECONDARY_ER = (b["id"] for b in _BY_TYPE["edge_router"])
HA_ROUTER = _BY_TYPE["ha_router"][0]
HA_INTERFACE = _BY_TYPE["ha_interface"][0]
SERVICE = _BY_TYPE["internet_service"][0]
QOS = _BY_TYPE["qos_option"][0]
EXISTING_GW = GATEWAY["id"]

NEW_GW = "7c1d0a52-3f0e-4b8e-9a51-2d6f0c9e1a26"
NEW_SERVICE = "5b0f7f0e-1c3a-4f6d-8e2b-9a4c6d8e0f12"
NEW_QOS = "a3e9c2d4-6b7f-4a1e-8c5d-0f2b4e6a8c91"
NEW_ER = "e4f6a8b0-2c4d-4e6f-8a0b-1c3d5e7f9a2b"
NEW_HA = "0d2e4f6a-8b0c-4d1e-9f3a-5b7c9d1e3f50"
UNKNOWN = "ffffffff-ffff-4fff-8fff-ffffffffffff"

_DROP = object()


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(base)
    for field, value in changes.items():
        if value is _DROP:
            body.pop(field, None)
        else:
            body[field] = value
    return body


def good_gateway(**changes: Any) -> dict[str, Any]:
    """A valid second gateway on the sample downlink (vlan 1026), then ``changes``."""
    body = _with(
        GATEWAY,
        id=NEW_GW,
        name="second-internet-gateway",
        vlan_id="1026",
        vrf_name="vrf_gw_sample-ha-router-downlink_1026",
        primary_logical_interface_name="ae0.1026",
        secondary_logical_interface_name="ae0.1026",
    )
    return _with(body, **changes)


def _router(er_id: str, **changes: Any) -> dict[str, Any]:
    return _with(next(b for b in _BY_TYPE["edge_router"] if b["id"] == er_id), **changes)


@dataclass(frozen=True)
class Bad:
    items: Callable[[], Items]
    obj: str  # ValidationError.obj
    field: str
    reason: str  # a substring of ValidationError.reason


def gw(**changes: Any) -> Callable[[], Items]:
    return lambda: [("internet_gateway", good_gateway(**changes))]


GW_OBJ = f"internet_gateway {NEW_GW}"

CASES = {
    # --- internet_gateway bodies
    "vlan-0": Bad(gw(vlan_id="0"), GW_OBJ, "vlan_id", "0 is outside 1-4094"),
    "vlan-5000": Bad(gw(vlan_id="5000"), GW_OBJ, "vlan_id", "5000 is outside 1-4094"),
    "vlan-abc": Bad(gw(vlan_id="abc"), GW_OBJ, "vlan_id", "'abc' is not a string of digits"),
    "vlan-integer": Bad(gw(vlan_id=1026), GW_OBJ, "vlan_id", "must be a string, not integer"),
    "vlan-restricted": Bad(
        gw(
            vlan_id="1000",
            primary_logical_interface_name="ae0.1000",
            secondary_logical_interface_name="ae0.1000",
        ),
        GW_OBJ,
        "vlan_id",
        "1000 is restricted on the downlink (0-1024,4094)",
    ),
    # An update of the existing gateway, as the error tree's docstring shows it.
    "update-existing-vlan-5000": Bad(
        lambda: [("internet_gateway", _with(GATEWAY, vlan_id="5000"))],
        f"internet_gateway {EXISTING_GW}",
        "vlan_id",
        "5000 is outside 1-4094",
    ),
    "vrf-missing": Bad(gw(vrf_name=_DROP), GW_OBJ, "vrf_name", "is missing"),
    "vrf-null": Bad(gw(vrf_name=None), GW_OBJ, "vrf_name", "is missing"),
    "vrf-space": Bad(
        gw(vrf_name="vrf gw"), GW_OBJ, "vrf_name", "'vrf gw' is not a routing-instance name"
    ),
    "vrf-semicolon": Bad(
        gw(vrf_name="vrf_gw;delete"),
        GW_OBJ,
        "vrf_name",
        "'vrf_gw;delete' is not a routing-instance name",
    ),
    "vrf-too-long": Bad(gw(vrf_name="v" * 57), GW_OBJ, "vrf_name", "is longer than 56 characters"),
    "downlink-unknown": Bad(
        gw(downlink_interface_id=UNKNOWN),
        GW_OBJ,
        "downlink_interface_id",
        f"references ha_interface {UNKNOWN}, which does not exist",
    ),
    "downlink-is-a-service": Bad(
        gw(downlink_interface_id=SERVICE["id"]),
        GW_OBJ,
        "downlink_interface_id",
        f"{SERVICE['id']} is of type internet_service, not ha_interface",
    ),
    "downlink-not-a-uuid": Bad(
        gw(downlink_interface_id="ae0"),
        GW_OBJ,
        "downlink_interface_id",
        "'ae0' is not a lowercase UUID",
    ),
    "primary-unit-not-vlan": Bad(
        gw(primary_logical_interface_name="ae0.1025"),
        GW_OBJ,
        "primary_logical_interface_name",
        "'ae0.1025' must be 'ae0.1026'",
    ),
    "secondary-wrong-member": Bad(
        gw(secondary_logical_interface_name="ae1.1026"),
        GW_OBJ,
        "secondary_logical_interface_name",
        "'ae1.1026' must be 'ae0.1026'",
    ),
    "logical-not-an-interface": Bad(
        gw(primary_logical_interface_name="ae0"),
        GW_OBJ,
        "primary_logical_interface_name",
        "is not a Junos logical interface name",
    ),
    # The QoS option belongs to a second (valid) service created in the same batch.
    "qos-of-another-service": Bad(
        lambda: [
            ("internet_service", _with(SERVICE, id=NEW_SERVICE, name="second-service")),
            (
                "qos_option",
                _with(QOS, id=NEW_QOS, name="second-qos", internet_service_id=NEW_SERVICE),
            ),
            ("internet_gateway", good_gateway(qos_option_id=NEW_QOS)),
        ],
        GW_OBJ,
        "qos_option_id",
        f"belongs to another internet_service than {SERVICE['id']}",
    ),
    "id-not-a-uuid": Bad(
        gw(id="gateway-2"),
        "internet_gateway second-internet-gateway",
        "id",
        "'gateway-2' is not a lowercase UUID",
    ),
    "id-uppercase": Bad(
        gw(id=NEW_GW.upper()),
        "internet_gateway second-internet-gateway",
        "id",
        "is not a lowercase UUID",
    ),
    "unknown-field": Bad(gw(vlanid="1026"), GW_OBJ, "vlanid", "is not a field of internet_gateway"),
    "body-a-list": Bad(
        lambda: [("internet_gateway", [good_gateway()])],
        "internet_gateway",
        "body",
        "must be a JSON object, not list",
    ),
    "body-a-string": Bad(
        lambda: [("internet_gateway", "vlan 1026")],
        "internet_gateway",
        "body",
        "must be a JSON object, not string",
    ),
    "unknown-type": Bad(
        lambda: [("internet_gateways", good_gateway())],
        f"resource {NEW_GW}",
        "type",
        "'internet_gateways' is not one of",
    ),
    # --- edge_router
    "router-ip-999": Bad(
        lambda: [("edge_router", _router(PRIMARY_ER, ip="10.0.0.999"))],
        f"edge_router {PRIMARY_ER}",
        "ip",
        "'10.0.0.999' is not an IPv4 or IPv6 address",
    ),
    "router-ssh-port-70000": Bad(
        lambda: [("edge_router", _router(SECONDARY_ER, id=NEW_ER, ssh_port=70000))],
        f"edge_router {NEW_ER}",
        "ssh_port",
        "70000 is outside 1-65535",
    ),
    "router-ssh-port-string": Bad(
        lambda: [("edge_router", _router(PRIMARY_ER, ssh_port="830"))],
        f"edge_router {PRIMARY_ER}",
        "ssh_port",
        "must be an integer, not string",
    ),
    "router-ssh-port-bool": Bad(
        lambda: [("edge_router", _router(PRIMARY_ER, ssh_port=True))],
        f"edge_router {PRIMARY_ER}",
        "ssh_port",
        "must be an integer, not boolean",
    ),
    # --- ha_router
    "ha-primary-is-secondary": Bad(
        lambda: [("ha_router", _with(HA_ROUTER, id=NEW_HA, secondary_router_id=PRIMARY_ER))],
        f"ha_router {NEW_HA}",
        "secondary_router_id",
        "must differ from primary_router_id",
    ),
    "ha-existing-primary-is-secondary": Bad(
        lambda: [("ha_router", _with(HA_ROUTER, primary_router_id=SECONDARY_ER))],
        f"ha_router {HA_ROUTER['id']}",
        "secondary_router_id",
        "must differ from primary_router_id",
    ),
    # --- all or nothing: a good new gateway, then a bad resource, in one batch
    "good-gateway-then-bad-router": Bad(
        lambda: [
            ("internet_gateway", good_gateway()),
            ("edge_router", _router(PRIMARY_ER, ip="10.0.0.999")),
        ],
        f"edge_router {PRIMARY_ER}",
        "ip",
        "'10.0.0.999' is not an IPv4 or IPv6 address",
    ),
    "bad-router-then-good-gateway": Bad(
        lambda: [
            ("edge_router", _router(PRIMARY_ER, ssh_port=70000)),
            ("internet_gateway", good_gateway()),
        ],
        f"edge_router {PRIMARY_ER}",
        "ssh_port",
        "70000 is outside 1-65535",
    ),
}

_QUEUES = (keys.JOBS_ALL, keys.JOBS_READY, keys.JOBS_WAITING, keys.JOBS_WORKING, keys.JOBS_FINISHED)


def _etcd(store: Store) -> tuple[int, list[Entry]]:
    """Every key with its value and revisions, and the store's revision."""
    return store.revision(), store.get_prefix("")


def _routers(pair: Simulator) -> dict[str, tuple[int, bytes]]:
    """Each router's commit history length and canonical running configuration."""
    out = {}
    for name in ROUTERS.values():
        router = pair.router(name)
        out[name] = pair.call(lambda r=router: (len(r.history), canonical_bytes(r.running)))
    return out


@pytest.fixture(scope="module")
def populated(
    etcd_server: EtcdServer, pair: Simulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """The sample resources and the seed's gateway created, and the service idle.

    Module-scoped: every case asserts that it changed nothing, so they share one system
    (the one test that adds a gateway comes last in this module).
    """
    store = etcd_server.client(timeout=5.0)
    store.delete("", prefix=True)
    pair.reset()
    overrides = write_overrides(pair, tmp_path_factory.mktemp("inventory"))
    with Service(store, inventory=str(overrides), manager_lease_ttl=5, worker_lease_ttl=5):
        yield _populate(store)
    store.close()


def _populate(store: Store) -> Store:
    desired.apply(store, RESOURCES)
    for resource_type, body in RESOURCES:
        state = wait_for_state(store, resource_type, body["id"], timeout=60)
        assert state is not None, f"{resource_type} {body['id']}: no /state"
        assert not state.worker_state.endswith("_FAILED"), state
    desired.apply(store, [("internet_gateway", GATEWAY)])
    state = wait_for_state(store, "internet_gateway", EXISTING_GW, timeout=60)
    assert state is not None and state.worker_state == "CREATE_COMPLETED", state
    # The manager collects the last job right after its /state; then nothing writes.
    eventually(lambda: all(store.get_prefix(q) == [] for q in _QUEUES), what="empty job queues")
    return store


def test_cases_are_enough() -> None:
    assert len(CASES) >= 15


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_bad_input_is_refused_and_writes_nothing(
    populated: Store, pair: Simulator, case: Bad
) -> None:
    store = populated
    etcd_before, routers_before = _etcd(store), _routers(pair)
    assert routers_before[ROUTERS["primary"]][0] > 1, "the seed's gateway was never committed"

    with pytest.raises(ValidationError) as info:
        desired.apply(store, case.items())
    err = info.value
    assert (err.obj, err.field) == (case.obj, case.field), str(err)
    assert case.reason in err.reason, str(err)
    assert str(err).startswith(f"{case.obj}: {case.field} "), str(err)

    assert _etcd(store) == etcd_before
    assert store.get(keys.config("internet_gateway", NEW_GW)) is None
    assert _routers(pair) == routers_before


def test_refused_batch_leaves_the_good_gateway_creatable(populated: Store, pair: Simulator) -> None:
    """After a refused mixed batch, its good gateway alone goes through to both routers.

    The control for the checks above: the same snapshots do see a write and a commit.
    """
    store = populated
    etcd_before, routers_before = _etcd(store), _routers(pair)
    with pytest.raises(ValidationError):
        desired.apply(store, CASES["good-gateway-then-bad-router"].items())
    assert _etcd(store) == etcd_before
    assert _routers(pair) == routers_before

    changes = desired.apply(store, [("internet_gateway", good_gateway())])
    assert [(c.resource_id, c.outcome, c.version) for c in changes] == [(NEW_GW, "created", 1)]
    state = wait_for_state(store, "internet_gateway", NEW_GW, timeout=60)
    assert state is not None and state.worker_state == "CREATE_COMPLETED", state
    assert _etcd(store)[0] > etcd_before[0]
    after = _routers(pair)
    for name, (commits, running) in after.items():
        # One pair transaction: `commit confirmed`, then the confirming commit.
        assert commits == routers_before[name][0] + 2, name
        assert b"ae0" in running and b"1026" in running and running != routers_before[name][1]
