"""``show | compare`` text: the golden MX-1 diff, its reverse, changed leaves, moves."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

from nornir_esi.junos.diff import diff_text
from nornir_esi.junos.text import parse_text

DAY0 = files("nornir_esi.netsim").joinpath("day0.conf").read_text()
ORIGIN = Path(__file__).parent.parent / "fixtures" / "origin-junos-diff.txt"

# day0 plus the MX-1 gateway, placed where Junos puts it: terms before `all-accept`,
# the prefix-list after the existing one, the routing instance after UPLINK.
GATEWAY = """\
version 21.4R3-S5.4;
groups {
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
    InetGW2-VRRP {
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
    InetGW1-RI-IBGP {
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
                                import BGP-InetGW1-RI_IN;
                                export BGP-InetGW1-RI_OUT;
                            }
                        }
                    }
                }
            }
        }
    }
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
}
system {
    services {
        ssh;
        netconf {
            ssh {
                port 830;
            }
        }
    }
}
chassis {
    aggregated-devices {
        ethernet {
            device-count 4;
        }
    }
}
interfaces {
    ae0 {
        description downlink;
        flexible-vlan-tagging;
        encapsulation flexible-ethernet-services;
        aggregated-ether-options {
            lacp {
                active;
            }
        }
        unit 1025 {
            apply-groups InetGW2-VRRP;
            description inet_gw;
            vlan-id 1025;
            family inet {
                filter {
                    input FILTER_10M-GA-UP-INET;
                    output FILTER_10M-GA-DOWN-INET;
                }
            }
        }
    }
    ae1 {
        description uplink;
        flexible-vlan-tagging;
        encapsulation flexible-ethernet-services;
        aggregated-ether-options {
            lacp {
                active;
            }
        }
        unit 100 {
            description uplink;
            vlan-id 100;
            family inet {
                address 192.0.2.2/30;
            }
        }
    }
}
routing-options {
    autonomous-system 65101;
}
protocols {
    vrrp {
        version-3;
    }
}
policy-options {
    prefix-list BGP-VIRTUAL-ROUTER-PEERS {
        100.64.0.0/10;
    }
    prefix-list vrf_gw_sample-ha-router-downlink_1025_prefix;
    policy-statement INSTANCE-USER_IN {
        term default {
            then accept;
        }
    }
    policy-statement INSTANCE-USER_OUT {
        term default {
            then accept;
        }
    }
    policy-statement BGP-InetGW1-RI_IN {
        term accept-all {
            then accept;
        }
    }
    policy-statement BGP-InetGW1-RI_OUT {
        term default {
            from route-filter 0.0.0.0/0 exact;
            then {
                next-hop self;
                accept;
            }
        }
    }
    policy-statement BGP-InetGW2-RI_IN {
        term accept-all {
            then accept;
        }
    }
    policy-statement BGP-InetGW2-RI_OUT {
        term default {
            from route-filter 0.0.0.0/0 exact;
            then {
                next-hop self;
                accept;
            }
        }
    }
    policy-statement INSTANCE-MASTER_IN {
        term vrf_gw_sample-ha-router-downlink_1025 {
            from instance vrf_gw_sample-ha-router-downlink_1025;
            then accept;
        }
    }
}
firewall {
    family inet {
        filter INET_IN {
            term vrf_gw_sample-ha-router-downlink_1025_filter {
                from {
                    destination-prefix-list {
                        vrf_gw_sample-ha-router-downlink_1025_prefix;
                    }
                }
                then {
                    count vrf_gw_sample-ha-router-downlink_1025_IN;
                    accept;
                }
            }
            term all-accept {
                then accept;
            }
        }
        filter INET_OUT {
            term vrf_gw_sample-ha-router-downlink_1025_filter {
                from {
                    source-prefix-list {
                        vrf_gw_sample-ha-router-downlink_1025_prefix;
                    }
                }
                then {
                    count vrf_gw_sample-ha-router-downlink_1025_OUT;
                    accept;
                }
            }
            term all-accept {
                then accept;
            }
        }
        filter FILTER_10M-GA-UP-INET {
            term all {
                then {
                    policer 10M-GA-UP-INET;
                    accept;
                }
            }
        }
        filter FILTER_10M-GA-DOWN-INET {
            term all {
                then {
                    policer 10M-GA-DOWN-INET;
                    accept;
                }
            }
        }
        filter FILTER_20M-GA-UP-INET {
            term all {
                then {
                    policer 20M-GA-UP-INET;
                    accept;
                }
            }
        }
        filter FILTER_20M-GA-DOWN-INET {
            term all {
                then {
                    policer 20M-GA-DOWN-INET;
                    accept;
                }
            }
        }
    }
    policer 10M-GA-UP-INET {
        if-exceeding {
            bandwidth-limit 10m;
            burst-size-limit 187500000;
        }
        then discard;
    }
    policer 10M-GA-DOWN-INET {
        if-exceeding {
            bandwidth-limit 10m;
            burst-size-limit 187500000;
        }
        then discard;
    }
    policer 20M-GA-UP-INET {
        if-exceeding {
            bandwidth-limit 20m;
            burst-size-limit 375000000;
        }
        then discard;
    }
    policer 20M-GA-DOWN-INET {
        if-exceeding {
            bandwidth-limit 20m;
            burst-size-limit 375000000;
        }
        then discard;
    }
}
routing-instances {
    UPLINK {
        instance-type virtual-router;
        interface ae1.100;
        routing-options {
            instance-import INSTANCE-USER_IN;
            instance-export INSTANCE-USER_OUT;
        }
    }
    vrf_gw_sample-ha-router-downlink_1025 {
        instance-type virtual-router;
        interface ae0.1025;
        routing-options {
            instance-import INSTANCE-USER_IN;
            instance-export INSTANCE-USER_OUT;
        }
    }
}
"""


def _collapse(lines: list[str]) -> list[str]:
    return [re.sub(r" +", " ", line).rstrip() for line in lines]


def _origin_mx1() -> list[str]:
    section = ORIGIN.read_text().split("## MX-1\n", 1)[1].split("## MX-2", 1)[0]
    lines = [line for line in section.splitlines() if not line.startswith("#")]
    while lines and lines[-1] in ("", "[edit]"):
        lines.pop()
    return lines


def test_gateway_diff_matches_origin_mx1() -> None:
    got = diff_text(parse_text(DAY0), parse_text(GATEWAY))
    assert got.endswith("\n")
    assert _collapse(got.splitlines()) == _collapse(_origin_mx1())


def test_reverse_diff_removes_the_same_stanzas() -> None:
    got = diff_text(parse_text(GATEWAY), parse_text(DAY0))
    expected = [
        "-" + line[1:] if line.startswith("+") else line
        for line in _origin_mx1()
        if not line.startswith(" ")  # context is shown for additions only
    ]
    assert _collapse(got.splitlines()) == _collapse(expected)


def test_equal_trees_give_nothing() -> None:
    assert diff_text(parse_text(DAY0), parse_text(DAY0)) == ""


def test_changed_leaf_shows_old_then_new() -> None:
    old = parse_text("interfaces { ae1 { unit 100 { vlan-id 100; description a; } } }")
    new = parse_text("interfaces { ae1 { unit 100 { vlan-id 200; description a; } } }")
    assert diff_text(old, new) == (
        "[edit interfaces ae1 unit 100]\n-   vlan-id 100;\n+   vlan-id 200;\n"
    )


def test_top_level_and_separate_headers_per_child_kind() -> None:
    old = parse_text("system { host-name r1; }")
    new = parse_text("version 1; system { host-name r2; domain-name example.net; }")
    assert diff_text(old, new) == (
        "[edit]\n+   version 1;\n\n"
        "[edit system]\n-   host-name r1;\n+   host-name r2;\n\n"
        "[edit system]\n+   domain-name example.net;\n"
    )


def test_positional_value_change_replaces_the_statement() -> None:
    old = parse_text("routing-options { autonomous-system 65101; }")
    new = parse_text("routing-options { autonomous-system 65102; }")
    assert diff_text(old, new) == (
        "[edit routing-options]\n-   autonomous-system 65101;\n+   autonomous-system 65102;\n"
    )


def test_moved_term_is_removed_and_added_with_context() -> None:
    old = parse_text(
        "firewall { family inet { filter F { term a { then accept; } term b { then discard; } } } }"
    )
    new = parse_text(
        "firewall { family inet { filter F { term b { then discard; } term a { then accept; } } } }"
    )
    # b is the entry that moved; it is removed where it was and added where it is now
    assert diff_text(old, new).splitlines() == [
        "[edit firewall family inet filter F]",
        "+   term b {",
        "+       then discard;",
        "+   }",
        "    term a { ... }",
        "-   term b {",
        "-       then discard;",
        "-   }",
    ]


def test_new_term_after_existing_shows_preceding_context_once() -> None:
    old = parse_text("policy-options { policy-statement P { term a { then accept; } } }")
    new = parse_text(
        "policy-options { policy-statement P {"
        " term a { then accept; } term b { then reject; } term c { then accept; } } }"
    )
    assert diff_text(old, new).splitlines() == [
        "[edit policy-options policy-statement P]",
        "    term a { ... }",
        "+   term b {",
        "+       then reject;",
        "+   }",
        "+   term c {",
        "+       then accept;",
        "+   }",
    ]


def test_no_context_for_unordered_lists() -> None:
    old = parse_text("interfaces { ae0 { unit 1 { vlan-id 1; } } }")
    new = parse_text("interfaces { ae0 { unit 0 { vlan-id 0; } unit 1 { vlan-id 1; } } }")
    assert diff_text(old, new) == (
        "[edit interfaces ae0]\n+   unit 0 {\n+       vlan-id 0;\n+   }\n"
    )


def test_new_family_is_shown_with_its_flattened_keyword() -> None:
    old = parse_text("interfaces { ae0 { unit 1 { family inet; } } }")
    new = parse_text("interfaces { ae0 { unit 1 { family inet; family inet6; } } }")
    assert diff_text(old, new) == "[edit interfaces ae0 unit 1]\n+   family inet6;\n"


def test_leaf_list_values_and_groups() -> None:
    old = parse_text("groups { G { system { host-name x; } } } apply-groups G;")
    new = parse_text("groups { G { system { host-name y; } } H; } apply-groups [ G H ];")
    assert diff_text(old, new) == (
        "[edit groups G system]\n-   host-name x;\n+   host-name y;\n\n"
        "[edit groups]\n+   H;\n\n"
        "[edit]\n+   apply-groups H;\n"
    )
