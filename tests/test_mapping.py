"""Parameter mappings reproduce the params of every captured job, provenance included."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from nornir_esi.contract import mapping
from nornir_esi.contract.records import ResourceRef
from nornir_esi.exceptions import ValidationError
from tests.origin import Graph, config_bodies, scenario_steps, strict, template_records

GW = "429e24b5-a2f0-4fb8-b467-e335857e9476"
HAI = "1205d3f2-7568-412a-a554-012340ab3172"
HAR = "d4286c1d-86e7-42d3-9d84-a4d9daa3ae17"
ER1 = "9b82b55a-551e-4069-ae77-c972e30ab0cc"
SVC = "848e04de-733d-4f98-8971-bdb3b83e0296"
QOS = "e25f6309-c384-446e-bdc1-5241cb14890b"
UNKNOWN = "00000000-0000-4000-8000-000000000000"

JOBS = [s["value"] for s in scenario_steps() if s["key"].startswith("/jobs/all/")]


def template_for(handler: str, resource_type: str) -> dict[str, Any]:
    """The original named a type's templates ``<type>`` (heat) and ``<type>_monitoring``."""
    template_id = resource_type if handler == "heat_worker" else f"{resource_type}_monitoring"
    body: dict[str, Any] = template_records()[template_id]["value"]["body"]
    return body


@pytest.fixture
def graph() -> Graph:
    return Graph(copy.deepcopy(config_bodies()))


def gateway(graph: Graph) -> dict[str, Any]:
    return graph.bodies[("internet_gateway", GW)]


def one(
    graph: Graph, expr: Any, resource_type: str = "internet_gateway", body: Any = None
) -> tuple[Any, list[ResourceRef]]:
    body = gateway(graph) if body is None else body
    (param,) = mapping.evaluate({"p": expr}, resource_type, body, graph)
    return param.value, param.resources


class TestCapturedJobs:
    def test_all_eight_jobs_are_covered(self) -> None:
        kinds = sorted((job[1]["resource_type"], job[0]) for job in JOBS)
        assert kinds == [
            ("edge_router", "monitoring_worker"),
            ("edge_router", "monitoring_worker"),
            ("er_physical_interface", "monitoring_worker"),
            ("er_physical_interface", "monitoring_worker"),
            ("ha_interface", "monitoring_worker"),
            ("ha_router", "monitoring_worker"),
            ("internet_gateway", "heat_worker"),
            ("internet_gateway", "monitoring_worker"),
        ]

    @pytest.mark.parametrize("entry", JOBS, ids=[job[1]["id"].rsplit(":", 1)[0] for job in JOBS])
    def test_params_are_reproduced_exactly(self, graph: Graph, entry: list[Any]) -> None:
        handler, job, _ = entry
        template = template_for(handler, job["resource_type"])
        params = mapping.evaluate(
            template["parameter_mappings"], job["resource_type"], job["resource_input"], graph
        )
        # strict(): values keep their JSON types (830, "1025", "60", null), order kept.
        assert [strict(p.to_value()) for p in params] == [strict(p) for p in job["params"]]


class TestNotations:
    def test_compact_and_structured_agree(self, graph: Graph) -> None:
        pairs = [
            ("Pvlan_id", {"field": "vlan_id"}),
            ("C60", {"constant": "60"}),
            (
                "Fha_interface+downlink_interface_id:ha_router+ha_router_id:"
                "edge_router+primary_router_id:ssh_port",
                {
                    "field": "ssh_port",
                    "path": ["downlink_interface_id", "ha_router_id", "primary_router_id"],
                },
            ),
            (
                "ACFILTER_&Fqos_option+qos_option_id:incoming_policer_name",
                {
                    "concatenate": [
                        {"constant": "FILTER_"},
                        {"field": "incoming_policer_name", "path": ["qos_option_id"]},
                    ]
                },
            ),
        ]
        for compact, structured in pairs:
            assert strict(one(graph, compact)[0]) == strict(one(graph, structured)[0])
            assert one(graph, compact)[1] == one(graph, structured)[1]

    def test_structured_constant_keeps_its_type(self, graph: Graph) -> None:
        assert one(graph, {"constant": 60}) == (60, [])
        assert one(graph, {"constant": ["a", 1]}) == (["a", 1], [])

    def test_concatenation_of_references_is_their_union_in_order(self, graph: Graph) -> None:
        value, refs = one(
            graph,
            "AFqos_option+qos_option_id:outgoing_policer_name&C-"
            "&Finternet_service+internet_service_id:inet_in_filter"
            "&Fqos_option+qos_option_id:incoming_policer_name",
        )
        assert value == "10M-GA-DOWN-INET-INET_IN10M-GA-UP-INET"
        assert refs == [ResourceRef("qos_option", QOS), ResourceRef("internet_service", SVC)]

    def test_concatenation_turns_numbers_into_text(self, graph: Graph) -> None:
        value, refs = one(
            graph, {"concatenate": [{"field": "maximum_static_routes"}, {"constant": "_routes"}]}
        )
        assert (value, refs) == ("32_routes", [])

    def test_own_list_of_references(self, graph: Graph) -> None:
        service = graph.bodies[("internet_service", SVC)]
        value, refs = one(graph, "Pdownlink_interfaces", "internet_service", service)
        assert value == [HAI]
        assert refs == [ResourceRef("ha_interface", HAI)]

    def test_path_ending_on_a_reference_includes_its_target(self, graph: Graph) -> None:
        value, refs = one(graph, {"field": "ha_router_id", "path": ["downlink_interface_id"]})
        assert value == HAR
        assert refs == [ResourceRef("ha_interface", HAI), ResourceRef("ha_router", HAR)]

    def test_missing_optional_reference_in_a_path(self, graph: Graph) -> None:
        value, refs = one(graph, {"field": "link_type", "path": ["associated_uplink_id"]})
        assert (value, refs) == (None, [])
        value, refs = one(graph, "Fha_interface+associated_uplink_id:link_type")
        assert (value, refs) == (None, [])

    def test_ignore_missing_turns_a_broken_reference_into_null(self, graph: Graph) -> None:
        gateway(graph)["qos_option_id"] = UNKNOWN
        expr = {"field": "incoming_policer_name", "path": ["qos_option_id"], "ignore_missing": True}
        assert one(graph, expr) == (None, [])


BROKEN = [
    # (mapping, reason substring)
    ("Pvlan", "internet_gateway has no field 'vlan'"),
    ({"field": "vlan"}, "internet_gateway has no field 'vlan'"),
    ("Fqos_option+qos_option_id:policer", "qos_option has no field 'policer'"),
    ("Fha_router+qos_option_id:name", "internet_gateway.qos_option_id refers to qos_option"),
    ("Fqos_option+vrf_name:name", "internet_gateway.vrf_name is not a reference"),
    ("Fqos_option+nope:name", "internet_gateway has no field nope"),
    ("Fqos_option-qos_option_id:name", "is not <type>+<foreign key>"),
    ({"field": "name", "path": ["vlan_id"]}, "internet_gateway.vlan_id is not a reference"),
    ("Xvlan_id", "starts with P, C, F or A"),
    ("", "starts with P, C, F or A"),
    ("APvrf_name&", "empty part"),
    (17, "must be a string or an object"),
    ({"if_mapping": {}}, "if_mapping is not supported"),
    ({"output_key": "x", "path": ["qos_option_id"]}, "output_key is not supported"),
    ({"field": "name", "constant": 1}, "exactly one of field, constant, concatenate"),
    ({"constant": 1, "path": ["qos_option_id"]}, "path goes only with field"),
    ({"field": "name", "extra": 1}, "unknown key 'extra'"),
    ({"concatenate": []}, "non-empty list"),
    ({"field": "name", "ignore_missing": "yes"}, "ignore_missing must be true or false"),
    ({"concatenate": [{"field": "associated_uplink_id"}]}, "part 1 has no value"),
    ({"concatenate": [{"constant": True}]}, "part 1 is a bool"),
]


class TestBrokenMappings:
    @pytest.mark.parametrize(("expr", "reason"), BROKEN, ids=[r for _, r in BROKEN])
    def test_error_names_param_and_mapping(self, graph: Graph, expr: Any, reason: str) -> None:
        with pytest.raises(ValidationError) as err:
            one(graph, expr)
        assert err.value.obj == f"internet_gateway {GW}"
        assert err.value.field == "p"
        assert err.value.reason.startswith("mapping ")
        assert reason in err.value.reason

    def test_broken_reference(self, graph: Graph) -> None:
        gateway(graph)["qos_option_id"] = UNKNOWN
        with pytest.raises(ValidationError) as err:
            mapping.evaluate(
                {"input_filter_name": "ACFILTER_&Fqos_option+qos_option_id:incoming_policer_name"},
                "internet_gateway",
                gateway(graph),
                graph,
            )
        assert err.value.field == "input_filter_name"
        assert f"references qos_option {UNKNOWN}, which does not exist" in str(err.value)
        assert "ACFILTER_&Fqos_option+qos_option_id:incoming_policer_name" in str(err.value)

    def test_broken_reference_mid_path(self, graph: Graph) -> None:
        del graph.bodies[("ha_router", HAR)]
        template = template_for("heat_worker", "internet_gateway")
        with pytest.raises(
            ValidationError, match=r"ha_interface\.ha_router_id references ha_router"
        ):
            mapping.evaluate(
                template["parameter_mappings"], "internet_gateway", gateway(graph), graph
            )

    def test_own_reference_that_is_broken(self, graph: Graph) -> None:
        gateway(graph)["downlink_interface_id"] = UNKNOWN
        with pytest.raises(ValidationError, match="which does not exist"):
            one(graph, {"field": "downlink_interface_id"})

    def test_missing_required_field(self, graph: Graph) -> None:
        del gateway(graph)["vrf_name"]
        with pytest.raises(ValidationError, match=r"internet_gateway\.vrf_name is missing"):
            one(graph, "Pvrf_name")

    def test_list_reference_cannot_be_walked(self, graph: Graph) -> None:
        service = graph.bodies[("internet_service", SVC)]
        with pytest.raises(ValidationError, match="a path cannot follow"):
            one(
                graph,
                {"field": "name", "path": ["downlink_interfaces"]},
                "internet_service",
                service,
            )

    def test_unknown_resource_type(self, graph: Graph) -> None:
        with pytest.raises(ValidationError, match="is not a known resource type"):
            mapping.evaluate({"p": "C1"}, "router", {}, graph)

    def test_edge_router_jobs_do_not_touch_the_graph(self) -> None:
        def no_lookup(resource_type: str, resource_id: str) -> None:
            raise AssertionError("an own plain field needs no lookup")

        body = config_bodies()[("edge_router", ER1)]
        template = template_for("monitoring_worker", "edge_router")
        params = mapping.evaluate(template["parameter_mappings"], "edge_router", body, no_lookup)
        assert [p.value for p in params] == ["EDGE_ROUTER_COMMUNITY", "10.79.5.185"]
