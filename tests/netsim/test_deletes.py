"""A delete takes the containers it empties with it, as Junos shows no empty container."""

from __future__ import annotations

import pytest
from lxml import etree

from nornir_esi.netsim.server import Simulator

from .conftest import connect

VRF = "vrf_x"
GATEWAY = f"""\
set interfaces ae0 unit 1025 vlan-id 1025
set interfaces ae0 unit 1025 family inet address 172.16.101.152/24
set routing-instances {VRF} instance-type virtual-router
set routing-instances {VRF} interface ae0.1025
set routing-instances {VRF} routing-options instance-import INSTANCE-USER_IN
set routing-instances {VRF} routing-options static route 203.0.112.0/28 next-hop 172.16.101.1
set routing-instances {VRF} protocols bgp group inet-gw-group apply-groups InetGW1-RI-IBGP
set routing-instances {VRF} protocols bgp group inet-gw-group local-address 172.16.101.152
set routing-instances {VRF} protocols bgp group inet-gw-group neighbor 172.16.101.153
"""


def _xml(reply: object) -> etree._Element:
    raw = getattr(reply, "xml", None) or str(reply)
    return etree.fromstring(raw.encode())


def _running_text(m: object) -> str:
    """The committed configuration as text, from ``system`` on: the groups left out."""
    reply = m.rpc('<get-configuration database="committed" format="text"/>')  # type: ignore[attr-defined]
    text = _xml(reply).findtext(".//{*}configuration-text") or ""
    return text[text.index("\nsystem {") :]


def _diff(m: object) -> str:
    reply = m.compare_configuration(rollback=0)  # type: ignore[attr-defined]
    return _xml(reply).findtext(".//{*}configuration-output") or ""


def _instance(name: str, body: str) -> str:
    """An edit-config payload for routing instance ``name``."""
    return (
        '<config><configuration xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0">'
        f"<routing-instances><instance><name>{name}</name>{body}</instance>"
        "</routing-instances></configuration></config>"
    )


def _delete(m: object, how: str, set_command: str, xml: str) -> None:
    if how == "set":
        m.load_configuration(action="set", config=set_command)  # type: ignore[attr-defined]
    else:
        m.edit_config(target="candidate", config=xml)  # type: ignore[attr-defined]


HOW = pytest.mark.parametrize("how", ["set", "netconf"])


@HOW
def test_deleting_the_last_bgp_group_leaves_no_protocols(routers: Simulator, how: str) -> None:
    with connect(routers, "MX-2", junos=True) as m:
        m.load_configuration(action="set", config=GATEWAY)
        m.commit()
        _delete(
            m,
            how,
            f"delete routing-instances {VRF} protocols bgp group inet-gw-group",
            _instance(
                VRF,
                '<protocols><bgp><group nc:operation="delete"><name>inet-gw-group</name>'
                "</group></bgp></protocols>",
            ),
        )
        assert _diff(m) == (
            f"[edit routing-instances {VRF}]\n"
            "-   protocols {\n"
            "-       bgp {\n"
            "-           group inet-gw-group {\n"
            "-               apply-groups InetGW1-RI-IBGP;\n"
            "-               local-address 172.16.101.152;\n"
            "-               neighbor 172.16.101.153;\n"
            "-           }\n"
            "-       }\n"
            "-   }\n"
        )
        m.commit()
        instance = _running_text(m).split(f"\n    {VRF} {{\n", 1)[1]
        assert instance.startswith("        instance-type virtual-router;\n")
        assert "protocols" not in instance and "bgp" not in instance


@HOW
def test_deleting_the_last_static_route_leaves_no_static(routers: Simulator, how: str) -> None:
    with connect(routers, "MX-2", junos=True) as m:
        m.load_configuration(action="set", config=GATEWAY)
        m.commit()
        _delete(
            m,
            how,
            f"delete routing-instances {VRF} routing-options static route 203.0.112.0/28",
            _instance(
                VRF,
                '<routing-options><static><route nc:operation="remove"><name>203.0.112.0/28</name>'
                "</route></static></routing-options>",
            ),
        )
        assert _diff(m) == (
            f"[edit routing-instances {VRF} routing-options]\n"
            "-   static {\n"
            "-       route 203.0.112.0/28 next-hop 172.16.101.1;\n"
            "-   }\n"
        )
        m.commit()
        text = _running_text(m)
        assert "static" not in text
        assert "routing-options {\n            instance-import INSTANCE-USER_IN;\n" in text


@HOW
def test_deleting_the_last_routing_instance_leaves_no_routing_instances(
    routers: Simulator, how: str
) -> None:
    with connect(routers, "MX-1", junos=True) as m:  # day-0 has one instance: UPLINK
        _delete(
            m,
            how,
            "delete routing-instances UPLINK",
            '<config><configuration xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0">'
            '<routing-instances><instance nc:operation="delete"><name>UPLINK</name></instance>'
            "</routing-instances></configuration></config>",
        )
        assert _diff(m) == (
            "[edit]\n"
            "-   routing-instances {\n"
            "-       UPLINK {\n"
            "-           instance-type virtual-router;\n"
            "-           interface ae1.100;\n"
            "-           routing-options {\n"
            "-               instance-import INSTANCE-USER_IN;\n"
            "-               instance-export INSTANCE-USER_OUT;\n"
            "-           }\n"
            "-       }\n"
            "-   }\n"
        )
        m.commit()
        assert "routing-instances" not in _running_text(m)


def test_a_delete_and_an_add_in_one_edit_keep_the_container(routers: Simulator) -> None:
    with connect(routers, "MX-1", junos=True) as m:
        m.edit_config(
            target="candidate",
            config='<config><configuration xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0">'
            '<routing-instances><instance nc:operation="delete"><name>UPLINK</name></instance>'
            "<instance><name>OTHER</name><instance-type>virtual-router</instance-type>"
            "</instance></routing-instances></configuration></config>",
        )
        m.commit()
        assert "routing-instances {\n    OTHER {\n        instance-type virtual-router;" in (
            _running_text(m)
        )


def test_flags_and_presence_statements_stay(routers: Simulator) -> None:
    with connect(routers, "MX-1", junos=True) as m:
        m.load_configuration(
            action="set",
            config="delete interfaces ae1 unit 100 family inet address 192.0.2.2/30\n"
            "delete routing-instances UPLINK interface ae1.100\n"
            "delete interfaces ae1 aggregated-ether-options lacp active\n",
        )
        m.commit()
        text = _running_text(m)
        assert "unit 100 {\n            description uplink;\n            vlan-id 100;\n" in text
        assert "            family inet;\n" in text  # enables IPv4 on the unit by itself
        assert "aggregated-ether-options {\n            lacp;\n" in text
        assert "services {\n        ssh;\n" in text
