"""Standard NETCONF operations (RFC 6241) against the running simulator over SSH."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import asyncssh
import pytest
from lxml import etree
from ncclient.operations.rpc import RPCError
from ncclient.transport.errors import TransportError

from nornir_esi.netsim.server import Simulator

from .conftest import connect

UNIT = """
<config><configuration><interfaces><interface><name>ae0</name>
  <unit{op}><name>1025</name><description>inet_gw</description><vlan-id>1025</vlan-id></unit>
</interface></interfaces></configuration></config>
"""
UNIT_FILTER = (
    '<filter type="subtree"><configuration><interfaces><interface><name>ae0</name>'
    "<unit><name>1025</name></unit></interface></interfaces></configuration></filter>"
)


def _unit(op: str = "") -> str:
    return UNIT.format(op=f' operation="{op}"' if op else "")


def _units(reply: object, store: str = "") -> list[str]:
    data = reply.data_ele  # type: ignore[attr-defined]
    return [u.findtext("{*}name") for u in data.iterfind(".//{*}interface/{*}unit")]


def _wait_until(sim: Simulator, predicate: Callable[[], bool], what: str) -> None:
    """Poll with a deadline; each round trip through the simulator's loop paces the poll."""
    deadline = time.monotonic() + 10.0
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        sim.call(lambda: None)


async def _raw_exchange(host: str, port: int, *, exec_command: str | None = None) -> bytes:
    """Speak base:1.0 by hand: our hello, one RPC ended by ]]>]]>, the raw reply."""
    async with asyncssh.connect(host, port, username="esi", password="x", known_hosts=None) as conn:
        if exec_command:
            writer, reader, _ = await conn.open_session(exec_command, encoding=None)
        else:
            writer, reader, _ = await conn.open_session(subsystem="netconf", encoding=None)
        hello = await reader.readuntil(b"]]>]]>")
        assert b"urn:ietf:params:netconf:base:1.1" in hello
        writer.write(
            b'<hello xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><capabilities>'
            b"<capability>urn:ietf:params:netconf:base:1.0</capability></capabilities></hello>"
            b"]]>]]>"
            b'<rpc message-id="7" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
            b"<get-software-information/></rpc>]]>]]>"
        )
        reply = await reader.readuntil(b"]]>]]>")
        writer.close()
        return reply


@pytest.mark.parametrize("exec_command", [None, "xml-mode netconf need-trailer"])
def test_base_10_framing_for_a_client_without_11(
    routers: Simulator, exec_command: str | None
) -> None:
    host, port = routers.address("MX-1")
    raw = asyncio.run(_raw_exchange(host, port, exec_command=exec_command))
    assert not raw.startswith(b"\n#"), "base:1.0 replies are not chunked"
    reply = etree.fromstring(raw[: -len(b"]]>]]>")])
    assert reply.get("message-id") == "7"
    assert reply.findtext(".//{*}host-name") == "MX-1"


def test_get_config_subtree_filter(routers: Simulator) -> None:
    with connect(routers, "MX-1") as m:
        reply = m.get_config(
            "running",
            filter='<filter type="subtree"><configuration><interfaces><interface>'
            "<name>ae0</name></interface></interfaces></configuration></filter>",
        )
        names = [n.text for n in reply.data_ele.iterfind(".//{*}interface/{*}name")]
        assert names == ["ae0"]
        assert reply.data_ele.find(".//{*}firewall") is None


def test_edit_config_operations(routers: Simulator) -> None:
    with connect(routers, "MX-1") as m:
        m.edit_config(target="candidate", config=_unit())
        assert _units(m.get_config("candidate", filter=UNIT_FILTER)) == ["1025"]
        assert _units(m.get_config("running", filter=UNIT_FILTER)) == []
        with pytest.raises(RPCError) as exists:
            m.edit_config(target="candidate", config=_unit("create"))
        assert exists.value.tag == "data-exists"
        m.edit_config(target="candidate", config=_unit("delete"))
        with pytest.raises(RPCError) as missing:
            m.edit_config(target="candidate", config=_unit("delete"))
        assert missing.value.tag == "data-missing"
        m.edit_config(target="candidate", config=_unit("remove"))  # absent: no error
        m.edit_config(target="candidate", config=_unit("create"))
        replaced = _unit("replace").replace("<description>inet_gw</description>", "")
        m.edit_config(target="candidate", config=replaced)
        data = m.get_config("candidate", filter=UNIT_FILTER).data_ele
        assert data.find(".//{*}unit/{*}description") is None
        assert data.findtext(".//{*}unit/{*}vlan-id") == "1025"
        with pytest.raises(RPCError) as running:
            m.edit_config(target="running", config=_unit())
        assert running.value.tag == "operation-not-supported"


def test_edit_config_default_operation_none_and_replace(routers: Simulator) -> None:
    with connect(routers, "MX-1") as m:
        m.edit_config(target="candidate", config=_unit())
        # `none`: elements without an operation only locate; the delete below applies.
        delete_desc = (
            "<config><configuration><interfaces><interface><name>ae0</name><unit><name>1025</name>"
            '<description operation="delete"/></unit></interface></interfaces>'
            "</configuration></config>"
        )
        m.edit_config(target="candidate", config=delete_desc, default_operation="none")
        data = m.get_config("candidate", filter=UNIT_FILTER).data_ele
        assert data.find(".//{*}unit/{*}description") is None
        assert data.findtext(".//{*}unit/{*}vlan-id") == "1025"
        # `replace` (RFC 6241 7.2, Junos alike): the payload becomes the whole candidate.
        m.edit_config(target="candidate", config=_unit(), default_operation="replace")
        candidate = m.get_config("candidate").data_ele.find("{*}configuration")
        assert [etree.QName(c).localname for c in candidate] == ["interfaces"]
        interfaces = candidate.findall("{*}interfaces/{*}interface")
        assert [i.findtext("{*}name") for i in interfaces] == ["ae0"]
        assert [etree.QName(c).localname for c in interfaces[0]] == ["name", "unit"]
        assert _units(m.get_config("candidate")) == ["1025"]
        # Running is untouched until a commit; discarding brings the candidate back.
        running = m.get_config("running").data_ele
        assert running.find(".//{*}firewall") is not None
        assert _units(m.get_config("running", filter=UNIT_FILTER)) == []
        m.discard_changes()
        assert m.get_config("candidate").data_ele.find(".//{*}firewall") is not None


def test_capabilities_in_the_hello(routers: Simulator) -> None:
    with connect(routers, "MX-1") as m:
        caps = set(m.server_capabilities)
        for short in (":base:1.0", ":base:1.1", ":candidate", ":validate", ":confirmed-commit"):
            assert short in m.server_capabilities, short
        assert ":rollback-on-error" in m.server_capabilities
        assert {
            "http://xml.juniper.net/netconf/junos/1.0",
            "http://xml.juniper.net/dmi/system/1.0",
        } <= caps
        # Nothing is advertised that the simulator does not do.
        for missing in (":url", ":confirmed-commit:1.1", ":validate:1.1", ":writable-running"):
            assert missing not in m.server_capabilities, missing
        assert not any("netconf-monitoring" in cap for cap in caps)


def test_edit_config_error_option_rollback_on_error(routers: Simulator) -> None:
    bad = (
        "<config><configuration><system><host-name>HALF</host-name></system>"
        '<interfaces><interface operation="delete"><name>nope</name></interface>'
        "</interfaces></configuration></config>"
    )
    with connect(routers, "MX-1") as m:
        m.edit_config(target="candidate", config=_unit(), error_option="rollback-on-error")
        assert _units(m.get_config("candidate", filter=UNIT_FILTER)) == ["1025"]
        with pytest.raises(RPCError) as err:
            m.edit_config(target="candidate", config=bad, error_option="rollback-on-error")
        assert err.value.tag == "data-missing"
        candidate = m.get_config("candidate").data_ele
        assert candidate.findtext(".//{*}system/{*}host-name") == "MX-1"
        assert _units(m.get_config("candidate", filter=UNIT_FILTER)) == ["1025"]


def test_validate_an_inline_configuration(routers: Simulator) -> None:
    filtered_unit = (
        "<unit><name>7</name><family><inet><filter><input><filter-name>NOPE</filter-name>"
        "</input></filter></inet></family></unit>"
    )
    with connect(routers, "MX-1") as m:
        running = m.get_config("running").data_ele.find("{*}configuration")
        whole = etree.tostring(running).decode()
        assert m.validate(source=etree.fromstring(f"<config>{whole}</config>")).ok
        ae0 = "<description>downlink</description>"
        bad = whole.replace(ae0, ae0 + filtered_unit)
        assert bad != whole
        with pytest.raises(RPCError) as err:
            m.validate(source=etree.fromstring(f"<config>{bad}</config>"))
        assert "Referenced filter 'NOPE' is not defined" in err.value.message
        # What was checked is the inline configuration, not the candidate.
        assert m.validate(source="candidate").ok


def test_bad_edit_changes_nothing(routers: Simulator) -> None:
    with connect(routers, "MX-1") as m:
        before = m.get_config("candidate").data_xml
        with pytest.raises(RPCError):
            # The first element applies, the second fails: rollback-on-error keeps neither.
            m.edit_config(
                target="candidate",
                config="<config><configuration><system><host-name>X</host-name></system>"
                '<interfaces><interface operation="delete"><name>nope</name></interface>'
                "</interfaces></configuration></config>",
            )
        assert m.get_config("candidate").data_xml == before


def test_validate_and_commit(routers: Simulator) -> None:
    with connect(routers, "MX-1") as m:
        m.edit_config(target="candidate", config=_unit())
        assert m.validate(source="candidate").ok
        assert m.commit().ok
        assert _units(m.get_config("running", filter=UNIT_FILTER)) == ["1025"]


def test_validate_reports_junos_error_fields(routers: Simulator) -> None:
    bad = _unit().replace(
        "<vlan-id>1025</vlan-id>",
        "<vlan-id>1025</vlan-id><family><inet><filter><input><filter-name>NOPE</filter-name>"
        "</input></filter></inet></family>",
    )
    with connect(routers, "MX-1") as m:
        m.edit_config(target="candidate", config=bad)
        with pytest.raises(RPCError) as err:
            m.validate(source="candidate")
        xml = etree.tostring(err.value.xml).decode()
        assert "Referenced filter 'NOPE' is not defined" in err.value.message
        assert "[edit interfaces ae0 unit 1025 family inet filter]" in xml
        assert err.value.severity == "error"
        with pytest.raises(RPCError):
            m.commit()
        assert _units(m.get_config("running", filter=UNIT_FILTER)) == []


def test_discard_changes(routers: Simulator) -> None:
    with connect(routers, "MX-1") as m:
        m.edit_config(target="candidate", config=_unit())
        m.discard_changes()
        assert _units(m.get_config("candidate", filter=UNIT_FILTER)) == []


def test_lock_denied_to_second_session_and_released_on_drop(routers: Simulator) -> None:
    first = connect(routers, "MX-1")
    first.lock("candidate")
    first.edit_config(target="candidate", config=_unit())
    with connect(routers, "MX-1") as second:
        with pytest.raises(RPCError) as denied:
            second.lock("candidate")
        assert denied.value.tag == "lock-denied"
        with pytest.raises(RPCError) as in_use:
            second.edit_config(target="candidate", config=_unit())
        assert in_use.value.tag == "in-use"
        # Drop the first session without unlocking: lock and its changes go with it.
        first._session._transport.close()
        _wait_until(routers, lambda: not routers.router("MX-1").lock_owner, "lock release")
        second.lock("candidate")
        assert _units(second.get_config("candidate", filter=UNIT_FILTER)) == []
        second.unlock("candidate")


def test_lock_refused_while_another_session_has_uncommitted_changes(routers: Simulator) -> None:
    with connect(routers, "MX-1") as first, connect(routers, "MX-1") as second:
        first.edit_config(target="candidate", config=_unit())
        with pytest.raises(RPCError) as err:
            second.lock("candidate")
        assert "configuration database modified" in err.value.message
        first.discard_changes()
        assert second.lock("candidate").ok


def test_confirmed_commit_reverts_unless_confirmed(routers: Simulator) -> None:
    with connect(routers, "MX-1") as m:
        m.edit_config(target="candidate", config=_unit())
        m.commit(confirmed=True, timeout="1")
        assert _units(m.get_config("running", filter=UNIT_FILTER)) == ["1025"]
        _wait_until(
            routers,
            lambda: _units(m.get_config("running", filter=UNIT_FILTER)) == [],
            "automatic rollback of an unconfirmed commit",
        )
        # Confirmed in time: a plain commit confirms and the change stays.
        m.edit_config(target="candidate", config=_unit())
        m.commit(confirmed=True, timeout="1")
        m.commit()
        assert not routers.router("MX-1").confirm_pending
        assert _units(m.get_config("running", filter=UNIT_FILTER)) == ["1025"]


def test_cancel_commit_reverts_at_once(routers: Simulator) -> None:
    with connect(routers, "MX-1") as m:
        m.edit_config(target="candidate", config=_unit())
        m.commit(confirmed=True, timeout="600")
        m.cancel_commit()
        assert _units(m.get_config("running", filter=UNIT_FILTER)) == []
        with pytest.raises(RPCError):
            m.cancel_commit()


def test_close_session_and_kill_session(routers: Simulator) -> None:
    victim = connect(routers, "MX-1")
    victim.lock("candidate")
    with connect(routers, "MX-1") as killer:
        killer.kill_session(victim.session_id)
        _wait_until(routers, lambda: not victim.connected, "the killed session to drop")
        assert killer.lock("candidate").ok
        with pytest.raises(RPCError):
            killer.kill_session(killer.session_id)
        with pytest.raises(RPCError) as unknown:
            killer.kill_session("999999")
        assert unknown.value.tag == "invalid-value"
        assert unknown.value.message == "session 999999 does not exist"
        assert killer.get_config("running").ok  # the session lives on
    assert routers.router("MX-1").lock_owner is None
    m = connect(routers, "MX-1")
    m.close_session()
    assert not m.connected
    with pytest.raises(TransportError):
        m.get_config("running")


def test_get_returns_running_configuration_filtered(routers: Simulator) -> None:
    with connect(routers, "MX-1") as m:
        m.edit_config(target="candidate", config=_unit())  # candidate only: get shows running
        reply = m.get(filter=("subtree", UNIT_FILTER.split(">", 1)[1].rsplit("<", 1)[0]))
        assert _units(reply) == []
        m.commit()
        reply = m.get(filter=("subtree", UNIT_FILTER.split(">", 1)[1].rsplit("<", 1)[0]))
        assert _units(reply) == ["1025"]


def test_bad_confirm_timeout_is_an_rpc_error_and_the_session_lives(routers: Simulator) -> None:
    with connect(routers, "MX-1") as m:
        with pytest.raises(RPCError) as err:
            m.commit(confirmed=True, timeout="soon")
        assert err.value.tag == "invalid-value"
        assert m.get_config("running").ok


async def _big_load(host: str, port: int, *, chunked: bool, units: int) -> bytes:
    """Load `units` interface units in one RPC, written 1 KB at a time; return the reply."""
    body = "".join(f"set interfaces ae0 unit {n} vlan-id {n}\n" for n in range(2, units + 2))
    rpc = (
        '<rpc message-id="9" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
        f'<load-configuration action="set" format="text"><configuration-set>{body}'
        "</configuration-set></load-configuration></rpc>"
    ).encode()
    base = b"1.1" if chunked else b"1.0"
    async with asyncssh.connect(host, port, username="esi", password="x", known_hosts=None) as conn:
        writer, reader, _ = await conn.open_session(subsystem="netconf", encoding=None)
        await reader.readuntil(b"]]>]]>")
        writer.write(
            b'<hello xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><capabilities>'
            b"<capability>urn:ietf:params:netconf:base:" + base + b"</capability>"
            b"</capabilities></hello>]]>]]>"
        )
        if chunked:  # several chunks of one message, as RFC 6242 allows
            parts = [rpc[i : i + 3000] for i in range(0, len(rpc), 3000)]
            framed = b"".join(b"\n#%d\n%s" % (len(p), p) for p in parts) + b"\n##\n"
            end = b"\n##\n"
        else:
            framed, end = rpc + b"]]>]]>", b"]]>]]>"
        for i in range(0, len(framed), 1024):
            writer.write(framed[i : i + 1024])
            await writer.drain()
        reply = await reader.readuntil(end)
        writer.close()
        return reply


@pytest.mark.parametrize("chunked", [False, True], ids=["base-1.0", "base-1.1-chunks"])
def test_large_rpc_in_many_packets(routers: Simulator, chunked: bool) -> None:
    host, port = routers.address("MX-1")
    reply = asyncio.run(_big_load(host, port, chunked=chunked, units=800))
    assert b"<ok/>" in reply and b"rpc-error" not in reply
    with connect(routers, "MX-1") as m:
        data = m.get_config("candidate", filter=UNIT_FILTER.replace("1025", "801")).data_ele
        assert data.findtext(".//{*}unit/{*}vlan-id") == "801"
