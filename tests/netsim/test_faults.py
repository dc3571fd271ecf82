"""Faults a test can set on a simulated router, at start and at run time."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import paramiko
import pytest
from lxml import etree
from ncclient.operations.rpc import RPCError
from ncclient.transport.errors import SessionCloseError, SSHError, TransportError

from nornir_esi.netsim.server import RouterSpec, Simulator
from tests.store.helpers import eventually

from .conftest import connect, gateway_text


def _xml(reply: object) -> etree._Element:
    raw = getattr(reply, "xml", None) or str(reply)
    return etree.fromstring(raw.encode())


def _has_gateway(sim: Simulator, name: str) -> bool:
    with connect(sim, name, junos=True) as m:
        text = _xml(m.rpc('<get-configuration database="committed" format="text"/>'))
        return "unit 1025" in (text.findtext(".//{*}configuration-text") or "")


def test_commit_delay_holds_the_commit(routers: Simulator) -> None:
    routers.set_faults("MX-1", commit_delay=0.4)
    with connect(routers, "MX-1", junos=True) as m:
        m.load_configuration(format="text", config=gateway_text("InetGW2-VRRP"))
        started = time.monotonic()
        m.commit()
        assert time.monotonic() - started >= 0.4
    assert _has_gateway(routers, "MX-1")


def test_a_commit_running_when_its_session_ends_still_commits(routers: Simulator) -> None:
    # On Junos the commit is mgd's once it started: killing the session that asked for it
    # (`request system logout`) does not stop it, though the session's lock goes.
    routers.set_faults("MX-1", commit_delay=1.0)
    device = routers.router("MX-1")
    victim = connect(routers, "MX-1", junos=True)
    victim.rpc("<lock-configuration/>")
    victim.load_configuration(format="text", config=gateway_text("InetGW2-VRRP"))
    errors: list[BaseException] = []

    def commit() -> None:
        try:
            victim.commit()
        except BaseException as exc:  # the session is killed under it
            errors.append(exc)

    thread = threading.Thread(target=commit, daemon=True)
    thread.start()
    eventually(
        lambda: routers.call(lambda: device._commit_lock.locked()), what="the commit running"
    )
    with connect(routers, "MX-1", junos=True) as killer:
        killer.kill_session(victim.session_id)
    thread.join(30)
    assert errors, "the killed session's commit answered"
    eventually(lambda: _has_gateway(routers, "MX-1"), timeout=10, what="the commit applied")
    assert routers.call(lambda: device.lock_owner) is None
    assert not routers.call(lambda: device.candidate_modified())


def test_fail_next_commits_with_a_message(routers: Simulator) -> None:
    routers.set_faults("MX-1", fail_commits=2, fail_message="commit failed: RE mastership switch")
    with connect(routers, "MX-1", junos=True) as m:
        m.load_configuration(format="text", config=gateway_text("InetGW2-VRRP"))
        m.commit(check=True)  # checks are not commits: they pass
        for _ in range(2):
            with pytest.raises(RPCError) as err:
                m.commit()
            assert "RE mastership switch" in err.value.message
        assert not _has_gateway(routers, "MX-1")
        m.commit()  # the third one goes through
    assert _has_gateway(routers, "MX-1")


@pytest.mark.parametrize("after_apply", [True, False])
def test_drop_session_mid_commit(routers: Simulator, after_apply: bool) -> None:
    routers.set_faults("MX-1", drop_on_commit=1, drop_after_apply=after_apply)
    m = connect(routers, "MX-1", junos=True)
    m.rpc("<lock-configuration/>")
    m.load_configuration(format="text", config=gateway_text("InetGW2-VRRP"))
    with pytest.raises((SessionCloseError, TransportError)):
        m.commit()
    # Either the commit landed before the drop or nothing did; the lock is gone either way.
    assert _has_gateway(routers, "MX-1") is after_apply
    assert routers.call(lambda: routers.router("MX-1").lock_owner) is None


def test_unconfirmed_commit_survives_a_drop_only_until_its_timeout(routers: Simulator) -> None:
    routers.set_faults("MX-1", drop_on_commit=1, drop_after_apply=True)
    m = connect(routers, "MX-1", junos=True)
    m.load_configuration(format="text", config=gateway_text("InetGW2-VRRP"))
    with pytest.raises((SessionCloseError, TransportError)):
        m.commit(confirmed=True, timeout="60")  # one simulated minute: 0.5 s here
    assert _has_gateway(routers, "MX-1")
    deadline = time.monotonic() + 10
    while _has_gateway(routers, "MX-1"):
        assert time.monotonic() < deadline, "the unconfirmed commit was never rolled back"
    assert not routers.call(lambda: routers.router("MX-1").confirm_pending)


def test_refuse_connections_and_recover(routers: Simulator) -> None:
    routers.set_faults("MX-2", refuse_connections=True)
    with pytest.raises((SSHError, OSError, paramiko.SSHException)):
        connect(routers, "MX-2")
    with connect(routers, "MX-1") as m:  # the other router is unaffected
        assert m.get_config("running").ok
    routers.set_faults("MX-2", refuse_connections=False)
    with connect(routers, "MX-2") as m:
        assert m.get_config("running").ok


def test_lock_held_by_another_session(routers: Simulator) -> None:
    routers.set_faults("MX-1", hold_lock=True)
    with connect(routers, "MX-1", junos=True) as m:
        with pytest.raises(RPCError) as err:
            m.rpc("<lock-configuration/>")
        assert "locked by" in err.value.message
        with pytest.raises(RPCError):
            m.load_configuration(format="text", config=gateway_text("InetGW2-VRRP"))
        routers.set_faults("MX-1", hold_lock=False)
        m.rpc("<lock-configuration/>")
        m.rpc("<unlock-configuration/>")


def test_link_down_shows_in_interface_state(routers: Simulator) -> None:
    routers.set_faults("MX-1", links_down={"ae0"})
    with connect(routers, "MX-1", junos=True) as m:
        info = _xml(
            m.rpc(
                "<get-interface-information><interface-name>ae0</interface-name>"
                "</get-interface-information>"
            )
        )
        assert info.findtext(".//{*}physical-interface/{*}oper-status") == "down"
        assert info.findtext(".//{*}physical-interface/{*}admin-status") == "up"


def test_faults_set_at_start_from_the_router_spec() -> None:
    spec = RouterSpec.parse(
        "MX-9=127.0.0.1:0,role=secondary,fail-commits=1,fail-message=boom,commit-delay=0.1"
    )
    assert (spec.role, spec.faults.fail_commits, spec.faults.fail_message) == (
        "secondary",
        1,
        "boom",
    )
    with Simulator([spec]) as sim, connect(sim, "MX-9", junos=True) as m:
        m.load_configuration(format="text", config="system { domain-name example.net; }")
        with pytest.raises(RPCError) as err:
            m.commit()
        assert err.value.message == "boom"
        m.commit()


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("MX-1", "expected NAME=HOST:PORT"),
        ("MX-1=127.0.0.1", "is not HOST:PORT"),
        ("MX-1=127.0.0.1:830,role=backup", "role 'backup'"),
        ("MX-1=127.0.0.1:830,wobble=1", "unknown option 'wobble'"),
        ("MX-1=127.0.0.1:830,fail-commits=many", "fail_commits='many' is not valid"),
        ("MX-1=127.0.0.1:830,day0=/nonexistent/mx1.conf", "day0 /nonexistent/mx1.conf: No such"),
    ],
)
def test_bad_router_spec_is_refused(spec: str, complaint: str) -> None:
    from nornir_esi.exceptions import NetsimError

    with pytest.raises(NetsimError, match=complaint):
        RouterSpec.parse(spec)


def test_day0_file_from_the_router_spec(tmp_path: Path) -> None:
    day0 = tmp_path / "mx9.conf"
    day0.write_text("system { host-name from-spec; }\ninterfaces { ae7 { description spec; } }\n")
    specs = [RouterSpec.parse(f"MX-9=127.0.0.1:0,day0={day0}"), RouterSpec("MX-8", port=0)]
    with Simulator(specs, day0="system { host-name from-simulator; }") as sim:
        with connect(sim, "MX-9", junos=True) as m:
            text = _xml(m.rpc('<get-configuration database="committed" format="text"/>'))
            running = text.findtext(".//{*}configuration-text") or ""
            assert "host-name from-spec;" in running
            assert "ae7 {\n        description spec;" in running
            assert "ae0" not in running  # not the built-in day-0 either
        with connect(sim, "MX-8", junos=True) as m:  # a router without one: the simulator's
            software = _xml(m.rpc("<get-software-information/>"))
            assert software.findtext(".//{*}host-name") == "from-simulator"


def test_reset_returns_to_day0_and_clears_faults(routers: Simulator) -> None:
    with connect(routers, "MX-1", junos=True) as m:
        m.load_configuration(format="text", config=gateway_text("InetGW2-VRRP"))
        m.commit()
    routers.set_faults("MX-1", fail_commits=5)
    routers.reset("MX-1")
    assert not _has_gateway(routers, "MX-1")
    assert routers.call(lambda: routers.router("MX-1").faults.fail_commits) == 0
    assert routers.call(lambda: len(routers.router("MX-1").history)) == 1


def test_refuse_connections_set_at_start_holds_the_port_until_cleared() -> None:
    spec = RouterSpec.parse("MX-9=127.0.0.1:0,refuse-connections=1")
    with Simulator([spec]) as sim:
        host, port = sim.address("MX-9")
        assert port != 0, "port 0 is resolved while refusing"
        (line,) = sim.listening_lines()
        assert f"netsim: MX-9 (primary) refusing connections on {host}:{port} " in line
        assert "listening" not in line
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host, port), timeout=5).close()
        # The port is held: nobody else can bind it while the router refuses.
        with socket.socket() as other, pytest.raises(OSError):
            other.bind((host, port))
        sim.set_faults("MX-9", refuse_connections=False)
        assert sim.address("MX-9") == (host, port)
        assert f"listening on {host}:{port} " in sim.listening_lines()[0]
        with connect(sim, "MX-9", junos=True) as m:
            assert "<host-name>MX-9</host-name>" in str(m.rpc("<get-software-information/>"))


def test_hold_lock_set_at_start_from_the_router_spec() -> None:
    spec = RouterSpec.parse("MX-9=127.0.0.1:0,hold-lock=1")
    with Simulator([spec]) as sim, connect(sim, "MX-9", junos=True) as m:
        with pytest.raises(RPCError) as err:
            m.rpc("<lock-configuration/>")
        assert "locked by: netsim-fault" in err.value.message
        with pytest.raises(RPCError) as in_use:
            m.load_configuration(format="text", config="system { domain-name example.net; }")
        assert in_use.value.tag == "in-use"
        sim.set_faults("MX-9", hold_lock=False)
        m.rpc("<lock-configuration/>")
        m.load_configuration(format="text", config="system { domain-name example.net; }")
        m.commit()
        m.rpc("<unlock-configuration/>")
