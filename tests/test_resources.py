"""Resource types and validation: the captured graph is valid, bad bodies name their field."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from nornir_esi.contract import keys, resources
from nornir_esi.exceptions import ValidationError
from tests.origin import Graph, config_bodies, seed_entries

ER1 = "9b82b55a-551e-4069-ae77-c972e30ab0cc"  # primary router (vMX-router-02)
ER2 = "198b93f2-006e-45b6-96d3-e7ef6f759501"  # secondary router
PIF1 = "1fda2a88-f7e9-4982-9ce2-d65c9611aae7"  # ae0 on ER1
PIF2 = "469e4283-80e6-491c-830f-c483c1f7c695"  # ae0 on ER2
HAR = "d4286c1d-86e7-42d3-9d84-a4d9daa3ae17"
HAI = "1205d3f2-7568-412a-a554-012340ab3172"
SVC = "848e04de-733d-4f98-8971-bdb3b83e0296"
QOS = "e25f6309-c384-446e-bdc1-5241cb14890b"
GW = "429e24b5-a2f0-4fb8-b467-e335857e9476"
UNKNOWN = "00000000-0000-4000-8000-000000000000"

IDS = {
    "edge_router": ER1,
    "er_physical_interface": PIF1,
    "ha_router": HAR,
    "ha_interface": HAI,
    "internet_service": SVC,
    "qos_option": QOS,
    "internet_gateway": GW,
}

DROP = object()  # as a change: remove the field


@pytest.fixture
def graph() -> Graph:
    return Graph(copy.deepcopy(config_bodies()))


def changed(graph: Graph, resource_type: str, **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(graph.bodies[(resource_type, IDS[resource_type])])
    for name, value in changes.items():
        if value is DROP:
            body.pop(name, None)
        else:
            body[name] = value
    return body


class TestTypes:
    def test_the_thirteen_types_and_their_plurals(self) -> None:
        # The gateway chain's seven (the seed scenario's IDS) and its family's six.
        family = {"public_ip_pool", "public_ip", "network", "subnet", "gw_interface"}
        assert set(resources.RESOURCE_TYPES) == set(IDS) | family | {"static_route"}
        for name, rtype in resources.RESOURCE_TYPES.items():
            assert rtype.plural == keys.plural(name)
            for common in ("id", "tenant_id", "name", "description"):
                assert common in rtype.fields

    def test_workable(self) -> None:
        workable = {n for n in resources.RESOURCE_TYPES if resources.is_workable(n)}
        family = {"public_ip", "gw_interface", "static_route"}
        assert workable == (set(IDS) - {"internet_service", "qos_option"}) | family
        gateway = resources.resource_type("internet_gateway")
        assert (gateway.heat_template, gateway.monitoring_template) == (
            "internet_gateway",
            "internet_gateway_monitoring",
        )
        # The origin's template_path (ACgw_interface_&Pservice_type, service type internet).
        gw_interface = resources.resource_type("gw_interface")
        assert (gw_interface.heat_template, gw_interface.monitoring_template) == (
            "gw_interface_internet",
            "gw_interface_monitoring",
        )
        assert resources.resource_type("static_route").heat_template == "static_route_internet"

    @pytest.mark.parametrize(
        ("resource_type", "field", "target"),
        [
            ("er_physical_interface", "device_id", "edge_router"),
            ("ha_router", "primary_router_id", "edge_router"),
            ("ha_router", "secondary_router_id", "edge_router"),
            ("ha_interface", "ha_router_id", "ha_router"),
            ("ha_interface", "primary_interface_id", "er_physical_interface"),
            ("ha_interface", "secondary_interface_id", "er_physical_interface"),
            ("internet_service", "downlink_interfaces", "ha_interface"),
            ("qos_option", "internet_service_id", "internet_service"),
            ("qos_option", "ha_router_id", "ha_router"),
            ("internet_gateway", "downlink_interface_id", "ha_interface"),
            ("internet_gateway", "associated_uplink_id", "ha_interface"),
            ("internet_gateway", "internet_service_id", "internet_service"),
            ("internet_gateway", "qos_option_id", "qos_option"),
            ("internet_gateway", "vlan_id", None),
            ("internet_gateway", "no_such_field", None),
        ],
    )
    def test_relation_target(self, resource_type: str, field: str, target: str | None) -> None:
        assert resources.relation_target(resource_type, field) == target

    def test_downlink_interfaces_is_a_list_of_references(self) -> None:
        spec = resources.field_spec("internet_service", "downlink_interfaces")
        assert spec is not None and spec.many

    def test_referrers(self) -> None:
        assert resources.referrers("edge_router") == [
            ("er_physical_interface", "device_id"),
            ("ha_router", "primary_router_id"),
            ("ha_router", "secondary_router_id"),
        ]


class TestValidBodies:
    @pytest.mark.parametrize("resource_type", sorted(IDS))
    def test_captured_body_is_valid(self, graph: Graph, resource_type: str) -> None:
        body = graph.bodies[(resource_type, IDS[resource_type])]
        assert resources.validate(resource_type, body, graph) == body

    def test_seed_gateway_is_valid(self, graph: Graph) -> None:
        body = seed_entries()[0][1]["body"]
        assert resources.validate("internet_gateway", body, graph) == body

    def test_returns_a_copy(self, graph: Graph) -> None:
        body = graph.bodies[("edge_router", ER1)]
        assert resources.validate("edge_router", body, graph) is not body

    def test_optional_uplink(self, graph: Graph) -> None:
        uplink = changed(graph, "ha_interface", id=UNKNOWN, link_type="uplink")
        graph.bodies[("ha_interface", UNKNOWN)] = uplink
        for value in (UNKNOWN, None):
            body = changed(graph, "internet_gateway", associated_uplink_id=value)
            resources.validate("internet_gateway", body, graph)

    def test_unknown_fields_on_request(self, graph: Graph) -> None:
        body = changed(graph, "edge_router", vendor="juniper")
        resources.validate("edge_router", body, graph, allow_unknown_fields=True)

    def test_ipv6_router(self, graph: Graph) -> None:
        resources.validate("edge_router", changed(graph, "edge_router", ip="2001:db8::1"), graph)


BAD = [
    # (type, changes, field, reason substring)
    (
        "internet_service",
        {"vrf_config": "routing-options { static { route 0.0.0.0/0 next-hop 192.0.2.1; }"},
        "vrf_config",
        "is not valid Junos configuration",
    ),
    (
        "internet_service",
        {"vrf_config": "routing-options static route"},
        "vrf_config",
        "missing ';'",
    ),
    (
        "internet_service",
        {"vrf_config": "} } system { host-name evil; } routing-instances { X {"},
        "vrf_config",
        "must stay inside the routing instance",
    ),
    ("internet_gateway", {"vlan_id": "5000"}, "vlan_id", "5000 is outside 1-4094"),
    ("internet_gateway", {"vlan_id": "0"}, "vlan_id", "0 is outside 1-4094"),
    ("internet_gateway", {"vlan_id": 1025}, "vlan_id", "must be a string, not integer"),
    ("internet_gateway", {"vlan_id": "10a5"}, "vlan_id", "is not a string of digits"),
    ("internet_gateway", {"vlan_id": "1000"}, "vlan_id", "is restricted on the downlink"),
    ("internet_gateway", {"vrf_name": DROP}, "vrf_name", "is missing"),
    ("internet_gateway", {"vrf_name": "vrf gw"}, "vrf_name", "is not a routing-instance name"),
    ("internet_gateway", {"vrf_name": "vrf.gw"}, "vrf_name", "is not a routing-instance name"),
    ("internet_gateway", {"vrf_name": "v" * 57}, "vrf_name", "longer than 56"),
    (
        "internet_gateway",
        {"primary_logical_interface_name": "ae0.1026"},
        "primary_logical_interface_name",
        "must be 'ae0.1025'",
    ),
    (
        "internet_gateway",
        {"secondary_logical_interface_name": "ae1.1025"},
        "secondary_logical_interface_name",
        "must be 'ae0.1025'",
    ),
    (
        "internet_gateway",
        {"primary_logical_interface_name": "ae0"},
        "primary_logical_interface_name",
        "is not a Junos logical interface name",
    ),
    ("internet_gateway", {"qos_option_id": UNKNOWN}, "qos_option_id", "which does not exist"),
    ("internet_gateway", {"qos_option_id": SVC}, "qos_option_id", "is of type internet_service"),
    (
        "internet_gateway",
        {"downlink_interface_id": "x"},
        "downlink_interface_id",
        "not a lowercase UUID",
    ),
    ("internet_gateway", {"associated_uplink_id": HAI}, "associated_uplink_id", "is a downlink"),
    ("internet_gateway", {"maximum_static_routes": -1}, "maximum_static_routes", "-1 is below 0"),
    ("internet_gateway", {"id": GW.upper()}, "id", "is not a lowercase UUID"),
    ("internet_gateway", {"tenant_id": " "}, "tenant_id", "must not be empty"),
    ("internet_gateway", {"status": "DONE"}, "status", "is not one of PENDING_CREATE|"),
    ("internet_gateway", {"vlanid": "1025"}, "vlanid", "is not a field of internet_gateway"),
    ("edge_router", {"ssh_port": "830"}, "ssh_port", "must be an integer, not string"),
    ("edge_router", {"ssh_port": True}, "ssh_port", "must be an integer, not boolean"),
    ("edge_router", {"ssh_port": 70000}, "ssh_port", "70000 is outside 1-65535"),
    ("edge_router", {"ip": "10.79.5.300"}, "ip", "is not an IPv4 or IPv6 address"),
    ("edge_router", {"login": DROP}, "login", "is missing"),
    (
        "edge_router",
        {"autonomous_system": "AS65101"},
        "autonomous_system",
        "not a string of digits",
    ),
    ("er_physical_interface", {"name": "ae 0"}, "name", "is not a Junos physical interface name"),
    (
        "er_physical_interface",
        {"device_id": HAR},
        "device_id",
        "is of type ha_router, not edge_router",
    ),
    ("ha_router", {"secondary_router_id": ER1}, "secondary_router_id", "must differ"),
    ("ha_router", {"maximum_gateways": 0}, "maximum_gateways", "0 is below 1"),
    ("ha_router", {"available_gateways": 501}, "available_gateways", "exceeds maximum_gateways"),
    ("ha_interface", {"link_type": "sideways"}, "link_type", "is not one of uplink|downlink"),
    ("ha_interface", {"restricted_vlans": "0-5000"}, "restricted_vlans", "within 0-4095"),
    ("ha_interface", {"secondary_interface_id": PIF1}, "secondary_interface_id", "must differ"),
    (
        "ha_interface",
        {"primary_interface_id": PIF2, "secondary_interface_id": PIF1},
        "primary_interface_id",
        f"is on edge_router {ER2}, not on the ha_router's primary router {ER1}",
    ),
    ("internet_service", {"vrf_config": 5}, "vrf_config", "must be a string"),
    ("internet_service", {"inet_in_filter": "INET IN"}, "inet_in_filter", "is not a Junos name"),
    ("internet_service", {"inet_out_filter": "F" * 64}, "inet_out_filter", "longer than 63"),
    ("internet_service", {"downlink_interfaces": HAI}, "downlink_interfaces", "must be a list"),
    (
        "internet_service",
        {"downlink_interfaces": [UNKNOWN]},
        "downlink_interfaces[0]",
        "which does not exist",
    ),
    ("qos_option", {"internet_service_id": DROP}, "internet_service_id", "is missing"),
    ("qos_option", {"incoming_policer_name": "P" * 57}, "incoming_policer_name", "longer than 56"),
    ("qos_option", {"bandwidth": "10M"}, "bandwidth", "is not a string of digits"),
]


class TestInvalidBodies:
    @pytest.mark.parametrize(
        ("resource_type", "changes", "field", "reason"),
        BAD,
        ids=[f"{t}-{f}-{r[:20]}" for t, _, f, r in BAD],
    )
    def test_bad_body_names_field_and_reason(
        self, graph: Graph, resource_type: str, changes: dict[str, Any], field: str, reason: str
    ) -> None:
        body = changed(graph, resource_type, **changes)
        with pytest.raises(ValidationError) as err:
            resources.validate(resource_type, body, graph)
        assert err.value.field == field
        assert reason in err.value.reason
        assert err.value.obj.startswith(f"{resource_type} ")

    def test_message_reads_object_field_reason(self, graph: Graph) -> None:
        body = changed(graph, "internet_gateway", vlan_id="5000")
        with pytest.raises(ValidationError) as err:
            resources.validate("internet_gateway", body, graph)
        assert str(err.value) == f"internet_gateway {GW}: vlan_id 5000 is outside 1-4094"

    def test_object_named_by_name_without_a_valid_id(self, graph: Graph) -> None:
        body = changed(graph, "internet_gateway", id="nope")
        with pytest.raises(ValidationError) as err:
            resources.validate("internet_gateway", body, graph)
        assert err.value.obj == "internet_gateway sample-internet-gateway"

    def test_qos_option_of_another_service(self, graph: Graph) -> None:
        graph.bodies[("qos_option", QOS)]["internet_service_id"] = UNKNOWN
        graph.bodies[("internet_service", UNKNOWN)] = changed(graph, "internet_service", id=UNKNOWN)
        body = changed(graph, "internet_gateway")
        with pytest.raises(ValidationError, match="belongs to another internet_service") as err:
            resources.validate("internet_gateway", body, graph)
        assert err.value.field == "qos_option_id"

    def test_downlink_not_offered_by_the_service(self, graph: Graph) -> None:
        graph.bodies[("internet_service", SVC)]["downlink_interfaces"] = []
        with pytest.raises(ValidationError, match="is not among the downlink_interfaces") as err:
            resources.validate("internet_gateway", changed(graph, "internet_gateway"), graph)
        assert err.value.field == "downlink_interface_id"

    def test_body_must_be_an_object(self, graph: Graph) -> None:
        with pytest.raises(ValidationError) as err:
            resources.validate("internet_gateway", ["not", "a", "body"], graph)
        assert (err.value.obj, err.value.field) == ("internet_gateway", "body")

    def test_unknown_type(self, graph: Graph) -> None:
        with pytest.raises(ValidationError, match="is not a known resource type"):
            resources.validate("router", {}, graph)


def test_a_valid_vrf_config_is_accepted(graph: Graph) -> None:
    text = "routing-options { static { route 0.0.0.0/0 next-hop 192.0.2.1; } }"
    body = resources.validate(
        "internet_service", changed(graph, "internet_service", vrf_config=text), graph
    )
    assert body["vrf_config"] == text
