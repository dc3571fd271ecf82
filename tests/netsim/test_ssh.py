"""SSH login (password and public key), stable host keys, and many routers in one process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncssh
import paramiko
import pytest
from ncclient import manager
from ncclient.devices.default import DefaultDeviceHandler
from ncclient.transport.errors import AuthenticationError, SSHError
from ncclient.transport.ssh import SSHSession

from nornir_esi.netsim.hostkeys import host_key, known_hosts_line
from nornir_esi.netsim.server import RouterSpec, Simulator


def _connect(sim: Simulator, name: str, **kwargs: object) -> object:
    host, port = sim.address(name)
    defaults: dict[str, object] = {
        "hostkey_verify": False,
        "allow_agent": False,
        "look_for_keys": False,
        "timeout": 30,
    }
    defaults.update(kwargs)
    return manager.connect(host=host, port=port, **defaults)


def test_users_restrict_password_login() -> None:
    with Simulator([RouterSpec("R1", "127.0.0.1", 0)], users={"esi": "esiesi0000"}) as sim:
        with _connect(sim, "R1", username="esi", password="esiesi0000") as m:  # type: ignore[attr-defined]
            assert m.connected
        for user, password in (("esi", "wrong"), ("root", "esiesi0000")):
            with pytest.raises(AuthenticationError):
                _connect(sim, "R1", username=user, password=password)


def test_any_account_in_lab_mode(routers: Simulator) -> None:
    with _connect(routers, "MX-1", username="whoever", password="anything") as m:  # type: ignore[attr-defined]
        assert m.connected


def test_public_key_login(tmp_path: Path) -> None:
    good = asyncssh.generate_private_key("ssh-ed25519")
    other = asyncssh.generate_private_key("ssh-ed25519")
    good.write_private_key(tmp_path / "good", format_name="openssh")
    other.write_private_key(tmp_path / "other", format_name="openssh")
    public = good.export_public_key("openssh").decode()
    with Simulator(
        [RouterSpec("R1", "127.0.0.1", 0)],
        users={"esi": "esiesi0000"},
        authorized_keys={"esi": [public]},
    ) as sim:
        with _connect(sim, "R1", username="esi", key_filename=str(tmp_path / "good")) as m:  # type: ignore[attr-defined]
            assert m.connected
        with pytest.raises(AuthenticationError):
            _connect(sim, "R1", username="esi", key_filename=str(tmp_path / "other"))


def test_host_key_is_stable_per_router_and_differs_between_routers() -> None:
    first = host_key("MX-1").export_public_key("openssh")
    assert first == host_key("MX-1").export_public_key("openssh")
    assert first != host_key("MX-2").export_public_key("openssh")
    assert first != host_key("MX-1", seed=b"lab").export_public_key("openssh")
    assert known_hosts_line("MX-1", "127.0.0.1", 830).startswith("[127.0.0.1]:830 ssh-ed25519 ")


def test_host_key_verified_against_known_hosts(routers: Simulator, tmp_path: Path) -> None:
    good = tmp_path / "known_hosts"
    good.write_text(routers.known_hosts())
    host, port = routers.address("MX-1")
    with _verified(host, port, good) as m:  # type: ignore[attr-defined]
        assert m.connected
    wrong = tmp_path / "wrong_hosts"
    wrong.write_text(known_hosts_line("MX-2", host, port))  # MX-2's key for MX-1's address
    with pytest.raises((SSHError, paramiko.SSHException)):
        _verified(host, port, wrong)


def _verified(host: str, port: int, known_hosts: Path) -> object:
    """Connect with host-key checking against ``known_hosts`` only (not ~/.ssh/known_hosts)."""

    session = SSHSession(DefaultDeviceHandler({}))
    session.load_known_hosts(str(known_hosts))
    session.connect(
        host=host,
        port=port,
        username="esi",
        password="x",
        hostkey_verify=True,
        allow_agent=False,
        look_for_keys=False,
        timeout=30,
    )
    return manager.Manager(session, DefaultDeviceHandler({}), timeout=30)


def test_hundred_routers_in_one_process() -> None:
    specs = [
        # Own loopback address each; ephemeral ports so parallel runs never collide.
        RouterSpec(f"R{i:03d}", f"127.66.0.{i}", 0, role="primary" if i % 2 else "secondary")
        for i in range(1, 101)
    ]

    async def scenario() -> list[str]:
        async with Simulator(specs) as sim:

            async def one(spec: RouterSpec) -> str:
                async with asyncssh.connect(
                    spec.host, spec.port, username="esi", password="x", known_hosts=None
                ) as conn:
                    writer, reader, _ = await conn.open_session(subsystem="netconf", encoding=None)
                    await reader.readuntil(b"]]>]]>")
                    writer.write(
                        b'<hello xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><capabilities>'
                        b"<capability>urn:ietf:params:netconf:base:1.0</capability>"
                        b"</capabilities></hello>]]>]]>"
                        b'<rpc message-id="1" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
                        b"<get-software-information/></rpc>]]>]]>"
                    )
                    reply = await reader.readuntil(b"]]>]]>")
                    writer.close()
                    return reply.decode()

            assert len(sim.routers) == 100
            return await asyncio.gather(*(one(spec) for spec in specs))

    replies = asyncio.run(scenario())
    for spec, reply in zip(specs, replies, strict=True):
        assert f"<host-name>{spec.name}</host-name>" in reply
