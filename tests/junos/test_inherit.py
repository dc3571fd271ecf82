"""Configuration groups: what apply-groups inherits, and from where."""

from __future__ import annotations

from lxml import etree

from nornir_esi.junos import tree
from nornir_esi.junos.inherit import inherit, matches
from nornir_esi.junos.text import parse_text

VRRP_GROUP = """
groups {
    VRRP {
        interfaces {
            <*> {
                unit <*> {
                    family inet {
                        address <*> {
                            vrrp-group <*> {
                                priority 90;
                                fast-interval 10000;
                                accept-data;
                            }
                        }
                    }
                }
            }
        }
    }
}
"""


def _at(config: etree._Element, path: str) -> etree._Element | None:
    found = config.xpath(path)
    assert isinstance(found, list)
    first = found[0] if found else None
    return first if isinstance(first, etree._Element) else None


VG = "interfaces/interface[name='ae0']/unit[name='1025']/family/inet/address/vrrp-group"


def test_patterns_match_existing_entries_only() -> None:
    config = parse_text(VRRP_GROUP + "interfaces { ae0 { unit 1025 { apply-groups VRRP; } } }")
    unit = _at(inherit(config), "interfaces/interface[name='ae0']/unit[name='1025']")
    assert unit is not None
    assert [c.tag for c in unit] == ["name", "apply-groups"]  # no family, no vrrp-group


def test_group_settings_join_an_existing_vrrp_group_and_its_own_win() -> None:
    config = parse_text(
        VRRP_GROUP + "interfaces { ae0 { unit 1025 { apply-groups VRRP; family inet { "
        "address 10.0.0.2/24 { vrrp-group 20 { virtual-address 10.0.0.1; priority 105; } } } } } }"
    )
    group = _at(inherit(config), VG)
    assert group is not None
    assert group.findtext("priority") == "105"
    assert group.findtext("fast-interval") == "10000"
    assert group.find("accept-data") is not None
    assert config.find(f"{VG}/fast-interval") is None  # the input is left as it was


def test_lower_level_groups_win_and_apply_groups_except_blocks() -> None:
    config = parse_text(
        VRRP_GROUP + "groups { LOW { interfaces { <*> { unit <*> { family inet { address <*> { "
        "vrrp-group <*> { priority 120; } } } } } } } } "
        "apply-groups VRRP; "
        "interfaces { ae0 { unit 1025 { apply-groups LOW; family inet { address 10.0.0.2/24 { "
        "vrrp-group 20; } } } unit 1026 { apply-groups-except VRRP; family inet { "
        "address 10.0.1.2/24 { vrrp-group 21; } } } } }"
    )
    effective = inherit(config)
    assert _at(effective, f"{VG}/priority") is not None
    assert effective.xpath(f"string({VG}/priority)") == "120"  # the unit's LOW over the top's
    assert effective.xpath(f"string({VG}/fast-interval)") == "10000"  # still from the top
    blocked = _at(effective, "interfaces/interface[name='ae0']/unit[name='1026']//vrrp-group")
    assert blocked is not None and [c.tag for c in blocked] == ["name"]


def test_a_plain_name_below_a_pattern_creates_its_entry() -> None:
    config = parse_text(
        "groups { G { interfaces { <ae*> { mtu 9000; unit 0 { family inet; } } } } } "
        "apply-groups G; interfaces { ae0 { description a; } ge-0/0/0 { description b; } }"
    )
    effective = inherit(config)
    assert effective.xpath("string(interfaces/interface[name='ae0']/mtu)") == "9000"
    assert _at(effective, "interfaces/interface[name='ae0']/unit[name='0']/family/inet") is not None
    assert _at(effective, "interfaces/interface[name='ge-0/0/0']/mtu") is None


def test_a_bgp_group_takes_only_its_level_of_the_group() -> None:
    config = parse_text(
        "groups { IBGP { routing-instances { <*> { protocols { bgp { log-updown; group <*> { "
        "type internal; peer-as 65101; neighbor <*> { hold-time 30; import [ A B ]; } "
        "} } } } } } } "
        "routing-instances { V { protocols { bgp { group g { apply-groups IBGP; "
        "neighbor 10.0.0.3 { import C; } neighbor 10.0.0.4; } } } } }"
    )
    bgp = _at(inherit(config), "routing-instances/instance[name='V']/protocols/bgp")
    assert bgp is not None
    assert bgp.find("log-updown") is None  # applied at the group level, not at bgp
    group = bgp.find("group")
    assert group is not None
    assert (group.findtext("type"), group.findtext("peer-as")) == ("internal", "65101")
    imports = {
        n.findtext("name"): [i.text for i in n.iterfind("import")]
        for n in group.iterfind("neighbor")
    }
    assert imports == {"10.0.0.3": ["C"], "10.0.0.4": ["A", "B"]}  # a leaf-list whole


def test_inactive_statements_take_no_part() -> None:
    config = parse_text(
        VRRP_GROUP + "interfaces { ae0 { unit 1025 { inactive: apply-groups VRRP; family inet { "
        "address 10.0.0.2/24 { vrrp-group 20; inactive: description x; } } } } }"
    )
    group = _at(inherit(config), VG)
    assert group is not None and [c.tag for c in group] == ["name"]


def test_without_groups_the_copy_is_equal() -> None:
    config = parse_text("interfaces { ae0 { unit 1 { vlan-id 1; } } }")
    assert tree.canonical_bytes(inherit(config)) == tree.canonical_bytes(config)


def test_matches() -> None:
    assert matches("<*>", "ae0")
    assert matches("<ge-*>", "ge-0/0/1") and not matches("<ge-*>", "ae0")
    assert matches("ae0", "ae0") and not matches("ae0", "ae1")
    assert not matches("*", "ae0")  # a pattern only in angle brackets
