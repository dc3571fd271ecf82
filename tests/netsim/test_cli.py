"""`nornir-esi netsim` in the foreground, as other tools drive it."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ncclient import manager

from nornir_esi.netsim.hostkeys import host_key

CLI = [sys.executable, "-c", "from nornir_esi.cli import main; main()"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def netsim_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, int]]]:
    ports = {"MX-1": _free_port(), "MX-2": _free_port()}
    day0 = tmp_path / "day0.conf"
    day0.write_text("system { host-name from-file; }\ninterfaces { ae0 { vlan-tagging; } }\n")
    proc = subprocess.Popen(
        [
            *CLI,
            "netsim",
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
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc, ports
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_netsim_prints_a_line_per_router_and_stops_on_a_signal(
    netsim_process: tuple[subprocess.Popen[str], dict[str, int]], stop_signal: signal.Signals
) -> None:
    proc, ports = netsim_process
    assert proc.stdout is not None
    lines = [proc.stdout.readline().strip() for _ in ports]
    for (name, port), line in zip(ports.items(), lines, strict=True):
        key = host_key(name).export_public_key("openssh").decode().split()[1]
        assert line.startswith(f"netsim: {name} (")
        assert f"listening on 127.0.0.1:{port} ssh-ed25519 {key}" in line
    # A client stays connected while the simulator is told to stop.
    m = manager.connect(
        host="127.0.0.1",
        port=ports["MX-1"],
        username="esi",
        password="esiesi0000",
        hostkey_verify=False,
        allow_agent=False,
        look_for_keys=False,
        timeout=30,
        device_params={"name": "junos"},
    )
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
