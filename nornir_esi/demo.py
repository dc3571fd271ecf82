"""``make demo``: the seed's gateway provisioned on a simulated router pair, end to end.

Starts two simulated MX routers on loopback (MX-1 secondary, MX-2 primary, each with the
day-0 configuration and a 0.5 s commit), then, over NETCONF/SSH: locks both candidates,
loads the gateway on both, commit-checks both, commits with ``commit confirmed`` on the
backup router first and the master second, confirms both, and prints what each router
shows: ``show | compare rollback 1``, VRRP state, interface state and the gateway's
firewall counters. Everything stops at the end.
"""

from __future__ import annotations

import sys
import time
from contextlib import ExitStack
from typing import Any

from lxml import etree

from nornir_esi import netconf
from nornir_esi.netsim.device import Role
from nornir_esi.netsim.sample import VRF, gateway_set
from nornir_esi.netsim.server import RouterSpec, Simulator

PAIR: dict[str, tuple[Role, str]] = {
    "MX-1": ("secondary", "InetGW2-VRRP"),
    "MX-2": ("primary", "InetGW1-VRRP"),
}


def _connect(sim: Simulator, name: str) -> Any:
    host, port = sim.address(name)
    return netconf.connect(host, port, username="esi", password="esiesi0000")


def _xml(reply: object) -> etree._Element:
    return etree.fromstring(str(reply).encode())


def _step(message: str) -> None:
    print(f"==> {message}", flush=True)


def main() -> int:
    specs = [RouterSpec(name, "127.0.0.1", 0, role=role) for name, (role, _) in PAIR.items()]
    started = time.monotonic()
    with Simulator(specs, commit_delay=0.5) as sim, ExitStack() as stack:
        for line in sim.listening_lines():
            print(line)
        sessions = {name: stack.enter_context(_connect(sim, name)) for name in PAIR}
        _step("lock both candidates")
        for m in sessions.values():
            m.rpc("<lock-configuration/>")
        _step("load the gateway on both")
        for name, m in sessions.items():
            m.load_configuration(action="set", config=gateway_set(PAIR[name][1]))
        _step("commit check on both")
        for m in sessions.values():
            m.commit(check=True)
        # The backup router of the gateway's VRRP group goes first: if anything fails
        # there, the master still forwards and nothing is lost.
        order = sorted(PAIR, key=lambda n: PAIR[n][0] != "secondary")
        for name in order:
            _step(f"commit confirmed on {name} ({PAIR[name][0]})")
            sessions[name].commit(confirmed=True, timeout="600", comment="demo: sample gateway")
        _step("confirm both, unlock")
        for m in sessions.values():
            m.commit(comment="demo: confirm")
            m.rpc("<unlock-configuration/>")
        for name, m in sessions.items():
            print(f"\n## {name} ({PAIR[name][0]}): show | compare rollback 2")
            info = _xml(
                m.rpc(
                    "<get-rollback-information><rollback>0</rollback>"
                    "<compare>2</compare></get-rollback-information>"
                )
            )
            print(info.findtext(".//{*}configuration-output"), end="")
            vrrp = _xml(m.rpc("<get-vrrp-information/>"))
            for entry in vrrp.iterfind(".//{*}vrrp-interface"):
                print(
                    f"vrrp: {entry.findtext('{*}interface')} "
                    f"{entry.findtext('{*}vrrp-state')} ({entry.findtext('{*}config-group')})"
                )
            links = _xml(
                m.rpc(
                    "<get-interface-information><interface-name>ae0.1025"
                    "</interface-name></get-interface-information>"
                )
            )
            for logical in links.iterfind(".//{*}logical-interface"):
                print(
                    f"interface: {logical.findtext('{*}name')} {logical.findtext('{*}oper-status')}"
                )
            for filter_name, suffix in (("INET_IN", "IN"), ("INET_OUT", "OUT")):
                counter = _xml(
                    m.rpc(
                        f"<get-firewall-counter-information><filter>{filter_name}</filter>"
                        f"<countername>{VRF}_{suffix}</countername>"
                        "</get-firewall-counter-information>"
                    )
                )
                print(
                    f"counter: {filter_name} {VRF}_{suffix} "
                    f"packets={counter.findtext('.//{*}packet-count')}"
                )
    print(f"\ndone in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
