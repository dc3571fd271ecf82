"""Junos RPCs (what PyEZ, NAPALM and Ansible send) through ncclient's junos device handler."""

from __future__ import annotations

import time

import pytest
from lxml import etree
from ncclient.operations.rpc import RPCError

from nornir_esi.netsim.server import Simulator

from .conftest import VRF, connect, gateway_set, gateway_text


def _xml(reply: object) -> etree._Element:
    """The reply as an element: RPCReply has .xml, the junos handler's NCElement str()s to XML."""
    raw = getattr(reply, "xml", None) or str(reply)
    return etree.fromstring(raw.encode())


def _diff(m: object, rollback: int = 0) -> str:
    reply = m.compare_configuration(rollback=rollback)  # type: ignore[attr-defined]
    return _xml(reply).findtext(".//{*}configuration-output") or ""


def _running_text(m: object) -> str:
    reply = m.rpc(  # type: ignore[attr-defined]
        '<get-configuration database="committed" format="text"/>'
    )
    return _xml(reply).findtext(".//{*}configuration-text") or ""


def _term_order(m: object, filter_name: str) -> list[str]:
    reply = m.rpc('<get-configuration database="committed"/>')  # type: ignore[attr-defined]
    root = _xml(reply)
    for f in root.iterfind(".//{*}firewall/{*}family/{*}inet/{*}filter"):
        if f.findtext("{*}name") == filter_name:
            return [t.findtext("{*}name") or "" for t in f.iterfind("{*}term")]
    raise AssertionError(f"filter {filter_name} missing")


def test_load_text_diff_commit_and_rollback(routers: Simulator) -> None:
    with connect(routers, "MX-1", junos=True) as m:
        m.rpc("<lock-configuration/>")
        m.load_configuration(format="text", action="merge", config=gateway_text("InetGW2-VRRP"))
        diff = _diff(m)
        assert "[edit interfaces ae0]" in diff
        assert "+   unit 1025 {" in diff.splitlines()
        assert f"[edit routing-instances]\n+   {VRF} {{\n" in diff
        reply = m.commit(comment="job create:heat_worker:gw:1")
        assert _xml(reply).find(".//{*}commit-success") is not None
        assert "unit 1025" in _running_text(m)
        assert _diff(m) == "\n"  # PyEZ reads a lone newline as "no difference"
        # Rollback 1 is day-0: loading it and committing removes the gateway again.
        m.rollback(rollback=1)
        lines = _diff(m).splitlines()
        assert "-   unit 1025 {" in lines
        assert not any(line.startswith("+") for line in lines)
        m.commit()
        assert "unit 1025" not in _running_text(m)
        m.rpc("<unlock-configuration/>")


def test_set_commands_with_insert_place_terms_before_all_accept(routers: Simulator) -> None:
    with connect(routers, "MX-1", junos=True) as m:
        m.load_configuration(action="set", config=gateway_set("InetGW2-VRRP"))
        m.commit()
        assert _term_order(m, "INET_IN") == [f"{VRF}_filter", "all-accept"]
        assert _term_order(m, "INET_OUT") == [f"{VRF}_filter", "all-accept"]
        m.load_configuration(action="set", config=f"delete routing-instances {VRF}")
        m.commit()
        assert "routing-instances {\n    UPLINK {" in _running_text(m)
        assert "interface ae0.1025;" not in _running_text(m)


def test_load_xml_text_and_set_give_the_same_configuration(routers: Simulator) -> None:
    configs = []
    with connect(routers, "MX-1", junos=True) as m:
        m.load_configuration(format="text", config=gateway_text("InetGW2-VRRP"))
        text_tree = _xml(m.rpc("<get-configuration/>")).find(".//{*}configuration")
        assert text_tree is not None
        m.rpc('<load-configuration rollback="0"/>')
        payload = etree.fromstring(
            etree.tostring(text_tree).replace(
                b' xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"', b""
            )
        )
        for key in list(payload.attrib):
            del payload.attrib[key]
        m.rpc(
            etree.tostring(
                etree.fromstring(
                    b'<load-configuration action="override" format="xml">'
                    + etree.tostring(payload)
                    + b"</load-configuration>"
                )
            ).decode()
        )
        configs.append(
            _xml(m.rpc('<get-configuration format="set"/>')).findtext(".//{*}configuration-set")
        )
        m.rpc('<load-configuration rollback="0"/>')
        set_text = configs[0] or ""
        m.load_configuration(action="override", format="text", config="")
        m.load_configuration(action="set", config=set_text)
        configs.append(
            _xml(m.rpc('<get-configuration format="set"/>')).findtext(".//{*}configuration-set")
        )
    assert configs[0] == configs[1]
    assert f"set routing-instances {VRF} interface ae0.1025" in (configs[0] or "")


def test_load_actions_replace_override_update(routers: Simulator) -> None:
    with connect(routers, "MX-1", junos=True) as m:
        m.load_configuration(
            format="text",
            action="replace",
            config="interfaces { replace: ae0 { description replaced; } }",
        )
        text = (
            _xml(m.rpc('<get-configuration format="text"/>')).findtext(".//{*}configuration-text")
            or ""
        )
        assert "description replaced;" in text
        assert "flexible-vlan-tagging" not in text.split("ae1")[0]
        m.rpc('<load-configuration rollback="0"/>')
        for action in ("override", "update"):
            m.load_configuration(format="text", action=action, config="system { host-name only; }")
            text = (
                _xml(m.rpc('<get-configuration format="text"/>')).findtext(
                    ".//{*}configuration-text"
                )
                or ""
            )
            assert "host-name only;" in text and "interfaces" not in text, action
            m.rpc('<load-configuration rollback="0"/>')


def test_bad_text_is_refused_and_changes_nothing(routers: Simulator) -> None:
    with connect(routers, "MX-1", junos=True) as m:
        with pytest.raises(RPCError) as err:
            m.load_configuration(
                format="text", config="interfaces { ae0 { unit 1025 { vlan-id 1025; } "
            )
        assert "syntax error" in err.value.message
        assert _diff(m) == "\n"


def test_commit_check_and_commit_errors_name_the_problem(routers: Simulator) -> None:
    with connect(routers, "MX-1", junos=True) as m:
        m.load_configuration(
            format="text",
            config=gateway_text("InetGW2-VRRP").replace("INSTANCE-USER_IN", "NO-SUCH-POLICY"),
        )
        with pytest.raises(RPCError) as err:
            m.commit(check=True)
        assert (
            "Policy error: Policy NO-SUCH-POLICY referenced but not defined"
            in etree.tostring(err.value.xml).decode()
            or "NO-SUCH-POLICY" in err.value.message
        )
        with pytest.raises(RPCError):
            m.commit()
        assert "unit 1025" not in _running_text(m)


def test_commit_confirmed_minutes_revert_and_commit_check_confirms(routers: Simulator) -> None:
    # The fixture's simulator runs with a 0.5 s Junos minute.
    with connect(routers, "MX-1", junos=True) as m:
        m.load_configuration(format="text", config=gateway_text("InetGW2-VRRP"))
        m.commit(confirmed=True, timeout="60")
        assert routers.router("MX-1").confirm_pending
        m.commit(check=True)  # Junos: commit check confirms a pending confirmed commit
        assert not routers.router("MX-1").confirm_pending
        assert "unit 1025" in _running_text(m)


def test_commit_history_carries_the_log_comment(routers: Simulator) -> None:
    with connect(routers, "MX-1", junos=True) as m:
        m.load_configuration(format="text", config=gateway_text("InetGW2-VRRP"))
        m.commit(comment="create:heat_worker:internet_gateway:429e:1:gt36x")
        info = _xml(m.rpc("<get-commit-information/>"))
        first = info.find(".//{*}commit-history")
        assert first is not None
        assert first.findtext("{*}sequence-number") == "0"
        assert first.findtext("{*}log") == "create:heat_worker:internet_gateway:429e:1:gt36x"
        assert first.findtext("{*}user") == "esi"


def test_rollback_information_and_limits(routers: Simulator) -> None:
    with connect(routers, "MX-1", junos=True) as m:
        m.load_configuration(format="text", config=gateway_text("InetGW2-VRRP"))
        m.commit()
        info = _xml(
            m.rpc(
                "<get-rollback-information><rollback>0</rollback><compare>1</compare>"
                "</get-rollback-information>"
            )
        )
        assert "+   unit 1025 {" in (info.findtext(".//{*}configuration-output") or "").replace(
            "+    unit", "+   unit"
        )
        for bad in ("50", "7"):
            with pytest.raises(RPCError):
                m.rollback(rollback=int(bad))


def test_private_configuration_is_isolated(routers: Simulator) -> None:
    with (
        connect(routers, "MX-1", junos=True) as private,
        connect(routers, "MX-1", junos=True) as other,
    ):
        private.rpc("<open-configuration><private/></open-configuration>")
        private.load_configuration(format="text", config="system { host-name PRIVATE; }")
        assert "PRIVATE" not in (
            _xml(other.rpc('<get-configuration format="text"/>')).findtext(
                ".//{*}configuration-text"
            )
            or ""
        )
        # Running moves on under the private copy: its commit is refused, as on Junos.
        other.load_configuration(format="text", config="system { domain-name example.net; }")
        other.commit()
        with pytest.raises(RPCError) as err:
            private.commit()
        assert "configuration database modified" in err.value.message
        private.rpc("<close-configuration/>")


def test_operational_rpcs(routers: Simulator) -> None:
    with connect(routers, "MX-1", junos=True) as m:
        software = _xml(m.rpc("<get-software-information/>"))
        assert software.findtext(".//{*}host-name") == "MX-1"
        assert software.findtext(".//{*}junos-version")
        # No counters before the gateway is committed.
        with pytest.raises(RPCError):
            m.rpc(
                f"<get-firewall-counter-information><filter>INET_IN</filter>"
                f"<countername>{VRF}_IN</countername></get-firewall-counter-information>"
            )
        m.load_configuration(action="set", config=gateway_set("InetGW2-VRRP"))
        m.commit()
        interfaces = _xml(
            m.rpc(
                "<get-interface-information><interface-name>ae0</interface-name>"
                "</get-interface-information>"
            )
        )
        assert interfaces.findtext(".//{*}physical-interface/{*}oper-status") == "up"
        logical = [li.findtext("{*}name") for li in interfaces.iterfind(".//{*}logical-interface")]
        assert logical == ["ae0.1025"]
        counts = []
        for _ in range(2):
            counter = _xml(
                m.rpc(
                    f"<get-firewall-counter-information><filter>INET_IN</filter>"
                    f"<countername>{VRF}_IN</countername></get-firewall-counter-information>"
                )
            )
            counts.append(int(counter.findtext(".//{*}packet-count") or -1))
            routers.call(lambda: None)  # a round trip through the simulator's loop
        assert counts[0] >= 0 and counts[1] >= counts[0]
        filters = _xml(m.rpc("<get-firewall-filter-information/>"))
        names = {c.findtext("{*}counter-name") for c in filters.iterfind(".//{*}counter")}
        assert {f"{VRF}_IN", f"{VRF}_OUT"} <= names
        # The sample gateway's unit applies a VRRP group but has no address, hence no
        # vrrp-group for the group's <*> patterns to match: VRRP does not run on it.
        vrrp = _xml(m.rpc("<get-vrrp-information/>"))
        assert vrrp.find(".//{*}vrrp-information") is not None
        assert vrrp.find(".//{*}vrrp-interface") is None


def _interface(m: object, name: str, database: str = "candidate") -> etree._Element:
    reply = m.rpc(f'<get-configuration database="{database}"/>')  # type: ignore[attr-defined]
    for interface in _xml(reply).iterfind(".//{*}interfaces/{*}interface"):
        if interface.findtext("{*}name") == name:
            return interface
    raise AssertionError(f"interface {name} missing from the {database} configuration")


def _children(el: etree._Element) -> list[str]:
    return [etree.QName(c).localname for c in el]


def test_load_xml_merge_and_replace(routers: Simulator) -> None:
    unit = (
        "<configuration><interfaces><interface><name>ae0</name><unit><name>1025</name>"
        "<description>inet_gw</description><vlan-id>1025</vlan-id></unit></interface>"
        "</interfaces></configuration>"
    )
    with connect(routers, "MX-1", junos=True) as m:
        m.rpc(f'<load-configuration action="merge" format="xml">{unit}</load-configuration>')
        ae0 = _interface(m, "ae0")
        assert ae0.findtext("{*}description") == "downlink"  # merged beside what was there
        assert ae0.find("{*}flexible-vlan-tagging") is not None
        assert ae0.findtext("{*}unit/{*}vlan-id") == "1025"
        # action replace: an element marked replace="replace" is replaced whole ...
        m.rpc(
            '<load-configuration action="replace" format="xml"><configuration><interfaces>'
            '<interface replace="replace"><name>ae0</name><description>replaced</description>'
            "</interface></interfaces></configuration></load-configuration>"
        )
        ae0 = _interface(m, "ae0")
        assert _children(ae0) == ["name", "description"]
        assert ae0.findtext("{*}description") == "replaced"
        # ... and one without the attribute is merged.
        m.rpc(
            '<load-configuration action="replace" format="xml"><configuration><interfaces>'
            "<interface><name>ae1</name><description>uplink-2</description></interface>"
            "</interfaces></configuration></load-configuration>"
        )
        ae1 = _interface(m, "ae1")
        assert ae1.findtext("{*}description") == "uplink-2"
        assert ae1.findtext("{*}unit/{*}name") == "100"
        assert _children(_interface(m, "ae0")) == ["name", "description"]
        m.commit()
        assert _children(_interface(m, "ae0", "committed")) == ["name", "description"]


def test_fifty_rollbacks_are_kept_and_rollback_50_is_out_of_range(routers: Simulator) -> None:
    commits = 52
    with connect(routers, "MX-1", junos=True) as m:
        for n in range(1, commits + 1):
            m.load_configuration(action="set", config=f"set interfaces ae0 description rev-{n}")
            m.commit()
        # Rollback N is what commit 52 - N made; day-0 and commits 1-2 have aged out.
        history = _xml(m.rpc("<get-commit-information/>")).findall(".//{*}commit-history")
        assert [h.findtext("{*}sequence-number") for h in history] == [str(n) for n in range(50)]

        def change(old: int, new: int) -> str:
            return (
                f"[edit interfaces ae0]\n-   description rev-{old};\n+   description rev-{new};\n"
            )

        assert _diff(m, 1) == change(51, 52)
        assert _diff(m, 49) == change(3, 52)
        for bad in (
            '<get-configuration compare="rollback" rollback="50"/>',
            '<load-configuration rollback="50"/>',
        ):
            with pytest.raises(RPCError) as err:
                m.rpc(bad)
            assert err.value.message == "rollback 50 is outside 0-49", bad
        # Plain get-rollback-information: the configuration itself, as XML or text.
        info = _xml(
            m.rpc("<get-rollback-information><rollback>49</rollback></get-rollback-information>")
        )
        assert info.findtext(".//{*}interfaces/{*}interface/{*}description") == "rev-3"
        text = _xml(
            m.rpc(
                "<get-rollback-information><rollback>2</rollback><format>text</format>"
                "</get-rollback-information>"
            )
        ).findtext(".//{*}configuration-output")
        assert "description rev-50;" in (text or "")
        assert "interfaces {" in (text or "")
        m.rpc('<load-configuration rollback="49"/>')
        assert _interface(m, "ae0").findtext("{*}description") == "rev-3"
        assert _diff(m) == change(52, 3)
        m.commit()
        history = _xml(m.rpc("<get-commit-information/>")).findall(".//{*}commit-history")
        assert len(history) == 50
        assert _interface(m, "ae0", "committed").findtext("{*}description") == "rev-3"
        assert _diff(m, 1) == change(52, 3)
        assert _diff(m, 49) == change(4, 3)


def _counter_rpc(filter_name: str, counter: str) -> str:
    return (
        f"<get-firewall-counter-information><filter>{filter_name}</filter>"
        f"<countername>{counter}</countername></get-firewall-counter-information>"
    )


def _packets(m: object, filter_name: str, counter: str) -> int:
    reply = m.rpc(_counter_rpc(filter_name, counter))  # type: ignore[attr-defined]
    return int(_xml(reply).findtext(".//{*}counter/{*}packet-count") or "-1")


def _counter_names(m: object) -> set[str]:
    info = _xml(m.rpc("<get-firewall-filter-information/>"))  # type: ignore[attr-defined]
    return {c.findtext("{*}counter-name") or "" for c in info.iterfind(".//{*}counter")}


def test_counters_follow_the_committed_configuration_and_grow(routers: Simulator) -> None:
    counter_in, counter_out = f"{VRF}_IN", f"{VRF}_OUT"
    with connect(routers, "MX-1", junos=True) as m:
        m.load_configuration(action="set", config=gateway_set("InetGW2-VRRP"))
        # The count action is only in the candidate: no counter yet.
        with pytest.raises(RPCError) as err:
            m.rpc(_counter_rpc("INET_IN", counter_in))
        assert "does not exist" in err.value.message
        assert counter_in not in _counter_names(m)
        m.commit()
        assert {counter_in, counter_out} <= _counter_names(m)
        first = _packets(m, "INET_IN", counter_in)
        assert first >= 0
        deadline = time.monotonic() + 10
        while (later := _packets(m, "INET_IN", counter_in)) <= first:
            assert time.monotonic() < deadline, "the counter never grew"
        assert later > first
        # A committed configuration without the term takes its counter away, and only it.
        m.load_configuration(
            action="set", config=f"delete firewall family inet filter INET_IN term {VRF}_filter"
        )
        assert _packets(m, "INET_IN", counter_in) >= later  # not committed yet: still counting
        m.commit()
        with pytest.raises(RPCError):
            m.rpc(_counter_rpc("INET_IN", counter_in))
        names = _counter_names(m)
        assert counter_in not in names
        assert counter_out in names


def _logical_states(m: object, name: str) -> dict[str, tuple[str, str]]:
    reply = m.rpc(  # type: ignore[attr-defined]
        f"<get-interface-information><interface-name>{name}</interface-name>"
        "</get-interface-information>"
    )
    return {
        li.findtext("{*}name") or "": (
            li.findtext("{*}admin-status") or "",
            li.findtext("{*}oper-status") or "",
        )
        for li in _xml(reply).iterfind(".//{*}logical-interface")
    }


def test_logical_interface_oper_status(routers: Simulator) -> None:
    disabled = "set interfaces ae0 unit 1026 vlan-id 1026\nset interfaces ae0 unit 1026 disable\n"
    with connect(routers, "MX-1", junos=True) as m:
        m.load_configuration(action="set", config=gateway_set("InetGW2-VRRP") + disabled)
        m.commit()
        assert _logical_states(m, "ae0") == {
            "ae0.1025": ("up", "up"),
            "ae0.1026": ("down", "down"),
        }
        assert _logical_states(m, "ae0.1025") == {"ae0.1025": ("up", "up")}
        routers.set_faults("MX-1", links_down={"ae0"})
        assert _logical_states(m, "ae0") == {
            "ae0.1025": ("up", "down"),
            "ae0.1026": ("down", "down"),
        }
        assert _logical_states(m, "ae1") == {"ae1.100": ("up", "up")}  # only ae0 went down
        routers.set_faults("MX-1", links_down=set())
        assert _logical_states(m, "ae0.1025") == {"ae0.1025": ("up", "up")}


def test_unknown_rpc_is_an_rpc_error(routers: Simulator) -> None:
    with connect(routers, "MX-1", junos=True) as m, pytest.raises(RPCError) as err:
        m.rpc("<get-flux-capacitor-information/>")
    assert err.value.tag == "operation-not-supported"
