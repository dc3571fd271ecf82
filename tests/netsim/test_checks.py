"""Commit checks: a valid configuration passes, each broken rule fails like Junos."""

from __future__ import annotations

from importlib.resources import files

import pytest
from lxml import etree

from nornir_esi.exceptions import NetsimRpcError
from nornir_esi.junos import tree
from nornir_esi.junos.text import parse_text
from nornir_esi.netsim.checks import check

# day0.conf in XML.
DAY0 = """
<configuration>
  <version>21.4R3-S5.4</version>
  <groups><name>InetGW1-VRRP</name>
    <interfaces><interface><name>&lt;*&gt;</name><unit><name>&lt;*&gt;</name>
      <family><inet><address><name>&lt;*&gt;</name>
        <vrrp-group><name>&lt;*&gt;</name><fast-interval>10000</fast-interval>
          <preempt><hold-time>180</hold-time></preempt><accept-data/></vrrp-group>
      </address></inet></family>
    </unit></interface></interfaces>
  </groups>
  <groups><name>InetGW2-VRRP</name>
    <interfaces><interface><name>&lt;*&gt;</name><unit><name>&lt;*&gt;</name>
      <family><inet><address><name>&lt;*&gt;</name>
        <vrrp-group><name>&lt;*&gt;</name><fast-interval>10000</fast-interval>
          <preempt><hold-time>180</hold-time></preempt><accept-data/></vrrp-group>
      </address></inet></family>
    </unit></interface></interfaces>
  </groups>
  <groups><name>InetGW1-RI-IBGP</name>
    <routing-instances><instance><name>&lt;*&gt;</name>
      <protocols><bgp><log-updown/>
        <group><name>&lt;*&gt;</name><type>internal</type><peer-as>65101</peer-as>
          <neighbor><name>&lt;*&gt;</name><hold-time>30</hold-time>
            <import>BGP-InetGW1-RI_IN</import><export>BGP-InetGW1-RI_OUT</export></neighbor>
        </group>
      </bgp></protocols>
    </instance></routing-instances>
  </groups>
  <groups><name>InetGW2-RI-IBGP</name>
    <routing-instances><instance><name>&lt;*&gt;</name>
      <protocols><bgp><log-updown/>
        <group><name>&lt;*&gt;</name><type>internal</type><peer-as>65101</peer-as>
          <neighbor><name>&lt;*&gt;</name><hold-time>30</hold-time>
            <import>BGP-InetGW2-RI_IN</import><export>BGP-InetGW2-RI_OUT</export></neighbor>
        </group>
      </bgp></protocols>
    </instance></routing-instances>
  </groups>
  <system><services><ssh/><netconf><ssh><port>830</port></ssh></netconf></services></system>
  <chassis><aggregated-devices><ethernet><device-count>4</device-count></ethernet></aggregated-devices></chassis>
  <interfaces>
    <interface><name>ae0</name><description>downlink</description><flexible-vlan-tagging/>
      <encapsulation>flexible-ethernet-services</encapsulation>
      <aggregated-ether-options><lacp><active/></lacp></aggregated-ether-options>
    </interface>
    <interface><name>ae1</name><description>uplink</description><flexible-vlan-tagging/>
      <encapsulation>flexible-ethernet-services</encapsulation>
      <aggregated-ether-options><lacp><active/></lacp></aggregated-ether-options>
      <unit><name>100</name><description>uplink</description><vlan-id>100</vlan-id>
        <family><inet><address><name>192.0.2.2/30</name></address></inet></family>
      </unit>
    </interface>
  </interfaces>
  <routing-options><autonomous-system><as-number>65101</as-number></autonomous-system></routing-options>
  <protocols><vrrp><version-3/></vrrp></protocols>
  <policy-options>
    <prefix-list><name>BGP-VIRTUAL-ROUTER-PEERS</name><prefix-list-item><name>100.64.0.0/10</name></prefix-list-item></prefix-list>
    <policy-statement><name>INSTANCE-USER_IN</name><term><name>default</name><then><accept/></then></term></policy-statement>
    <policy-statement><name>INSTANCE-USER_OUT</name><term><name>default</name><then><accept/></then></term></policy-statement>
    <policy-statement><name>BGP-InetGW1-RI_IN</name><term><name>accept-all</name><then><accept/></then></term></policy-statement>
    <policy-statement><name>BGP-InetGW1-RI_OUT</name><term><name>default</name>
      <from><route-filter><address>0.0.0.0/0</address><exact/></route-filter></from>
      <then><next-hop>self</next-hop><accept/></then></term></policy-statement>
    <policy-statement><name>BGP-InetGW2-RI_IN</name><term><name>accept-all</name><then><accept/></then></term></policy-statement>
    <policy-statement><name>BGP-InetGW2-RI_OUT</name><term><name>default</name>
      <from><route-filter><address>0.0.0.0/0</address><exact/></route-filter></from>
      <then><next-hop>self</next-hop><accept/></then></term></policy-statement>
  </policy-options>
  <firewall>
    <family><inet>
      <filter><name>INET_IN</name><term><name>all-accept</name><then><accept/></then></term></filter>
      <filter><name>INET_OUT</name><term><name>all-accept</name><then><accept/></then></term></filter>
      <filter><name>FILTER_10M-GA-UP-INET</name>
        <term><name>all</name><then><policer>10M-GA-UP-INET</policer><accept/></then></term></filter>
      <filter><name>FILTER_10M-GA-DOWN-INET</name>
        <term><name>all</name><then><policer>10M-GA-DOWN-INET</policer><accept/></then></term></filter>
      <filter><name>FILTER_20M-GA-UP-INET</name>
        <term><name>all</name><then><policer>20M-GA-UP-INET</policer><accept/></then></term></filter>
      <filter><name>FILTER_20M-GA-DOWN-INET</name>
        <term><name>all</name><then><policer>20M-GA-DOWN-INET</policer><accept/></then></term></filter>
    </inet></family>
    <policer><name>10M-GA-UP-INET</name>
      <if-exceeding><bandwidth-limit>10m</bandwidth-limit><burst-size-limit>187500000</burst-size-limit></if-exceeding>
      <then><discard/></then></policer>
    <policer><name>10M-GA-DOWN-INET</name>
      <if-exceeding><bandwidth-limit>10m</bandwidth-limit><burst-size-limit>187500000</burst-size-limit></if-exceeding>
      <then><discard/></then></policer>
    <policer><name>20M-GA-UP-INET</name>
      <if-exceeding><bandwidth-limit>20m</bandwidth-limit><burst-size-limit>375000000</burst-size-limit></if-exceeding>
      <then><discard/></then></policer>
    <policer><name>20M-GA-DOWN-INET</name>
      <if-exceeding><bandwidth-limit>20m</bandwidth-limit><burst-size-limit>375000000</burst-size-limit></if-exceeding>
      <then><discard/></then></policer>
  </firewall>
  <routing-instances>
    <instance><name>UPLINK</name><instance-type>virtual-router</instance-type>
      <interface><name>ae1.100</name></interface>
      <routing-options><instance-import>INSTANCE-USER_IN</instance-import>
        <instance-export>INSTANCE-USER_OUT</instance-export></routing-options>
    </instance>
  </routing-instances>
</configuration>
"""

# What a gateway adds to day 0: a customer unit with VRRP, filters, a VRF with BGP.
GATEWAY = """
<configuration>
  <interfaces>
    <interface><name>ae0</name>
      <unit><name>1025</name><apply-groups>InetGW1-VRRP</apply-groups><vlan-id>1025</vlan-id>
        <family><inet>
          <filter><input><filter-name>GW-1025-IN</filter-name></input>
            <output><filter-name>FILTER_10M-GA-DOWN-INET</filter-name></output></filter>
          <address><name>198.51.100.2/24</name>
            <vrrp-group><name>1</name><virtual-address>198.51.100.1</virtual-address></vrrp-group>
          </address>
        </inet></family>
      </unit>
      <unit><name>1026</name><vlan-id>1026</vlan-id></unit>
    </interface>
  </interfaces>
  <policy-options>
    <prefix-list><name>GW-1025-NETS</name><prefix-list-item><name>198.51.100.0/24</name></prefix-list-item></prefix-list>
    <policy-statement><name>GW-1025-EXPORT</name>
      <term><name>nets</name><from><prefix-list><name>GW-1025-NETS</name></prefix-list></from><then><accept/></then></term>
    </policy-statement>
  </policy-options>
  <firewall><family><inet>
    <filter><name>GW-1025-IN</name>
      <term><name>peers</name><from><source-prefix-list><name>BGP-VIRTUAL-ROUTER-PEERS</name></source-prefix-list></from>
        <then><count>peers</count><accept/></then></term>
      <term><name>rest</name><then><count>rest</count><policer>10M-GA-UP-INET</policer><accept/></then></term>
    </filter>
  </inet></family></firewall>
  <routing-instances>
    <instance><name>GW-1025</name><instance-type>vrf</instance-type>
      <interface><name>ae0.1025</name></interface>
      <vrf-import>INSTANCE-USER_IN</vrf-import><vrf-export>GW-1025-EXPORT</vrf-export>
      <protocols><bgp><group><name>peers</name><export>GW-1025-EXPORT</export>
        <neighbor><name>198.51.100.10</name><import>INSTANCE-USER_IN</import></neighbor>
      </group></bgp></protocols>
    </instance>
  </routing-instances>
</configuration>
"""


def xml(text: str) -> etree._Element:
    return tree.strip(etree.fromstring(text))


def day0() -> etree._Element:
    return xml(DAY0)


def gateway() -> etree._Element:
    return tree.load(day0(), xml(GATEWAY), action="merge")


def with_(config: etree._Element, fragment: str) -> etree._Element:
    return tree.load(config, xml(f"<configuration>{fragment}</configuration>"), action="merge")


def only_error(config: etree._Element) -> NetsimRpcError:
    errors = check(config)
    assert len(errors) == 1, [e.message for e in errors]
    error = errors[0]
    assert error.tag == "operation-failed"
    assert error.error_type == "protocol"
    assert error.severity == "error"
    return error


def test_day0_passes() -> None:
    assert check(day0()) == []


def test_day0_conf_text_is_the_day0_tree_and_passes() -> None:
    parsed = parse_text(files("nornir_esi.netsim").joinpath("day0.conf").read_text())
    assert tree.canonical_bytes(parsed) == tree.canonical_bytes(day0())
    assert check(parsed) == []


def test_gateway_passes() -> None:
    assert check(gateway()) == []


def test_groups_subtree_is_not_checked() -> None:
    config = with_(
        day0(),
        "<groups><name>G</name><interfaces><interface><name>&lt;*&gt;</name><unit><name>&lt;*&gt;</name>"
        "<family><inet><filter><input><filter-name>NOPE</filter-name></input></filter></inet></family>"
        "</unit></interface></interfaces></groups>",
    )
    assert check(config) == []


def unit_fragment(body: str, unit: str = "1025", ifd: str = "ae0") -> str:
    return (
        f"<interfaces><interface><name>{ifd}</name><unit><name>{unit}</name>{body}"
        "</unit></interface></interfaces>"
    )


@pytest.mark.parametrize("direction", ["input", "output"])
@pytest.mark.parametrize("family", ["inet", "inet6"])
def test_undefined_filter(direction: str, family: str) -> None:
    config = with_(
        gateway(),
        unit_fragment(
            f"<family><{family}><filter><{direction}><filter-name>NOPE</filter-name>"
            f"</{direction}></filter></{family}></family>",
            unit="1026",
        ),
    )
    error = only_error(config)
    assert error.message == "Referenced filter 'NOPE' is not defined"
    assert error.path == f"[edit interfaces ae0 unit 1026 family {family} filter]"
    assert error.bad_element == direction


def test_inet6_filter_must_be_an_inet6_filter() -> None:
    config = with_(
        gateway(),
        unit_fragment(
            "<family><inet6><filter><input><filter-name>INET_IN</filter-name></input></filter>"
            "</inet6></family>",
            unit="1026",
        ),
    )
    assert only_error(config).message == "Referenced filter 'INET_IN' is not defined"


def test_family_less_firewall_filter_satisfies_reference() -> None:
    config = with_(
        gateway(),
        unit_fragment(
            "<family><inet6><filter><input><filter-name>ANY</filter-name></input></filter>"
            "</inet6></family>",
            unit="1026",
        )
        + "<firewall><filter><name>ANY</name><term><name>t</name><then><accept/></then></term>"
        "</filter></firewall>",
    )
    assert check(config) == []


def test_undefined_group_top_level_and_nested() -> None:
    config = with_(
        gateway(),
        "<apply-groups>TOP</apply-groups>" + unit_fragment("<apply-groups>NESTED</apply-groups>"),
    )
    errors = check(config)
    assert [(e.message, e.path, e.bad_element) for e in errors] == [
        ("apply-groups: group 'TOP' is not defined", "[edit]", "TOP"),
        (
            "apply-groups: group 'NESTED' is not defined",
            "[edit interfaces ae0 unit 1025]",
            "NESTED",
        ),
    ]


@pytest.mark.parametrize(
    ("fragment", "path"),
    [
        (
            "<routing-options><instance-export>NOPE</instance-export></routing-options>",
            "[edit routing-options]",
        ),
        (
            "<routing-instances><instance><name>GW-1025</name><routing-options>"
            "<instance-import>NOPE</instance-import></routing-options></instance></routing-instances>",
            "[edit routing-instances GW-1025 routing-options]",
        ),
        (
            "<routing-instances><instance><name>GW-1025</name>"
            "<vrf-import>NOPE</vrf-import></instance></routing-instances>",
            "[edit routing-instances GW-1025]",
        ),
        (
            "<routing-instances><instance><name>GW-1025</name><protocols><bgp><group><name>peers</name>"
            "<import>NOPE</import></group></bgp></protocols></instance></routing-instances>",
            "[edit routing-instances GW-1025 protocols bgp group peers]",
        ),
        (
            "<protocols><bgp><group><name>g</name><neighbor><name>192.0.2.1</name>"
            "<export>NOPE</export></neighbor></group></bgp></protocols>",
            "[edit protocols bgp group g neighbor 192.0.2.1]",
        ),
    ],
)
def test_undefined_policy(fragment: str, path: str) -> None:
    error = only_error(with_(gateway(), fragment))
    assert error.message == "Policy error: Policy NOPE referenced but not defined"
    assert error.path == path
    assert error.bad_element == "NOPE"


@pytest.mark.parametrize(
    ("fragment", "path"),
    [
        (
            "<firewall><family><inet><filter><name>INET_IN</name><term><name>t</name><from>"
            "<destination-prefix-list><name>NOPE</name></destination-prefix-list>"
            "</from></term></filter></inet></family></firewall>",
            "[edit firewall family inet filter INET_IN term t from]",
        ),
        (
            "<firewall><filter><name>F</name><term><name>t</name><from>"
            "<prefix-list><name>NOPE</name></prefix-list></from></term></filter></firewall>",
            "[edit firewall filter F term t from]",
        ),
        (
            "<policy-options><policy-statement><name>GW-1025-EXPORT</name><term><name>x</name><from>"
            "<prefix-list><name>NOPE</name></prefix-list></from></term></policy-statement></policy-options>",
            "[edit policy-options policy-statement GW-1025-EXPORT term x from]",
        ),
    ],
)
def test_undefined_prefix_list(fragment: str, path: str) -> None:
    error = only_error(with_(gateway(), fragment))
    assert error.message == "Referenced prefix-list 'NOPE' is not defined"
    assert error.path == path
    assert error.bad_element == "NOPE"


def test_undefined_policer() -> None:
    config = with_(
        gateway(),
        "<firewall><family><inet><filter><name>INET_OUT</name><term><name>all-accept</name>"
        "<then><policer>NOPE</policer></then></term></filter></inet></family></firewall>",
    )
    error = only_error(config)
    assert error.message == "Referenced policer 'NOPE' is not defined"
    assert error.path == "[edit firewall family inet filter INET_OUT term all-accept then]"
    assert error.bad_element == "NOPE"


def test_routing_instance_interface_must_exist() -> None:
    config = with_(
        gateway(),
        "<routing-instances><instance><name>GW-1025</name>"
        "<interface><name>ae0.2000</name></interface></instance></routing-instances>",
    )
    error = only_error(config)
    assert error.message == "Referenced interface 'ae0.2000' is not defined"
    assert error.path == "[edit routing-instances GW-1025]"
    assert error.bad_element == "ae0.2000"


def test_interface_in_two_routing_instances() -> None:
    config = with_(
        gateway(),
        "<routing-instances><instance><name>OTHER</name>"
        "<interface><name>ae0.1025</name></interface></instance></routing-instances>",
    )
    error = only_error(config)
    assert error.message == "Interface ae0.1025 is already in routing instance GW-1025"
    assert error.path == "[edit routing-instances OTHER]"


def test_duplicate_vlan_id() -> None:
    config = with_(gateway(), unit_fragment("<vlan-id>1025</vlan-id>", unit="2000"))
    error = only_error(config)
    assert error.message == "Duplicate vlan-id 1025 on interface ae0 (units 1025 and 2000)"
    assert error.path == "[edit interfaces ae0 unit 2000]"
    assert error.bad_element == "vlan-id"


def test_same_vlan_id_on_another_interface_is_fine() -> None:
    assert check(with_(gateway(), unit_fragment("<vlan-id>1025</vlan-id>", ifd="ae1"))) == []


@pytest.mark.parametrize("vlan", ["0", "4095", "5000", "x"])
def test_vlan_id_out_of_range(vlan: str) -> None:
    error = only_error(with_(gateway(), unit_fragment(f"<vlan-id>{vlan}</vlan-id>", unit="2000")))
    assert error.message == f"vlan-id {vlan} is outside 1-4094"
    assert error.path == "[edit interfaces ae0 unit 2000]"


def test_duplicate_counter_name_in_a_filter() -> None:
    config = with_(
        gateway(),
        "<firewall><family><inet><filter><name>GW-1025-IN</name><term><name>more</name>"
        "<then><count>peers</count><accept/></then></term></filter></inet></family></firewall>",
    )
    error = only_error(config)
    assert error.message == "duplicate counter name peers"
    assert error.path == "[edit firewall family inet filter GW-1025-IN term more then]"
    assert error.bad_element == "peers"


def test_same_counter_name_in_another_filter_is_fine() -> None:
    config = with_(
        gateway(),
        "<firewall><family><inet><filter><name>INET_IN</name><term><name>all-accept</name>"
        "<then><count>peers</count></then></term></filter></inet></family></firewall>",
    )
    assert check(config) == []


def test_inactive_statements_are_not_checked() -> None:
    config = with_(
        gateway(),
        '<apply-groups inactive="inactive">NOPE</apply-groups>'
        "<routing-options><instance-export>NOPE</instance-export></routing-options>",
    )
    assert len(check(config)) == 1
    config = with_(config, '<routing-options inactive="inactive"/>')
    assert check(config) == []


def test_errors_come_in_document_order() -> None:
    config = with_(
        gateway(),
        "<apply-groups>NOPE</apply-groups>"
        + unit_fragment("<vlan-id>9999</vlan-id>", unit="2000")
        + "<routing-instances><instance><name>GW-1025</name><vrf-export>NOPE</vrf-export>"
        "</instance></routing-instances>",
    )
    assert [e.message.split()[0] for e in check(config)] == ["apply-groups:", "vlan-id", "Policy"]


IBGP = (
    "<routing-instances><instance><name>GW-1025</name><protocols><bgp><group>"
    "<name>inet-gw-group</name><apply-groups>InetGW1-RI-IBGP</apply-groups>"
    "<local-address>198.51.100.2</local-address><neighbor><name>198.51.100.3</name></neighbor>"
    "</group></bgp></protocols></instance></routing-instances>"
)


def test_applied_group_is_checked_where_it_is_applied() -> None:
    assert check(with_(gateway(), IBGP)) == []
    config = with_(gateway(), IBGP)
    policies = config.find("policy-options")
    assert policies is not None
    for policy in policies.findall("policy-statement"):
        if policy.findtext("name") == "BGP-InetGW1-RI_IN":
            policies.remove(policy)
    error = only_error(config)
    assert error.message == "Policy error: Policy BGP-InetGW1-RI_IN referenced but not defined"
    assert error.path == (
        "[edit routing-instances GW-1025 protocols bgp group inet-gw-group neighbor 198.51.100.3]"
    )


def test_undefined_group_in_a_bgp_group() -> None:
    config = with_(gateway(), IBGP.replace("InetGW1-RI-IBGP", "InetGW9-RI-IBGP"))
    error = only_error(config)
    assert error.message == "apply-groups: group 'InetGW9-RI-IBGP' is not defined"
    assert error.path == "[edit routing-instances GW-1025 protocols bgp group inet-gw-group]"
    assert error.bad_element == "InetGW9-RI-IBGP"
