"""Junos curly text and set commands to and from the XML tree."""

from __future__ import annotations

import copy
from importlib.resources import files

import pytest
from lxml import etree

from nornir_esi.exceptions import ConfigSyntaxError
from nornir_esi.junos import tree
from nornir_esi.junos.text import parse_set, parse_text, render_set, render_text

DAY0 = files("nornir_esi.netsim").joinpath("day0.conf").read_text()
VRF = "vrf_gw_sample-ha-router-downlink_1025"

# The MX-1 stanzas of tests/fixtures/origin-junos-diff.txt as a load would send them.
GATEWAY = f"""
interfaces {{
    ae0 {{
        unit 1025 {{
            apply-groups InetGW2-VRRP;
            description inet_gw;
            vlan-id 1025;
            family inet {{
                filter {{
                    input FILTER_10M-GA-UP-INET;
                    output FILTER_10M-GA-DOWN-INET;
                }}
            }}
        }}
    }}
}}
policy-options {{
    prefix-list {VRF}_prefix;
    policy-statement INSTANCE-MASTER_IN {{
        term {VRF} {{
            from instance {VRF};
            then accept;
        }}
    }}
}}
firewall {{
    family inet {{
        filter INET_IN {{
            term {VRF}_filter {{
                from {{
                    destination-prefix-list {{
                        {VRF}_prefix;
                    }}
                }}
                then {{
                    count {VRF}_IN;
                    accept;
                }}
            }}
        }}
    }}
}}
routing-instances {{
    {VRF} {{
        instance-type virtual-router;
        interface ae0.1025;
        routing-options {{
            instance-import INSTANCE-USER_IN;
            instance-export INSTANCE-USER_OUT;
        }}
    }}
}}
"""


def _xml(elem: etree._Element) -> str:
    return etree.tostring(elem, encoding="unicode")


def _text_at(config: etree._Element, path: str) -> list[str]:
    return [e.text or "" for e in config.xpath(path)]


def _merge(target: etree._Element, fragment: etree._Element) -> None:
    """Naive merge for the round trip: entries match on their key, leaves on their value."""

    def same(a: etree._Element, b: etree._Element) -> bool:
        if a.tag != b.tag:
            return False
        if len(a) and len(b) and a[0].tag in ("name", "filter-name") and a[0].tag == b[0].tag:
            return a[0].text == b[0].text
        return (a.text or "") == (b.text or "") or bool(len(b))

    for elem in fragment:
        match = next((t for t in target if same(t, elem)), None)
        if match is None:
            target.append(copy.deepcopy(elem))
        else:
            _merge(match, elem)


# --- curly text -------------------------------------------------------------------------------


def test_day0_round_trip() -> None:
    config = parse_text(DAY0)
    text = render_text(config)
    again = parse_text(text)
    assert _xml(again) == _xml(config)
    assert render_text(again) == text
    assert text.startswith("version 21.4R3-S5.4;\ngroups {\n    InetGW1-VRRP {\n")
    assert text.endswith("}\n")


def test_gateway_stanzas_parse_to_junos_xml() -> None:
    config = parse_text(GATEWAY)
    unit = "interfaces/interface[name='ae0']/unit[name='1025']"
    assert _text_at(config, f"{unit}/apply-groups") == ["InetGW2-VRRP"]
    assert _text_at(config, f"{unit}/vlan-id") == ["1025"]
    assert _text_at(config, f"{unit}/family/inet/filter/input/filter-name") == [
        "FILTER_10M-GA-UP-INET"
    ]
    assert _text_at(config, f"{unit}/family/inet/filter/output/filter-name") == [
        "FILTER_10M-GA-DOWN-INET"
    ]
    # key element first
    assert [e.tag for e in config.xpath(unit)[0]][:2] == ["name", "apply-groups"]
    prefix_list = config.xpath("policy-options/prefix-list")[0]
    assert _xml(prefix_list) == f"<prefix-list><name>{VRF}_prefix</name></prefix-list>"
    term = f"policy-options/policy-statement[name='INSTANCE-MASTER_IN']/term[name='{VRF}']"
    assert _text_at(config, f"{term}/from/instance") == [VRF]
    assert len(config.xpath(f"{term}/then/accept")) == 1
    fw = f"firewall/family/inet/filter[name='INET_IN']/term[name='{VRF}_filter']"
    assert _text_at(config, f"{fw}/from/destination-prefix-list/name") == [f"{VRF}_prefix"]
    assert _text_at(config, f"{fw}/then/count") == [f"{VRF}_IN"]
    assert len(config.xpath(f"{fw}/then/accept")) == 1
    instance = f"routing-instances/instance[name='{VRF}']"
    assert _text_at(config, f"{instance}/instance-type") == ["virtual-router"]
    assert _text_at(config, f"{instance}/interface/name") == ["ae0.1025"]
    assert _text_at(config, f"{instance}/routing-options/instance-import") == ["INSTANCE-USER_IN"]


def test_groups_are_entries_at_the_top() -> None:
    config = parse_text(DAY0)
    groups = config.findall("groups")
    assert [g.findtext("name") for g in groups] == [
        "InetGW1-VRRP",
        "InetGW2-VRRP",
        "InetGW1-RI-IBGP",
        "InetGW2-RI-IBGP",
    ]
    vrrp = groups[0].xpath(
        "interfaces/interface[name='<*>']/unit[name='<*>']/family/inet/address[name='<*>']"
        "/vrrp-group[name='<*>']"
    )[0]
    assert vrrp.findtext("fast-interval") == "10000"
    assert vrrp.findtext("preempt/hold-time") == "180"
    assert vrrp.find("accept-data") is not None
    assert vrrp.find("priority") is None  # the gateway's unit sets it
    neighbor = groups[2].xpath(
        "routing-instances/instance[name='<*>']/protocols/bgp/group[name='<*>']"
        "/neighbor[name='<*>']"
    )[0]
    assert neighbor.findtext("import") == "BGP-InetGW1-RI_IN"


def test_empty_known_container_and_positional_value() -> None:
    config = parse_text(DAY0)
    ssh = config.find("system/services/ssh")
    assert ssh is not None and len(ssh) == 0
    assert config.findtext("routing-options/autonomous-system/as-number") == "65101"


def test_configuration_wrapper_comments_and_junos_banners() -> None:
    text = """## Last changed: 2024-01-01 00:00:00 UTC
configuration {
    /* a comment
       over lines */
    version 1.0; # trailing comment
    system { host-name r1; }
}
"""
    config = parse_text(text)
    assert _xml(config) == (
        "<configuration><version>1.0</version><system><host-name>r1</host-name></system>"
        "</configuration>"
    )


def test_quoting() -> None:
    config = parse_text(
        'interfaces { ae0 { description "to the \\"core\\" switch"; } }'
        ' groups { "<*>" { system { host-name "a;b"; } } }'
    )
    assert config.findtext("interfaces/interface/description") == 'to the "core" switch'
    text = render_text(config)
    assert 'description "to the \\"core\\" switch";' in text
    assert "    <*> {" in text  # a wildcard name is bare in curly text, quoted in set
    assert 'host-name "a;b";' in text
    assert _xml(parse_text(text)) == _xml(config)


def test_oneliner_grouped_and_flatten_rendering() -> None:
    config = parse_text(
        """
interfaces { ae0 { unit 0 { family inet { address 10.0.0.1/24; } family inet6; } } }
firewall {
    family inet {
        filter F {
            term t {
                from {
                    destination-prefix-list A;
                    destination-prefix-list B;
                }
                then accept;
            }
            term u {
                from protocol tcp;
                then {
                    count c;
                    discard;
                }
            }
        }
    }
}
"""
    )
    names = _text_at(
        config, "firewall/family/inet/filter/term[name='t']/from/destination-prefix-list/name"
    )
    assert names == ["A", "B"]
    assert (
        render_text(config)
        == """\
interfaces {
    ae0 {
        unit 0 {
            family inet {
                address 10.0.0.1/24;
            }
            family inet6;
        }
    }
}
firewall {
    family inet {
        filter F {
            term t {
                from {
                    destination-prefix-list {
                        A;
                        B;
                    }
                }
                then accept;
            }
            term u {
                from protocol tcp;
                then {
                    count c;
                    discard;
                }
            }
        }
    }
}
"""
    )


def test_leaf_list_forms() -> None:
    config = parse_text("policy-options { policy-statement P { from community [ a b ]; } }")
    assert _text_at(config, "policy-options/policy-statement/from/community") == ["a", "b"]
    assert "from community [ a b ];" in render_text(config)


def test_unknown_statements_survive_a_round_trip() -> None:
    text = """\
snmp {
    community public {
        authorization read-only;
    }
    contact "ops team";
    traceoptions;
    clients [ 10.0.0.1 10.0.0.2 ];
}
"""
    config = parse_text(text)
    assert config.findtext("snmp/community/name") == "public"
    assert config.findtext("snmp/community/authorization") == "read-only"
    assert config.find("snmp/traceoptions") is not None
    assert _text_at(config, "snmp/clients") == ["10.0.0.1", "10.0.0.2"]
    assert render_text(config) == text
    assert parse_text("snmp { location a b; }").findtext("snmp/location") == "a b"


def test_inactive_prefix() -> None:
    config = parse_text("interfaces { inactive: ae0 { disable; } }")
    assert config.find("interfaces/interface").get("inactive") == "inactive"
    assert render_text(config) == "interfaces {\n    inactive: ae0 {\n        disable;\n    }\n}\n"
    assert render_set(config).splitlines() == [
        "set interfaces ae0 disable",
        "deactivate interfaces ae0",
    ]


def test_load_prefixes_become_attributes() -> None:
    config = parse_text("replace: system { host-name r1; } interfaces { delete: ae0; }")
    assert config.find("system").get("replace") == "replace"
    assert config.find("interfaces/interface").get("delete") == "delete"


def test_empty_config_renders_nothing() -> None:
    assert render_text(etree.Element("configuration")) == ""
    assert render_set(etree.Element("configuration")) == ""


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("system {\n    host-name r1;\n", 1),  # unbalanced brace
        ("system {\n}\n}\n", 3),
        ("system {\n    host-name r1\n}\n", 2),  # missing `;`
        ("system {\n    host-name r1\n    domain-name x;\n}\n", 2),
        ('system {\n    host-name "r1;\n}\n', 2),  # unterminated quote
        ("system {\n    host-name;\n}\n", 2),  # leaf without its value
        (
            "firewall {\n    family inet {\n        filter F {\n            term t {\n"
            "                then accept now;\n            }\n        }\n    }\n}\n",
            5,
        ),
        ("/* never closed\nsystem;\n", 1),
        ("apply-groups [ a b;\n", 1),
    ],
)
def test_syntax_errors_name_the_line(text: str, line: int) -> None:
    with pytest.raises(ConfigSyntaxError) as caught:
        parse_text(text)
    assert caught.value.line == line
    assert f"line {line}" in str(caught.value)


# --- set commands -------------------------------------------------------------------------


def test_set_round_trip_day0() -> None:
    config = parse_text(DAY0)
    commands = render_set(config)
    assert "set routing-options autonomous-system 65101\n" in commands
    assert (
        'set groups InetGW1-VRRP interfaces "<*>" unit "<*>" family inet address "<*>" '
        'vrrp-group "<*>" fast-interval 10000\n' in commands
    )
    assert "set system services ssh\n" in commands
    assert "set policy-options prefix-list BGP-VIRTUAL-ROUTER-PEERS 100.64.0.0/10\n" in commands
    merged = etree.Element("configuration")
    for fragment in parse_set(commands):
        _merge(merged, fragment)
    assert _xml(merged) == _xml(config)


def test_set_fragments() -> None:
    text = """
# a comment
set interfaces ae0 unit 1025 vlan-id 1025

set interfaces ae0 unit 1025 description "inet gw"
set policy-options policy-statement P from community [ a b ]
set interfaces ae0 unit 1025 family inet filter input F
set snmp location somewhere far
"""
    frags = [_xml(f) for f in parse_set(text)]
    unit = "<configuration><interfaces><interface><name>ae0</name><unit><name>1025</name>{}"
    end = "</unit></interface></interfaces></configuration>"
    assert frags[0] == unit.format("<vlan-id>1025</vlan-id>") + end
    assert frags[1] == unit.format("<description>inet gw</description>") + end
    assert frags[2] == (
        "<configuration><policy-options><policy-statement><name>P</name><from>"
        "<community>a</community><community>b</community></from></policy-statement>"
        "</policy-options></configuration>"
    )
    assert frags[3] == (
        unit.format(
            "<family><inet><filter><input><filter-name>F</filter-name></input></filter>"
            "</inet></family>"
        )
        + end
    )
    # unknown keyword followed by several words: a container to descend into
    assert frags[4] == (
        "<configuration><snmp><location><somewhere>far</somewhere></location></snmp>"
        "</configuration>"
    )


def test_delete_fragments() -> None:
    frags = parse_set(
        "delete interfaces ae0 unit 1025\n"
        "delete interfaces ae0 unit 1025 vlan-id 1025\n"
        "delete interfaces ae0 apply-groups G\n"
        "delete system services ssh\n"
    )
    unit = frags[0].find("interfaces/interface/unit")
    assert unit.get("delete") == "delete" and unit.findtext("name") == "1025"
    assert frags[0].find("interfaces/interface").get("delete") is None
    leaf = frags[1].find("interfaces/interface/unit/vlan-id")
    assert leaf.get("delete") == "delete" and leaf.text == "1025"
    value = frags[2].find("interfaces/interface/apply-groups")
    assert value.get("delete") == "delete" and value.text == "G"
    assert frags[3].find("system/services/ssh").get("delete") == "delete"


def test_insert_fragment() -> None:
    (frag,) = parse_set(
        "insert firewall family inet filter INET_IN term new before term all-accept"
    )
    term = frag.find("firewall/family/inet/filter/term")
    assert frag.findtext("firewall/family/inet/filter/name") == "INET_IN"
    assert term.findtext("name") == "new"
    assert term.get("insert") == "before"
    assert term.get("name") == "all-accept"
    (after,) = parse_set("insert policy-options policy-statement P term b after term a")
    term = after.find("policy-options/policy-statement/term")
    assert (term.get("insert"), term.get("name")) == ("after", "a")


def test_activate_and_deactivate_fragments() -> None:
    deact, act = parse_set("deactivate interfaces ae0\nactivate interfaces ae0 unit 5\n")
    assert deact.find("interfaces/interface").get("inactive") == "inactive"
    assert act.find("interfaces/interface/unit").get("active") == "active"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("set system host-name r1\nfrobnicate system\n", 2),  # unknown command
        ("\nset interfaces ae0 unit\n", 2),  # list without its name
        ("set system host-name\n", 1),  # leaf without a value
        ("set interfaces ae0 disable now\n", 1),  # value on a flag
        ("set system host-name r1;\n", 1),  # stray punctuation
        ('set system host-name "r1\n', 1),
        ("insert firewall family inet filter F term a\n", 1),
        ("insert firewall family inet filter F term a before from b\n", 1),
        ("delete\n", 1),
    ],
)
def test_bad_set_commands(text: str, line: int) -> None:
    with pytest.raises(ConfigSyntaxError) as caught:
        parse_set(text)
    assert caught.value.line == line


def test_set_error_names_the_command_and_path() -> None:
    with pytest.raises(ConfigSyntaxError) as caught:
        parse_set("set interfaces ae0 unit 5 vlan-id")
    assert "set interfaces ae0 unit 5 vlan-id" in str(caught.value)
    assert caught.value.path == "[edit interfaces ae0 unit 5]"


def test_keywords_that_are_no_xml_name_map_to_junos_xml_names() -> None:
    """`802.3ad` is `<ieee-802.3ad>` in Junos' XML; both syntaxes read and write it."""
    text = (
        "interfaces {\n    ge-0/0/0 {\n        gigether-options {\n"
        "            802.3ad ae0;\n        }\n    }\n}\n"
    )
    config = parse_text(text)
    assert config.findtext("interfaces/interface/gigether-options/ieee-802.3ad") == "ae0"
    assert render_text(config) == text
    assert render_set(config).strip() == "set interfaces ge-0/0/0 gigether-options 802.3ad ae0"
    (from_set,) = parse_set("set interfaces ge-0/0/0 gigether-options 802.3ad ae0")
    assert from_set.findtext("interfaces/interface/gigether-options/ieee-802.3ad") == "ae0"


def test_a_keyword_that_cannot_be_a_statement_is_a_syntax_error() -> None:
    with pytest.raises(ConfigSyntaxError, match="'9bad' is not a statement name"):
        parse_text("system { 9bad x; }")


def test_set_fragments_apply_as_written_and_are_only_read() -> None:
    # The simulator applies parse_set's fragments without stripping a copy first: a value
    # keeps its padding, as Junos keeps it, and the fragment itself is left as it was.
    fragments = parse_set(
        'set interfaces ae0 description " inet gw "\nset interfaces ae0 unit 1025 vlan-id 1025\n'
    )
    before = [etree.tostring(f) for f in fragments]
    config = etree.Element("configuration")
    for fragment in fragments:
        tree.edit_config(config, fragment, atomic=False, stripped=True)
    assert config.findtext("interfaces/interface/description") == " inet gw "
    assert config.findtext("interfaces/interface/unit/vlan-id") == "1025"
    assert [etree.tostring(f) for f in fragments] == before


# --- the origin's gateway stanzas ---------------------------------------------------------


ORIGIN_STANZAS = """\
groups {
    InetGW2-RI-IBGP {
        routing-instances {
            <*> {
                protocols {
                    bgp {
                        log-updown;
                        group <*> {
                            type internal;
                            peer-as 65101;
                            neighbor <*> {
                                hold-time 30;
                                import BGP-InetGW2-RI_IN;
                                export BGP-InetGW2-RI_OUT;
                            }
                        }
                    }
                }
            }
        }
    }
    InetGW1-VRRP {
        interfaces {
            <*> {
                unit <*> {
                    family inet {
                        address <*> {
                            vrrp-group <*> {
                                fast-interval 10000;
                                preempt {
                                    hold-time 180;
                                }
                                accept-data;
                            }
                        }
                    }
                }
            }
        }
    }
}
interfaces {
    ae0 {
        unit 1025 {
            family inet {
                address 172.16.101.152/24 {
                    vrrp-group 20 {
                        virtual-address 172.16.101.151;
                        priority 105;
                    }
                }
            }
        }
    }
}
protocols {
    vrrp {
        version-3;
    }
}
policy-options {
    prefix-list vrf_x_prefix {
        203.0.112.0/28;
    }
}
routing-instances {
    vrf_x {
        protocols {
            bgp {
                group inet-gw-group {
                    apply-groups InetGW2-RI-IBGP;
                    local-address 172.16.101.152;
                    neighbor 172.16.101.153;
                }
            }
        }
        routing-options {
            static {
                route 203.0.112.0/28 next-hop 172.16.101.1;
            }
        }
    }
}
"""


def test_origin_stanzas_print_as_junos_prints_them() -> None:
    config = parse_text(ORIGIN_STANZAS)
    assert render_text(config) == ORIGIN_STANZAS
    group = "routing-instances/instance[name='vrf_x']/protocols/bgp/group[name='inet-gw-group']"
    assert _text_at(config, f"{group}/apply-groups") == ["InetGW2-RI-IBGP"]
    # `neighbor` is a list entry keyed by its address, printed bare when it has no children
    assert _xml(config.xpath(f"{group}/neighbor")[0]) == (
        "<neighbor><name>172.16.101.153</name></neighbor>"
    )
    route = "routing-instances/instance/routing-options/static/route[name='203.0.112.0/28']"
    assert _text_at(config, f"{route}/next-hop") == ["172.16.101.1"]
    assert config.find("protocols/vrrp/version-3") is not None


def test_origin_stanzas_as_set_commands_give_the_same_tree() -> None:
    config = parse_text(ORIGIN_STANZAS)
    commands = render_set(config)
    assert (
        "set routing-instances vrf_x routing-options static route 203.0.112.0/28 "
        "next-hop 172.16.101.1\n" in commands
    )
    assert (
        "set routing-instances vrf_x protocols bgp group inet-gw-group neighbor 172.16.101.153\n"
        in (commands)
    )
    assert (
        'set groups InetGW2-RI-IBGP routing-instances "<*>" protocols bgp group "<*>" '
        'neighbor "<*>" hold-time 30\n' in commands
    )
    rebuilt = etree.Element("configuration")
    for fragment in parse_set(commands):
        tree.edit_config(rebuilt, fragment)
    assert render_text(rebuilt) == ORIGIN_STANZAS


def test_route_with_two_next_hops_and_a_route_filter_print_on_one_line() -> None:
    config = parse_text(
        "routing-options { static { route 0.0.0.0/0 { next-hop [ 192.0.2.1 192.0.2.5 ]; } "
        "route 10.0.0.0/8 { discard; preference 200; } } } "
        "policy-options { policy-statement P { term t { from { route-filter 0.0.0.0/0 exact; } "
        "then { next-hop self; accept; } } } }"
    )
    text = render_text(config)
    assert "        route 0.0.0.0/0 next-hop [ 192.0.2.1 192.0.2.5 ];\n" in text
    assert "        route 10.0.0.0/8 {\n            discard;\n            preference 200;\n" in text
    assert "            from route-filter 0.0.0.0/0 exact;\n" in text
    assert "            then {\n                next-hop self;\n                accept;\n" in text
    assert _xml(parse_text(text)) == _xml(config)
