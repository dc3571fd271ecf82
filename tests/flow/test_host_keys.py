"""Routers' NETCONF host keys: recorded by the simulator at start, verified by the workers.

The session's known_hosts file is ``$ESI_KNOWN_HOSTS`` (tests/conftest.py). A router whose
key is not there, or whose key differs from the one there, is refused before a password
is sent; the job fails naming the router and the reason, and nothing is configured.
"""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest

from nornir_esi.contract import desired
from nornir_esi.device.known_hosts import ACCEPT_ENV, FILE_ENV, HostKeyPolicy, record
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.exceptions import HostKeyError
from nornir_esi.netsim.hostkeys import host_key, known_hosts_line
from nornir_esi.netsim.server import Simulator
from nornir_esi.pair.devices import NornirDevices
from nornir_esi.store.base import Store

from .conftest import INVENTORY, ROUTERS


def _router(pair: Simulator, name: str) -> dict[str, object]:
    """An edge_router body reaching the simulated router directly (no overrides file)."""
    host, port = pair.address(name)
    return {"id": name, "name": name, "ip": host, "ssh_port": port, "login": "esi",
            "password": "lab"}  # fmt: skip


def _copy_without(known_hosts: str, tmp_path: Path, name: str, pair: Simulator) -> Path:
    host, port = pair.address(name)
    path = tmp_path / "known_hosts"
    lines = Path(known_hosts).read_text().splitlines()
    path.write_text("".join(f"{line}\n" for line in lines if f"[{host}]:{port}" not in line))
    return path


def test_the_simulator_records_each_routers_key_at_start(pair: Simulator, known_hosts: str) -> None:
    policy = HostKeyPolicy(Path(known_hosts))
    for name in ROUTERS.values():
        host, port = pair.address(name)
        options = policy.connect_options(name, host, port)
        expected = host_key(name).export_public_key("openssh").decode().split()[1]
        assert options == {"hostkey_verify": True, "hostkey_b64": expected}


def test_a_router_with_its_recorded_key_is_reached(pair: Simulator) -> None:
    name = ROUTERS["primary"]
    assert NornirDevices().counters(_router(pair, name), []) == {}


def test_an_unknown_key_fails_before_connecting_unless_the_operator_opts_in(
    pair: Simulator, known_hosts: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = ROUTERS["primary"]
    host, port = pair.address(name)
    monkeypatch.setenv(FILE_ENV, str(_copy_without(known_hosts, tmp_path, name, pair)))
    with pytest.raises(HostKeyError) as failed:
        NornirDevices().counters(_router(pair, name), [])
    message = str(failed.value)
    assert f"router {name}: connect: host key of [{host}]:{port} unknown" in message
    assert str(tmp_path / "known_hosts") in message and ACCEPT_ENV in message

    monkeypatch.setenv(ACCEPT_ENV, "1")
    assert NornirDevices().counters(_router(pair, name), []) == {}


def test_a_different_key_is_refused_as_a_mismatch(
    pair: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = ROUTERS["secondary"]
    host, port = pair.address(name)
    path = tmp_path / "known_hosts"
    # The address's recorded key is another router's: what a man in the middle looks like.
    record(path, [known_hosts_line(name, host, port, seed=b"an impostor")])
    monkeypatch.setenv(FILE_ENV, str(path))
    # Opting in to unknown keys does not cover a changed key.
    monkeypatch.setenv(ACCEPT_ENV, "1")
    with pytest.raises(HostKeyError, match=rf"router {name}: connect: host key mismatch"):
        NornirDevices().counters(_router(pair, name), [])


def test_record_replaces_the_lines_of_the_same_address(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    path.write_text("[127.0.0.1]:830 ssh-ed25519 AAAAold\n[127.0.0.1]:831 ssh-ed25519 AAAAkeep\n")
    record(path, [known_hosts_line("MX-1", "127.0.0.1", 830)])
    lines = path.read_text().splitlines()
    assert lines == [
        "[127.0.0.1]:831 ssh-ed25519 AAAAkeep",
        known_hosts_line("MX-1", "127.0.0.1", 830),
    ]


def test_a_job_on_a_router_with_an_unknown_key_fails_and_configures_nothing(
    pair: Simulator,
    service_store: Store,
    known_hosts: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = service_store
    desired.apply(store, desired.load_file(INVENTORY / "resources.yaml"))
    name = ROUTERS["secondary"]
    monkeypatch.setenv(FILE_ENV, str(_copy_without(known_hosts, tmp_path, name, pair)))
    before = {n: pair.router(n).running for n in ROUTERS.values()}
    ((gw_type, gateway),) = desired.load_file(INVENTORY / "gateway.yaml")
    desired.apply(store, [(gw_type, gateway)])
    state = wait_for_state(store, gw_type, gateway["id"], timeout=60)
    assert state is not None and state.worker_state == "CREATE_FAILED"
    assert f"router {name}: connect: host key of" in state.error
    assert {n: pair.router(n).running for n in ROUTERS.values()} == before


def test_hashed_names_are_found_too(pair: Simulator, tmp_path: Path) -> None:
    """``ssh-keygen -H`` hashes the names in known_hosts: the lookup still finds them."""
    name = ROUTERS["primary"]
    host, port = pair.address(name)
    plain = known_hosts_line(name, host, port).split(" ", 1)
    hashed = paramiko.HostKeys.hash_host(f"[{host}]:{port}")
    path = tmp_path / "known_hosts"
    path.write_text(f"{hashed} {plain[1]}\n")
    assert (
        HostKeyPolicy(path).connect_options(name, host, port)["hostkey_b64"]
        == (plain[1].split()[1])
    )
    assert HostKeyPolicy(path).connect_options(name, host, port + 1) == {"hostkey_verify": True}
