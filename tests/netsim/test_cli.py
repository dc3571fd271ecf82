"""`nornir-esi netsim` in the foreground, as other tools drive it."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from ncclient import manager
from ncclient.operations.rpc import RPCError
from ncclient.transport.errors import AuthenticationError

from nornir_esi.netsim.hostkeys import host_key

CLI = [sys.executable, "-c", "from nornir_esi.cli import main; main()"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _netsim(*args: str) -> Iterator[subprocess.Popen[str]]:
    """``nornir-esi netsim ARGS`` in the foreground; killed at the end if still running."""
    proc = subprocess.Popen(
        [*CLI, "netsim", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def _lines(proc: subprocess.Popen[str], count: int) -> list[str]:
    """The first ``count`` lines it prints (one per router, once they all listen)."""
    assert proc.stdout is not None
    return [proc.stdout.readline().strip() for _ in range(count)]


def _connect(port: int, username: str = "esi", password: str = "esiesi0000") -> Any:
    return manager.connect(
        host="127.0.0.1",
        port=port,
        username=username,
        password=password,
        hostkey_verify=False,
        allow_agent=False,
        look_for_keys=False,
        timeout=30,
        device_params={"name": "junos"},
    )


@pytest.fixture
def netsim_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, int]]]:
    ports = {"MX-1": _free_port(), "MX-2": _free_port()}
    day0 = tmp_path / "day0.conf"
    day0.write_text("system { host-name from-file; }\ninterfaces { ae0 { vlan-tagging; } }\n")
    with _netsim(
        "--router",
        f"MX-1=127.0.0.1:{ports['MX-1']},role=secondary",
        "--router",
        f"MX-2=127.0.0.1:{ports['MX-2']},role=primary",
        "--day0",
        str(day0),
        "--user",
        "esi:esiesi0000",
        "--commit-delay",
        "0",
    ) as proc:
        yield proc, ports


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_netsim_prints_a_line_per_router_and_stops_on_a_signal(
    netsim_process: tuple[subprocess.Popen[str], dict[str, int]], stop_signal: signal.Signals
) -> None:
    proc, ports = netsim_process
    lines = _lines(proc, len(ports))
    roles = {"MX-1": "secondary", "MX-2": "primary"}
    for (name, port), line in zip(ports.items(), lines, strict=True):
        key = host_key(name).export_public_key("openssh").decode().split()[1]
        assert line.startswith(f"netsim: {name} ({roles[name]}) ")
        assert f"listening on 127.0.0.1:{port} ssh-ed25519 {key}" in line
    # A client stays connected while the simulator is told to stop.
    m = _connect(ports["MX-1"])
    reply = m.rpc("<get-software-information/>")
    assert "<host-name>from-file</host-name>" in str(reply)
    proc.send_signal(stop_signal)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "netsim: stopped" in out


def test_netsim_refuses_bad_router_spec() -> None:
    result = subprocess.run(
        [*CLI, "netsim", "--router", "MX-1=nowhere"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "router spec 'MX-1=nowhere'" in result.stderr


def test_netsim_reports_a_port_in_use() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [*CLI, "netsim", "--router", f"MX-1=127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"router MX-1: cannot listen on 127.0.0.1:{port}" in result.stderr


@pytest.mark.parametrize(("username", "password"), [("esi", "wrong"), ("mallory", "esiesi0000")])
def test_netsim_with_users_refuses_other_logins(
    netsim_process: tuple[subprocess.Popen[str], dict[str, int]], username: str, password: str
) -> None:
    proc, ports = netsim_process
    _lines(proc, len(ports))
    with pytest.raises(AuthenticationError):
        _connect(ports["MX-1"], username, password)
    with _connect(ports["MX-1"]) as m:  # the account given with --user gets in
        assert "<host-name>from-file</host-name>" in str(m.rpc("<get-software-information/>"))


def test_netsim_flags_end_to_end() -> None:
    """No --user (lab mode), --commit-delay, and faults set inside --router."""
    mx1, mx2 = _free_port(), _free_port()
    with _netsim(
        "--router",
        f"MX-1=127.0.0.1:{mx1},role=secondary,fail-commits=1,fail-message=commit failed: RE busy",
        "--router",
        f"MX-2=127.0.0.1:{mx2},refuse-connections=1",
        "--commit-delay",
        "0.3",
    ) as proc:
        first, second = _lines(proc, 2)
        assert first.startswith(f"netsim: MX-1 (secondary) listening on 127.0.0.1:{mx1} ")
        assert second.startswith(f"netsim: MX-2 (primary) refusing connections on 127.0.0.1:{mx2} ")
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", mx2), timeout=5).close()
        # Without --user any account logs in.
        with _connect(mx1, "anyone", "anything") as m:
            m.load_configuration(format="text", config="system { domain-name example.net; }")
            with pytest.raises(RPCError) as err:
                m.commit()
            assert err.value.message == "commit failed: RE busy"
            started = time.monotonic()
            m.commit()  # the fault was for one commit; this one takes the commit delay
            assert time.monotonic() - started >= 0.3
            running = m.rpc('<get-configuration database="committed" format="text"/>')
            assert "domain-name example.net;" in str(running)
