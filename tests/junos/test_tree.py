"""Edits of configuration trees: edit-config operations, Junos attributes, load, filters."""

from __future__ import annotations

import pytest
from lxml import etree

from nornir_esi.exceptions import NetsimRpcError
from nornir_esi.junos import tree

JUNOS_NS = "http://xml.juniper.net/xnm/1.1/xnm"

BASE = """
<configuration>
  <version>21.4</version>
  <system><host-name>r1</host-name></system>
  <interfaces>
    <interface>
      <name>ae0</name>
      <description>downlink</description>
      <unit><name>100</name><vlan-id>100</vlan-id>
        <family><inet><filter><input><filter-name>INET_IN</filter-name></input></filter></inet></family>
      </unit>
    </interface>
    <interface><name>ae1</name></interface>
  </interfaces>
  <policy-options>
    <policy-statement><name>P</name></policy-statement>
  </policy-options>
  <firewall>
    <family><inet>
      <filter><name>INET_IN</name>
        <term><name>block</name><then><discard/></then></term>
        <term><name>all-accept</name><then><accept/></then></term>
      </filter>
    </inet></family>
  </firewall>
</configuration>
"""


def xml(text: str) -> etree._Element:
    return tree.strip(etree.fromstring(text))


def base() -> etree._Element:
    return xml(BASE)


def edit(config: str, default_operation: str = "merge") -> etree._Element:
    target = base()
    tree.edit_config(target, xml(config), default_operation=default_operation)
    return target


def interface(config: etree._Element, name: str) -> etree._Element | None:
    interfaces = config.find("interfaces")
    assert interfaces is not None
    return tree.find_entry(interfaces, "interface", name, None)


def names(parent: etree._Element | None, tag: str) -> list[str]:
    assert parent is not None
    return [c.findtext("name") or "" for c in parent.iter(tag)]


def terms(config: etree._Element) -> list[str]:
    return names(config.find("firewall/family/inet/filter"), "term")


def units(config: etree._Element, ifd: str = "ae0") -> list[str]:
    return names(interface(config, ifd), "unit")


# --- shape -----------------------------------------------------------------------------------


def test_strip_removes_namespaces_and_whitespace_and_keeps_operation() -> None:
    raw = etree.fromstring(
        f'<config xmlns="{tree.NC_NS}" xmlns:nc="{tree.NC_NS}">'
        f'<configuration xmlns="{JUNOS_NS}">\n  <system nc:operation="delete">\n'
        "    <host-name>\n r1 \n</host-name>\n  </system>\n</configuration></config>"
    )
    stripped = tree.strip(raw)
    assert etree.tostring(stripped) == (
        b'<config><configuration><system operation="delete">'
        b"<host-name>r1</host-name></system></configuration></config>"
    )


def test_canonical_bytes_ignores_whitespace_and_namespaces() -> None:
    pretty = etree.fromstring(
        f'<configuration xmlns="{JUNOS_NS}">\n  <a>\n    <b>1</b>\n  </a>\n</configuration>'
    )
    compact = etree.fromstring("<configuration><a><b>1</b></a></configuration>")
    other = etree.fromstring("<configuration><a><b>2</b></a></configuration>")
    assert tree.canonical_bytes(pretty) == tree.canonical_bytes(compact)
    assert tree.canonical_bytes(compact) != tree.canonical_bytes(other)


def test_junos_path_uses_anonymous_entries() -> None:
    config = base()
    unit = config.find("interfaces/interface/unit")
    assert unit is not None
    assert tree.junos_path(unit) == "[edit interfaces ae0 unit 100]"
    flt = unit.find("family/inet/filter")
    assert flt is not None
    assert tree.junos_path(flt) == "[edit interfaces ae0 unit 100 family inet filter]"
    assert tree.junos_path(config) == "[edit]"


# --- edit-config operations ------------------------------------------------------------------


def test_merge_adds_entry_after_same_tag_siblings_and_replaces_leaf() -> None:
    config = edit(
        "<configuration><interfaces><interface><name>ae0</name>"
        "<description>new</description><unit><name>200</name><vlan-id>200</vlan-id></unit>"
        "</interface></interfaces></configuration>"
    )
    assert units(config) == ["100", "200"]
    assert config.findtext("interfaces/interface/description") == "new"
    assert config.findtext("interfaces/interface/unit/vlan-id") == "100"


def test_merge_new_entry_has_key_first() -> None:
    config = edit(
        "<configuration><interfaces><interface><description>d</description>"
        "<name>ae9</name></interface></interfaces></configuration>"
    )
    ae9 = interface(config, "ae9")
    assert ae9 is not None
    assert [c.tag for c in ae9] == ["name", "description"]


def test_merge_leaf_list_adds_absent_values_only() -> None:
    target = xml("<configuration><apply-groups>A</apply-groups></configuration>")
    tree.edit_config(
        target,
        xml(
            "<configuration><apply-groups>A</apply-groups><apply-groups>B</apply-groups></configuration>"
        ),
    )
    assert [e.text for e in target.iter("apply-groups")] == ["A", "B"]


def test_merge_single_list_entry_replaces_the_old_one() -> None:
    config = edit(
        "<configuration><interfaces><interface><name>ae0</name><unit><name>100</name>"
        "<family><inet><filter><input><filter-name>OTHER</filter-name></input></filter></inet></family>"
        "</unit></interface></interfaces></configuration>"
    )
    assert [e.text for e in config.iter("filter-name")] == ["OTHER"]


def test_create_fails_with_data_exists_and_leaves_target_unchanged() -> None:
    target = base()
    before = tree.canonical_bytes(target)
    with pytest.raises(NetsimRpcError) as info:
        tree.edit_config(
            target,
            xml(
                "<configuration><interfaces><interface><name>ae0</name>"
                '<description>changed</description><unit operation="create"><name>100</name></unit>'
                "</interface></interfaces></configuration>"
            ),
        )
    assert info.value.tag == "data-exists"
    assert info.value.error_type == "application"
    assert info.value.path == "[edit interfaces ae0]"
    assert info.value.bad_element == "unit 100"
    assert tree.canonical_bytes(target) == before


def test_create_adds_missing_entry() -> None:
    config = edit(
        "<configuration><interfaces><interface><name>ae0</name>"
        '<unit operation="create"><name>300</name><vlan-id>300</vlan-id></unit>'
        "</interface></interfaces></configuration>"
    )
    assert units(config) == ["100", "300"]


def test_delete_removes_and_fails_with_data_missing_when_absent() -> None:
    config = edit(
        "<configuration><interfaces><interface><name>ae0</name>"
        '<unit operation="delete"><name>100</name></unit></interface></interfaces></configuration>'
    )
    assert units(config) == []
    with pytest.raises(NetsimRpcError) as info:
        edit(
            "<configuration><interfaces><interface><name>ae0</name>"
            '<unit operation="delete"><name>999</name></unit>'
            "</interface></interfaces></configuration>"
        )
    assert info.value.tag == "data-missing"
    assert info.value.path == "[edit interfaces ae0]"


def test_remove_is_silent_when_absent() -> None:
    config = edit(
        "<configuration><interfaces>"
        '<interface operation="remove"><name>ae1</name></interface>'
        '<interface operation="remove"><name>ae7</name></interface>'
        "</interfaces></configuration>"
    )
    assert names(config.find("interfaces"), "interface") == ["ae0"]


def test_replace_operation_replaces_whole_subtree() -> None:
    config = edit(
        "<configuration><interfaces>"
        '<interface operation="replace"><name>ae0</name><mtu>9000</mtu></interface>'
        "</interfaces></configuration>"
    )
    ae0 = interface(config, "ae0")
    assert ae0 is not None
    assert [c.tag for c in ae0] == ["name", "mtu"]
    assert names(config.find("interfaces"), "interface") == ["ae0", "ae1"]


def test_namespaced_operation_attribute() -> None:
    raw = etree.fromstring(
        f'<config xmlns:nc="{tree.NC_NS}"><configuration><system>'
        '<host-name nc:operation="delete"/></system></configuration></config>'
    )
    target = base()
    tree.edit_config(target, raw)
    assert target.find("system/host-name") is None


def test_invalid_operation_is_bad_attribute() -> None:
    with pytest.raises(NetsimRpcError) as info:
        edit('<configuration><system operation="frobnicate"/></configuration>')
    assert info.value.tag == "bad-attribute"


def test_default_operation_none_only_applies_operations() -> None:
    config = edit(
        "<configuration><system><host-name>ignored</host-name></system>"
        "<interfaces><interface><name>ae0</name>"
        '<description operation="replace">set</description>'
        "</interface></interfaces></configuration>",
        default_operation="none",
    )
    assert config.findtext("system/host-name") == "r1"
    assert config.findtext("interfaces/interface/description") == "set"


def test_default_operation_none_missing_parent_is_data_missing() -> None:
    with pytest.raises(NetsimRpcError) as info:
        edit(
            "<configuration><interfaces><interface><name>ae5</name><mtu>1</mtu>"
            "</interface></interfaces></configuration>",
            default_operation="none",
        )
    assert info.value.tag == "data-missing"


def test_default_operation_none_creates_path_to_an_operation() -> None:
    config = edit(
        "<configuration><interfaces><interface><name>ae5</name>"
        '<unit operation="create"><name>1</name></unit></interface></interfaces></configuration>',
        default_operation="none",
    )
    assert units(config, "ae5") == ["1"]


def test_default_operation_replace_replaces_everything() -> None:
    config = edit(
        "<configuration><system><host-name>r2</host-name></system></configuration>",
        default_operation="replace",
    )
    assert etree.tostring(config) == (
        b"<configuration><system><host-name>r2</host-name></system></configuration>"
    )


def test_invalid_default_operation() -> None:
    with pytest.raises(NetsimRpcError) as info:
        edit("<configuration/>", default_operation="delete")
    assert info.value.tag == "invalid-value"


def test_new_top_level_element_placed_by_top_level_order() -> None:
    config = edit(
        "<configuration><routing-options><router-id>1.1.1.1</router-id></routing-options>"
        "<zzz-unknown/><chassis/></configuration>"
    )
    assert [c.tag for c in config] == [
        "version",
        "system",
        "chassis",
        "interfaces",
        "routing-options",
        "policy-options",
        "firewall",
        "zzz-unknown",
    ]


# --- Junos attributes ------------------------------------------------------------------------


def test_junos_delete_removes_and_ignores_missing() -> None:
    config = edit(
        "<configuration><interfaces><interface><name>ae0</name>"
        '<description delete="delete"/><unit delete="delete"><name>999</name></unit>'
        '</interface><interface delete="delete"><name>ae1</name></interface>'
        "</interfaces></configuration>"
    )
    ae0 = interface(config, "ae0")
    assert ae0 is not None
    assert ae0.find("description") is None
    assert units(config) == ["100"]
    assert names(config.find("interfaces"), "interface") == ["ae0"]


def test_junos_delete_of_leaf_list_value() -> None:
    target = xml(
        "<configuration><apply-groups>A</apply-groups><apply-groups>B</apply-groups></configuration>"
    )
    tree.edit_config(
        target, xml('<configuration><apply-groups delete="delete">A</apply-groups></configuration>')
    )
    assert [e.text for e in target.iter("apply-groups")] == ["B"]


def test_junos_replace_attribute() -> None:
    config = edit(
        '<configuration><system replace="replace"><domain-name>example.net</domain-name></system>'
        "</configuration>"
    )
    system = config.find("system")
    assert system is not None
    assert [c.tag for c in system] == ["domain-name"]


def test_junos_inactive_and_active() -> None:
    config = edit(
        '<configuration><interfaces><interface inactive="inactive"><name>ae1</name></interface>'
        "</interfaces></configuration>"
    )
    ae1 = interface(config, "ae1")
    assert ae1 is not None
    assert ae1.get("inactive") == "inactive"
    tree.edit_config(
        config,
        xml(
            '<configuration><interfaces><interface active="active"><name>ae1</name>'
            "</interface></interfaces></configuration>"
        ),
    )
    assert ae1.get("inactive") is None


def insert_term(where: str, ref: str | None = None, name: str = "new") -> etree._Element:
    attrs = f'insert="{where}"' + (f' name="{ref}"' if ref else "")
    return edit(
        "<configuration><firewall><family><inet><filter><name>INET_IN</name>"
        f"<term {attrs}><name>{name}</name><then><accept/></then></term>"
        "</filter></inet></family></firewall></configuration>"
    )


def test_insert_before_all_accept() -> None:
    assert terms(insert_term("before", "all-accept")) == ["block", "new", "all-accept"]


def test_insert_after_block() -> None:
    assert terms(insert_term("after", "block")) == ["block", "new", "all-accept"]


def test_insert_first_and_last() -> None:
    assert terms(insert_term("first")) == ["new", "block", "all-accept"]
    assert terms(insert_term("last", name="block")) == ["all-accept", "block"]


def test_insert_moves_existing_entry_with_yang_key() -> None:
    config = edit(
        "<configuration><firewall><family><inet><filter><name>INET_IN</name>"
        '<term insert="after" key="[ name=\'all-accept\' ]"><name>block</name></term>'
        "</filter></inet></family></firewall></configuration>"
    )
    assert terms(config) == ["all-accept", "block"]
    assert config.find("firewall/family/inet/filter/term/then/discard") is not None


def test_insert_missing_reference_is_data_missing() -> None:
    with pytest.raises(NetsimRpcError) as info:
        insert_term("before", "nope")
    assert info.value.tag == "data-missing"
    assert info.value.message == "statement not found: term nope"
    assert info.value.path == "[edit firewall family inet filter INET_IN]"


# --- load ------------------------------------------------------------------------------------


def test_load_merge_keeps_target_untouched() -> None:
    target = base()
    before = tree.canonical_bytes(target)
    new = tree.load(
        target,
        xml("<configuration><system><domain-name>d</domain-name></system></configuration>"),
        action="merge",
    )
    assert tree.canonical_bytes(target) == before
    assert new.findtext("system/host-name") == "r1"
    assert new.findtext("system/domain-name") == "d"


def test_load_replace_honours_replace_tags() -> None:
    new = tree.load(
        base(),
        xml(
            '<configuration><system replace="replace"><domain-name>d</domain-name></system>'
            "<interfaces><interface><name>ae1</name><mtu>1500</mtu></interface></interfaces>"
            "</configuration>"
        ),
        action="replace",
    )
    assert new.find("system/host-name") is None
    assert names(new.find("interfaces"), "interface") == ["ae0", "ae1"]


@pytest.mark.parametrize("action", ["override", "update"])
def test_load_override_and_update_make_the_fragment_the_configuration(action: str) -> None:
    new = tree.load(
        base(),
        xml("<configuration><firewall/><system><host-name>x</host-name></system></configuration>"),
        action=action,
    )
    assert etree.tostring(new) == (
        b"<configuration><system><host-name>x</host-name></system><firewall/></configuration>"
    )


def test_load_unknown_action() -> None:
    with pytest.raises(NetsimRpcError):
        tree.load(base(), xml("<configuration/>"), action="frob")


# --- subtree filter --------------------------------------------------------------------------


def test_filter_selection_node() -> None:
    out = tree.subtree_filter(base(), xml("<configuration><system/></configuration>"))
    assert etree.tostring(out) == (
        b"<configuration><system><host-name>r1</host-name></system></configuration>"
    )


def test_filter_content_match_on_list_key_in_wrapper() -> None:
    out = tree.subtree_filter(
        base(),
        xml(
            f'<filter xmlns="{tree.NC_NS}" type="subtree"><configuration xmlns="{JUNOS_NS}">'
            "<interfaces><interface><name>ae0</name></interface></interfaces>"
            "</configuration></filter>"
        ),
    )
    assert names(out.find("interfaces"), "interface") == ["ae0"]
    assert out.find("interfaces/interface/unit/vlan-id") is not None
    assert [c.tag for c in out] == ["interfaces"]


def test_filter_containment_keeps_list_keys() -> None:
    out = tree.subtree_filter(
        base(),
        xml(
            "<configuration><interfaces><interface><description/></interface></interfaces></configuration>"
        ),
    )
    assert etree.tostring(out) == (
        b"<configuration><interfaces><interface><name>ae0</name>"
        b"<description>downlink</description></interface></interfaces></configuration>"
    )


def test_filter_nothing_matches() -> None:
    out = tree.subtree_filter(
        base(),
        xml(
            "<configuration><interfaces><interface><name>ae9</name></interface></interfaces></configuration>"
        ),
    )
    assert etree.tostring(out) == b"<configuration/>"


def test_empty_configuration_filter_selects_everything() -> None:
    config = base()
    out = tree.subtree_filter(config, xml("<configuration/>"))
    assert tree.canonical_bytes(out) == tree.canonical_bytes(config)


def test_junos_delete_of_a_missing_path_builds_nothing() -> None:
    from nornir_esi.junos.text import parse_set, parse_text

    config = parse_text("interfaces { ae0 { unit 1025 { vlan-id 1025; } } }")
    before = tree.canonical_bytes(config)
    for fragment in parse_set(
        "delete interfaces ae0 unit 1041 family\n"
        "delete firewall family inet filter INET_IN term gone from\n"
        "delete routing-instances VRF routing-options\n"
    ):
        tree.edit_config(config, fragment)
    assert tree.canonical_bytes(config) == before


# --- a delete prunes the containers it empties ------------------------------------------------


PRUNE = """
<configuration>
  <interfaces><interface><name>ae0</name>
    <unit><name>1025</name><family><inet><address><name>10.0.0.2/24</name></address></inet>
    </family></unit>
    <aggregated-ether-options><lacp><active/></lacp></aggregated-ether-options>
  </interface></interfaces>
  <protocols><bgp><group><name>g</name><neighbor><name>10.0.0.3</name></neighbor></group></bgp>
    <lldp><interface><name>all</name></interface></lldp></protocols>
  <routing-instances><instance><name>V</name>
    <routing-options><static><route><name>0.0.0.0/0</name><next-hop>10.0.0.1</next-hop></route>
    </static></routing-options>
  </instance></routing-instances>
  <system><services><ssh/></services></system>
</configuration>
"""


def _deleted(fragment: str) -> etree._Element:
    target = xml(PRUNE)
    tree.edit_config(target, xml(f"<configuration>{fragment}</configuration>"))
    return target


def test_delete_prunes_emptied_ancestors_up_to_one_with_other_children() -> None:
    config = _deleted(
        '<protocols><bgp><group operation="delete"><name>g</name></group></bgp></protocols>'
    )
    protocols = config.find("protocols")
    assert protocols is not None and [c.tag for c in protocols] == ["lldp"]


def test_delete_stops_at_a_list_entry_that_keeps_its_key() -> None:
    config = _deleted(
        "<routing-instances><instance><name>V</name><routing-options><static>"
        '<route delete="delete"><name>0.0.0.0/0</name></route></static></routing-options>'
        "</instance></routing-instances>"
    )
    instance = config.find("routing-instances/instance")
    assert instance is not None and [c.tag for c in instance] == ["name"]


def test_delete_of_the_last_entry_removes_the_top_level_container() -> None:
    config = _deleted(
        '<routing-instances><instance delete="delete"><name>V</name></instance></routing-instances>'
    )
    assert config.find("routing-instances") is None


def test_presence_containers_and_flags_stay() -> None:
    config = _deleted(
        "<interfaces><interface><name>ae0</name><unit><name>1025</name><family><inet>"
        '<address operation="remove"><name>10.0.0.2/24</name></address></inet></family></unit>'
        '<aggregated-ether-options><lacp><active operation="delete"/></lacp>'
        "</aggregated-ether-options></interface></interfaces>"
    )
    unit = config.find("interfaces/interface/unit")
    assert unit is not None and unit.find("family/inet") is not None  # `family inet;`
    assert config.find("interfaces/interface/aggregated-ether-options/lacp") is not None
    assert config.find("system/services/ssh") is not None


def test_an_empty_container_that_nothing_was_deleted_from_stays() -> None:
    target = xml("<configuration><protocols><bgp/></protocols></configuration>")
    tree.edit_config(
        target,
        xml('<configuration><protocols><lldp operation="remove"/></protocols></configuration>'),
    )
    assert target.find("protocols/bgp") is not None
