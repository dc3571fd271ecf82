"""The official clients, unchanged, drive the API end to end, authenticated by a real Keystone.

eclcli 4.8.0 (``ecl network ...``) and eclsdk 1.11.1, in their own virtualenvs, against the
northbound API (its tokens validated by the session's Keystone 30, its catalog's ``network``
endpoint the API root) on the running system: etcd, a job manager and a worker, and the
simulated router pair, with the operator's infrastructure and catalog
(``inventory/resources.yaml``) and public IP pool (``inventory/family.yaml``'s) applied.

Tenant A buys a gateway naming only the internet service and a QoS option (the service
places it), then builds the origin's family on it as ``inventory/family.yaml`` has it
(public IP /28, the segment 172.16.101.0/24, the gw_interface .151/.152/.153 with VRRP
group 20, two static routes, one to the public block), each waited to ACTIVE by polling
with a deadline; both routers forward it. It lists with filters and sorts, writes through
eclsdk, and sees only the public model. Tenant B sees and changes nothing of A's and no
infrastructure; a request without a valid token is 401 and an oversize body 413, in the
one error body. A then deletes the family and the gateway in reverse, and both routers
end exactly at their day-0 configuration.
"""

from __future__ import annotations

import copy
import functools
import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
from lxml import etree

from nornir_esi.contract import desired, keys
from nornir_esi.contract.records import ConfigRecord
from nornir_esi.doors.api import ApiServer
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.junos.diff import diff_text
from nornir_esi.netsim.server import Simulator
from nornir_esi.pair.devices import NornirDevices
from nornir_esi.services import forwarding
from nornir_esi.store.base import Store
from nornir_esi.testing.clients import Clients
from nornir_esi.testing.keystone import KeystoneServer
from tests.flow.conftest import INVENTORY, ROUTERS
from tests.store.helpers import eventually

from .conftest import People, Person

pytestmark = pytest.mark.timeout(600)

T = TypeVar("T")

RESOURCES = desired.load_file(INVENTORY / "resources.yaml")
FAMILY = dict(desired.load_file(INVENTORY / "family.yaml"))
_BY_TYPE = {t: b for t, b in RESOURCES}
SERVICE = _BY_TYPE["internet_service"]
QOS = _BY_TYPE["qos_option"]
POOL = FAMILY["public_ip_pool"]
GW_INTERFACE = FAMILY["gw_interface"]
SUBNET = FAMILY["subnet"]
ROUTE = FAMILY["static_route"]
LAN_ROUTE = "198.51.100.0/24"

# The public model: what eclsdk declares of each type (shared/spec/CLIENTS.md 2.2).
GATEWAY_FIELDS = {
    "id",
    "name",
    "description",
    "internet_service_id",
    "qos_option_id",
    "status",
    "tenant_id",
}
PUBLIC_IP_FIELDS = {
    "id",
    "name",
    "description",
    "internet_gw_id",
    "submask_length",
    "cidr",
    "status",
    "tenant_id",
}
_GATEWAY_REFS = {"internet_gw_id", "vpn_gw_id", "interdc_gw_id", "fic_gw_id"}
GW_INTERFACE_FIELDS = {
    "id",
    "name",
    "description",
    "service_type",
    "network_id",
    "netmask",
    "vrid",
    "gw_vipv4",
    "primary_ipv4",
    "secondary_ipv4",
    "gw_vipv6",
    "primary_ipv6",
    "secondary_ipv6",
    "status",
    "tenant_id",
    *_GATEWAY_REFS,
}
STATIC_ROUTE_FIELDS = {
    "id",
    "name",
    "description",
    "destination",
    "nexthop",
    "service_type",
    "status",
    "tenant_id",
    *_GATEWAY_REFS,
}
SERVICE_FIELDS = {"id", "name", "description", "minimal_submask_length", "zone"}
# What a tenant must never be shown: the operator's field names and values (VRF, VLAN,
# units, the downlink, Junos filters, policies and policers, the pool, the HA router).
INTERNAL_FIELDS = (
    "vrf_name",
    "vlan_id",
    "downlink_interface_id",
    "primary_logical_interface_name",
    "secondary_logical_interface_name",
    "maximum_static_routes",
    "incoming_policer_name",
    "outgoing_policer_name",
    "incoming_policer_config",
    "outgoing_policer_config",
    "ha_router_id",
    "ip_pool_id",
    "public_ip_id",
    "vrf_export_policy",
    "inet_in_filter",
    "downlink_interfaces",
    "orchestration_state",
)
INTERNAL_VALUES = (
    "vrf_gw_",
    "ae0.",
    "10M-GA",
    "INSTANCE-USER",
    "InetGW",
    "FILTER_",
    POOL["id"],
    QOS["ha_router_id"],
    SERVICE["downlink_interfaces"][0],
)
ERROR_KEYS = {"error", "message", "object", "field", "reason"}
WAIT = 120.0


# --- the clients ---------------------------------------------------------------------------


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _rows(printed: str) -> list[list[str]]:
    """The rows of the cliff table ``printed`` (its header first), borders left out."""
    return [_cells(line) for line in printed.splitlines() if line.startswith("|")]


def shown(printed: str) -> dict[str, str]:
    """A ``show``/``create`` table (Field, Value) as a map.

    eclcli's ``create`` (and ``update``) tables print ``tenant_id`` as ``project_id``
    (``eclcli.common.utils.get_columns``), its ``show`` tables as ``tenant_id``: named
    ``tenant_id`` here either way.
    """
    header, *rows = _rows(printed)
    assert header == ["Field", "Value"], printed
    return {"tenant_id" if row[0] == "project_id" else row[0]: row[1] for row in rows}


def listed(printed: str) -> list[dict[str, str]]:
    """A ``list`` table as one map per row, keyed by the column headers."""
    rows = _rows(printed)
    if not rows:
        return []
    header, *rest = rows
    return [dict(zip(header, row, strict=True)) for row in rest]


@dataclass
class Tenant:
    """One Keystone user driving both clients; every output they printed is kept."""

    person: Person
    keystone: KeystoneServer
    clients: Clients
    api: str
    printed: list[str] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return self.person.env(self.keystone)

    def _run(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        done = self.clients.ecl(["network", *args], self.env)
        self.printed.append(done.stdout + done.stderr)
        return done

    def ecl(self, *args: str) -> str:
        """``ecl network <args>``, which must succeed; what it printed."""
        done = self._run(list(args))
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    def ecl_fails(self, *args: str) -> str:
        """``ecl network <args>``, which must fail (exit 1); its message."""
        done = self._run(list(args))
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        return done.stdout + done.stderr

    def sdk(self, script: str) -> Any:
        """An eclsdk snippet (``c`` is the connection), which must succeed; the JSON of the
        last line it printed."""
        done = self.clients.sdk("import json\nc = connect()\n" + script, self.env)
        self.printed.append(done.stdout + done.stderr)
        assert done.returncode == 0, (script, done.stdout, done.stderr)
        return json.loads(done.stdout.splitlines()[-1])

    def raw(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A plain HTTP request to the API with a new token of this user."""
        headers = {"X-Auth-Token": self.person.token(self.keystone), **kwargs.pop("headers", {})}
        return requests.request(method, self.api + path, headers=headers, timeout=30, **kwargs)


# eclsdk's waiters (each polls GET every `interval` s until ACTIVE, ERROR or `wait` s).
_SDK_WAITERS = {
    "internet_gateway": ("get_internet_gateway", "wait_for_gateway"),
    "public_ip": ("get_public_ip", "wait_for_publicip"),
    "gw_interface": ("get_gateway_interface", "wait_for_create"),
    "static_route": ("get_static_route", "wait_for_create"),
}


def sdk_wait_active(tenant: Tenant, type_name: str, resource_id: str) -> dict[str, Any]:
    """``resource_id`` waited to ACTIVE by eclsdk's own waiter; its body as eclsdk read it."""
    getter, waiter = _SDK_WAITERS[type_name]
    body = tenant.sdk(
        f"r = c.network.{getter}({resource_id!r})\n"
        f"r = r.{waiter}(c.session, interval=0.2, wait={WAIT})\n"
        "print(json.dumps(r.to_dict()))\n"
    )
    assert isinstance(body, dict) and body["status"] == "ACTIVE", body
    return body


def until(fn: Callable[[], T | None], what: str, timeout: float = WAIT) -> T:
    """``fn()`` once truthy, polled (each poll is a client's run) until a deadline."""
    result = eventually(fn, timeout=timeout, interval=0.1, what=what)
    assert result is not None
    return result


def ecl_wait_active(tenant: Tenant, noun: str, resource_id: str) -> dict[str, str]:
    """``ecl network <noun> show`` polled until the status is ACTIVE; the last table."""

    def active() -> dict[str, str] | None:
        table = shown(tenant.ecl(noun, "show", resource_id))
        return table if table["status"] == "ACTIVE" else None

    return until(active, f"{noun} {resource_id} ACTIVE")


def ecl_wait_gone(tenant: Tenant, noun: str, *resource_ids: str) -> None:
    """``ecl network <noun> list`` polled until none of ``resource_ids`` is listed."""
    until(
        lambda: not {row["ID"] for row in listed(tenant.ecl(noun, "list"))} & set(resource_ids),
        f"{noun} {resource_ids} gone",
    )


def ids(printed: str) -> list[str]:
    return [row["ID"] for row in listed(printed)]


# --- the routers ---------------------------------------------------------------------------


def _running(pair: Simulator) -> dict[str, etree._Element]:
    """Each router's running configuration now, by role."""

    def running(name: str) -> etree._Element:
        return copy.deepcopy(pair.router(name).running)

    return {role: pair.call(functools.partial(running, name)) for role, name in ROUTERS.items()}


def _normal(diff: str) -> str:
    return "\n".join(" ".join(line.split()) for line in diff.splitlines() if line.strip())


def _config(store: Store, type_name: str, resource_id: str) -> ConfigRecord | None:
    entry = store.get(keys.config(type_name, resource_id))
    return None if entry is None else ConfigRecord.from_value(entry.value)


# --- the system ----------------------------------------------------------------------------


@dataclass
class World:
    store: Store
    pair: Simulator
    overrides: Path
    api: ApiServer
    a: Tenant
    b: Tenant
    operator: Tenant


@pytest.fixture
def world(
    service_store: Store,
    pair: Simulator,
    overrides: Path,
    northbound: ApiServer,
    keystone: KeystoneServer,
    clients: Clients,
    people: People,
) -> Iterator[World]:
    """The operator's resources and pool created (each completed), the API in the catalog."""
    store = service_store
    desired.apply(store, [*RESOURCES, ("public_ip_pool", POOL)])
    for resource_type, body in [*RESOURCES, ("public_ip_pool", POOL)]:
        state = wait_for_state(store, resource_type, body["id"], timeout=60)
        assert state is not None and not state.worker_state.endswith("_FAILED"), state

    def tenant(person: Person) -> Tenant:
        return Tenant(person, keystone, clients, northbound.url)

    yield World(
        store,
        pair,
        overrides,
        northbound,
        tenant(people.a),
        tenant(people.b),
        tenant(people.operator),
    )


# --- the tests -----------------------------------------------------------------------------


def _refusal(answer: requests.Response, status: int) -> dict[str, str]:
    assert answer.status_code == status, (answer.status_code, answer.text)
    body = answer.json()
    assert set(body) == ERROR_KEYS, body
    assert body["error"] == body["message"] and body["reason"], body
    return dict(body)


def test_no_token_a_bad_token_and_an_oversize_body_are_refused(
    store: Store, northbound: ApiServer, keystone: KeystoneServer, clients: Clients, people: People
) -> None:
    api = northbound.url + "/v2.0/internet_gateways"

    for headers in ({}, {"X-Auth-Token": "not-a-token-" + "x" * 40}):
        body = _refusal(requests.get(api, headers=headers, timeout=30), 401)
        assert (body["field"], body["reason"]) == (
            "X-Auth-Token",
            "is missing or not a valid token",
        )
    a = Tenant(people.a, keystone, clients, northbound.url)
    huge = {
        "internet_gateway": {
            "internet_service_id": SERVICE["id"],
            "qos_option_id": QOS["id"],
            "name": "n" * 200_000,
        }
    }
    body = _refusal(a.raw("POST", "/v2.0/internet_gateways", json=huge), 413)
    assert "over the limit of 114688 bytes" in body["reason"], body
    assert len(json.dumps(body)) < 2000  # nothing of the body echoed
    # eclsdk's create goes the same way, and names the reason too.
    script = (
        "from ecl import exceptions\n"
        "try:\n"
        f"    c.network.create_internet_gateway({SERVICE['id']!r}, {QOS['id']!r},"
        " name='n' * 200000)\n"
        "except exceptions.HttpException as exc:\n"
        "    print(json.dumps([exc.http_status, str(exc)]))\n"
    )
    status, message = a.sdk(script)
    assert status == 413 and "over the limit" in message, message
    assert store.get_prefix(keys.type_prefix(keys.CONFIG_PREFIX, "internet_gateway")) == []
    # Keystone's own refusal of a wrong password comes before the API is called.
    wrong = {**a.env, "OS_PASSWORD": "not-the-password"}
    done = clients.ecl(["network", "inet-gw", "list"], wrong)
    assert done.returncode == 1 and "401" in done.stdout + done.stderr, done


def test_a_tenant_builds_and_tears_down_a_gateway_and_its_family_with_the_clients(
    world: World,
) -> None:
    store, a, b, operator = world.store, world.a, world.b, world.operator
    day0 = _running(world.pair)

    # -- the catalog, in its public shape
    services = listed(a.ecl("inet-service", "list"))
    assert services == [
        {
            "ID": SERVICE["id"],
            "Name": SERVICE["name"],
            "Subnet mask": str(SERVICE["minimal_submask_length"]),
            "Zone": SERVICE["zone"],
        }
    ]
    assert set(shown(a.ecl("inet-service", "show", SERVICE["id"]))) == SERVICE_FIELDS
    options = listed(a.ecl("qos", "list", "--internet_service_id", SERVICE["id"]))
    assert [(o["ID"], o["Name"], o["QoS Type"], o["Status"]) for o in options] == [
        (QOS["id"], QOS["name"], QOS["qos_type"], "ACTIVE")
    ]
    assert listed(a.ecl("qos", "list", "--internet_service_id", QOS["id"])) == []
    qos = shown(a.ecl("qos", "show", QOS["id"]))
    assert (qos["bandwidth"], qos["service_type"]) == (QOS["bandwidth"], "internet")

    # -- the gateway: only the service and the QoS option; the service places it
    refused = a.ecl_fails("inet-gw", "create", SERVICE["id"], "--name", "a-gw")
    assert "qos_option_id is required" in refused, refused
    created = shown(
        a.ecl(
            "inet-gw",
            "create",
            SERVICE["id"],
            "--name",
            "a-gw",
            "--description",
            "tenant A's gateway",
            "--qos_option_id",
            QOS["id"],
        )
    )
    assert set(created) == GATEWAY_FIELDS
    assert (created["status"], created["tenant_id"]) == ("PENDING_CREATE", a.person.project_id)
    gw = created["id"]
    waited = sdk_wait_active(a, "internet_gateway", gw)
    assert (waited["status"], waited["name"]) == ("ACTIVE", "a-gw")
    gateway_show = a.ecl("inet-gw", "show", gw)
    assert shown(gateway_show) == {
        "id": gw,
        "name": "a-gw",
        "description": "tenant A's gateway",
        "internet_service_id": SERVICE["id"],
        "qos_option_id": QOS["id"],
        "status": "ACTIVE",
        "tenant_id": a.person.project_id,
    }
    # The operator sees the whole record: where the service placed it.
    placed = shown(operator.ecl("inet-gw", "show", gw))
    assert placed["downlink_interface_id"] == SERVICE["downlink_interfaces"][0]
    vlan = placed["vlan_id"]
    assert placed["vrf_name"] == f"vrf_gw_sample-ha-router-downlink_{vlan}"

    # -- a second gateway, through eclsdk
    gw2 = a.sdk(
        f"g = c.network.create_internet_gateway({SERVICE['id']!r}, {QOS['id']!r},"
        " name='a-gw-2', description='second')\n"
        "print(json.dumps(g.id))\n"
    )
    sdk_wait_active(a, "internet_gateway", gw2)

    # -- the family, as the origin's sample has it
    public_ip = shown(
        a.ecl(
            "public-ip",
            "create",
            "--internet_gw_id",
            gw,
            "--submask_length",
            "28",
            "--name",
            "a-public-ip",
        )
    )
    assert set(public_ip) == PUBLIC_IP_FIELDS
    pip = public_ip["id"]
    assert sdk_wait_active(a, "public_ip", pip)["cidr"] == "203.0.112.0"
    network = shown(a.ecl("logical-network", "create", "--name", "a-net", "--plane", "data"))
    net = network["id"]
    ecl_wait_active(a, "logical-network", net)
    subnet = shown(
        a.ecl(
            "subnet",
            "create",
            net,
            SUBNET["cidr"],
            "--name",
            "a-subnet",
            "--gateway_ip",
            SUBNET["gateway_ip"],
        )
    )
    sub = subnet["id"]
    assert (subnet["cidr"], subnet["gateway_ip"], subnet["network_id"]) == (
        SUBNET["cidr"],
        SUBNET["gateway_ip"],
        net,
    )
    ecl_wait_active(a, "subnet", sub)
    interface = shown(
        a.ecl(
            "gw-interface",
            "create",
            "--name",
            "a-gw-interface",
            "--service_type",
            "internet",
            "--vrid",
            str(GW_INTERFACE["vrid"]),
            "--network_id",
            net,
            "--netmask",
            str(GW_INTERFACE["netmask"]),
            "--primary_ipv4",
            GW_INTERFACE["primary_ipv4"],
            "--secondary_ipv4",
            GW_INTERFACE["secondary_ipv4"],
            "--gw_vipv4",
            GW_INTERFACE["gw_vipv4"],
            "--internet_gw_id",
            gw,
        )
    )
    assert set(interface) == GW_INTERFACE_FIELDS
    gwif = interface["id"]
    sdk_wait_active(a, "gw_interface", gwif)
    route = shown(
        a.ecl(
            "static-route",
            "create",
            "--name",
            "to-the-public-block",
            "--destination",
            ROUTE["destination"],
            "--nexthop",
            ROUTE["nexthop"],
            "--service_type",
            "internet",
            "--internet_gw_id",
            gw,
        )
    )
    assert set(route) == STATIC_ROUTE_FIELDS
    r1 = route["id"]
    r2 = a.sdk(
        f"r = c.network.create_static_route('internet', {LAN_ROUTE!r}, {ROUTE['nexthop']!r},"
        f" name='to-the-lan', internet_gw_id={gw!r})\n"
        "print(json.dumps(r.id))\n"
    )
    for rid in (r1, r2):
        sdk_wait_active(a, "static_route", rid)

    # -- both routers carry it, and forward
    now = _running(world.pair)
    for role in ROUTERS:
        diff = _normal(diff_text(day0[role], now[role]))
        own = GW_INTERFACE[f"{role}_ipv4"]
        for line in (
            f"vlan-id {vlan};",
            f"address {own}/{GW_INTERFACE['netmask']} {{",
            f"virtual-address {GW_INTERFACE['gw_vipv4']};",
            f"route {ROUTE['destination']} next-hop {ROUTE['nexthop']};",
            f"route {LAN_ROUTE} next-hop {ROUTE['nexthop']};",
            f"+ {ROUTE['destination']};",  # the public block in the gateway's prefix list
        ):
            assert line in diff, (role, line, diff)
    health = forwarding.forwarding_health(store, NornirDevices(str(world.overrides)), gw)
    assert {
        role: (h.vrrp, h.bgp, h.routes_active, h.routes_total) for role, h in health.items()
    } == {
        "primary": ("MASTER", "Established", 2, 2),
        "secondary": ("BACKUP", "Established", 2, 2),
    }

    # -- lists with filters, and sorted, through both clients
    assert ids(a.ecl("inet-gw", "list", "--name", "a-gw")) == [gw]
    assert sorted(ids(a.ecl("inet-gw", "list", "--status", "ACTIVE"))) == sorted([gw, gw2])
    assert ids(a.ecl("inet-gw", "list", "--status", "NO_SUCH_STATUS")) == []
    assert ids(a.ecl("inet-gw", "list", "--qos-option-id", QOS["id"], "--name", "a-gw-2")) == [gw2]
    public_ips_list = a.ecl("public-ip", "list")
    assert listed(public_ips_list) == [
        {
            "ID": pip,
            "Name": "a-public-ip",
            "CIDR": "203.0.112.0",  # the list's column is cidr (not its prefixed_cidr)
            "Submask": "28",
            "Status": "ACTIVE",
        }
    ]
    assert ids(a.ecl("public-ip", "list", "--internet_gw_id", gw2)) == []
    assert ids(a.ecl("gw-interface", "list", "--vrid", "20", "--internet_gw_id", gw)) == [gwif]
    assert ids(a.ecl("static-route", "list", "--destination", LAN_ROUTE)) == [r2]
    found = a.sdk(
        "print(json.dumps({\n"
        "    'by_name': [g.id for g in c.network.internet_gateways(name='a-gw')],\n"
        "    'by_service': sorted(g.id for g in"
        f" c.network.internet_gateways(internet_service_id={SERVICE['id']!r})),\n"
        "    'names_desc': [g.name for g in"
        " c.network.internet_gateways(sort_key='name', sort_dir='desc')],\n"
        "    'routes_desc': [r.destination for r in"
        " c.network.static_routes(sort_key='destination', sort_dir='desc')],\n"
        "    'routes_asc': [r.destination for r in"
        " c.network.static_routes(sort_key='destination', sort_dir='asc')],\n"
        f"    'public_ips': [p.id for p in c.network.public_ips(internet_gw_id={gw!r})],\n"
        "    'found': c.network.find_internet_gateway('a-gw-2').id,\n"
        "}))\n"
    )
    assert found == {
        "by_name": [gw],
        "by_service": sorted([gw, gw2]),
        "names_desc": ["a-gw-2", "a-gw"],
        "routes_desc": [ROUTE["destination"], LAN_ROUTE],
        "routes_asc": [LAN_ROUTE, ROUTE["destination"]],
        "public_ips": [pip],
        "found": gw2,
    }

    # -- writes through eclsdk: an update, and the second gateway's delete
    updated = a.sdk(
        f"g = c.network.update_internet_gateway({gw!r}, description='updated by eclsdk')\n"
        "print(json.dumps(g.to_dict()))\n"
    )
    assert (updated["description"], updated["name"]) == ("updated by eclsdk", "a-gw")
    sdk_wait_active(a, "internet_gateway", gw)
    assert shown(a.ecl("inet-gw", "show", gw))["description"] == "updated by eclsdk"
    a.sdk(f"c.network.delete_internet_gateway({gw2!r})\nprint('null')\n")
    ecl_wait_gone(a, "inet-gw", gw2)

    # -- tenant B sees none of it, changes none of it, and no infrastructure
    version = _config(store, "internet_gateway", gw)
    for noun in ("inet-gw", "public-ip", "gw-interface", "static-route", "logical-network"):
        assert listed(b.ecl(noun, "list")) == [], noun
    assert listed(b.ecl("subnet", "list")) == []
    for noun, rid, kind in (
        ("inet-gw", gw, "internet_gateway"),
        ("public-ip", pip, "public_ip"),
        ("gw-interface", gwif, "gw_interface"),
        ("static-route", r1, "static_route"),
        ("subnet", sub, "subnet"),
    ):
        message = b.ecl_fails(noun, "show", rid)
        assert f"{kind} {rid}: does not exist" in message, message
    message = b.ecl_fails("inet-gw", "update", gw, "--name", "taken-by-b")
    assert f"internet_gateway {gw}: does not exist" in message, message
    message = b.ecl_fails("inet-gw", "delete", gw)
    assert f"internet_gateway {gw}: does not exist" in message, message
    assert _config(store, "internet_gateway", gw) == version
    assert shown(a.ecl("inet-gw", "show", gw))["name"] == "a-gw"
    # eclsdk names the reason of a refusal.
    script = (
        "from ecl import exceptions\n"
        "out = []\n"
        "for call in (\n"
        f"    lambda: c.network.get_internet_gateway({gw!r}),\n"
        f"    lambda: c.network.create_public_ip({gw!r}, 28),\n"
        "):\n"
        "    try:\n"
        "        call()\n"
        "        out.append(None)\n"
        "    except exceptions.HttpException as exc:\n"
        "        out.append([exc.http_status, str(exc)])\n"
        "print(json.dumps(out))\n"
    )
    (got, made) = b.sdk(script)
    assert got[0] == 404 and f"internet_gateway {gw}: does not exist" in got[1], got
    assert made[0] == 422 and "internet_gw_id references internet_gateway" in made[1], made
    for plural in ("edge_routers", "ha_interfaces", "public_ip_pools"):
        body = _refusal(b.raw("GET", f"/v2.0/{plural}"), 403)
        assert body["object"] == plural, body
    assert len(operator.raw("GET", "/v2.0/edge_routers").json()["edge_routers"]) == 2

    # -- nothing internal was ever shown to a tenant
    for printed in a.printed + b.printed:
        for name in (*INTERNAL_FIELDS, *INTERNAL_VALUES):
            assert name not in printed, (name, printed)

    # -- A takes it all down in reverse, each gone before the next
    a.ecl("static-route", "delete", r1)
    a.sdk(f"c.network.delete_static_route({r2!r})\nprint('null')\n")
    ecl_wait_gone(a, "static-route", r1, r2)
    a.ecl("gw-interface", "delete", gwif)
    ecl_wait_gone(a, "gw-interface", gwif)
    a.sdk(f"c.network.delete_public_ip({pip!r})\nprint('null')\n")
    ecl_wait_gone(a, "public-ip", pip)
    a.ecl("subnet", "delete", sub)
    ecl_wait_gone(a, "subnet", sub)
    a.ecl("logical-network", "delete", net)
    ecl_wait_gone(a, "logical-network", net)
    a.ecl("inet-gw", "delete", gw)
    ecl_wait_gone(a, "inet-gw", gw)

    # The routers are back at day 0; the block is back in the pool.
    end = _running(world.pair)
    for role in ROUTERS:
        assert diff_text(day0[role], end[role]).strip() == "", role
    pool = _config(store, "public_ip_pool", POOL["id"])
    assert pool is not None and pool.body["addresses_available"] == 512

    print("$ ecl network inet-gw show", gw, "\n" + gateway_show)
    print("$ ecl network public-ip list\n" + public_ips_list)
