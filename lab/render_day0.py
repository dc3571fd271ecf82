"""Render lab/day0/<router>.conf, the day-0 of each vJunos router of the containerlab lab.

Each file is a per-router preamble (what the VM needs to be reachable: host-name, root and
``esi`` logins, fxp0, the ae0 member links) merged with every statement of the simulator's
``nornir_esi/netsim/day0.conf`` but ``version`` (the image has its own), so the lab starts
from the day-0 the simulator and the tests start from. The per-router values come from the
topology (node names, ``mgmt-ipv4``, the links) and from ``inventory/resources.yaml`` (the
edge_router's login and password), so none of them is written twice. The generated files
are committed; ``tests/test_lab.py`` fails when they differ from what this renders.

    .venv/bin/python lab/render_day0.py           # rewrite lab/day0/*.conf
    .venv/bin/python lab/render_day0.py --check   # exit 1 when they are stale

Passwords are placeholders, not secrets: the ``esi`` user gets the sample password
``esiesi0000`` (the resources name it by reference, ``{ref: env:ESI_ROUTER_PASSWORD}``: run
the workers with ``ESI_ROUTER_PASSWORD=esiesi0000``), or ``$ESI_LAB_PASSWORD`` when set
(then do not commit the result, and give the workers that password); root gets vrnetlab's
published default, which vrnetlab's own init.conf sets too.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from lxml import etree

from nornir_esi.junos import tree
from nornir_esi.junos.text import parse_text, render_text

LAB = Path(__file__).resolve().parent
REPO = LAB.parent
TOPOLOGY = LAB / "esi-pair.clab.yml"
RESOURCES = REPO / "inventory" / "resources.yaml"
NETSIM_DAY0 = REPO / "nornir_esi" / "netsim" / "day0.conf"

KIND = "juniper_vjunosrouter"
LAG = "ae0"  # the HA interface's members: every link of the topology is one of its members
NOT_CARRIED = frozenset({"version"})  # netsim day-0 statements the lab files leave out
ROOT_PASSWORD = "admin@123"  # vrnetlab's default root password (its init.conf sets it too)
PASSWORD_ENV = "ESI_LAB_PASSWORD"
# The esi user's placeholder when the resources name the password by reference ({ref:
# env:ESI_ROUTER_PASSWORD}): the workers of the lab run with ESI_ROUTER_PASSWORD set to it.
SAMPLE_PASSWORD = "esiesi0000"

Element = etree._Element


@dataclass(frozen=True)
class Member:
    """One ae0 member link: the local port and the peer's end."""

    port: str
    peer: str
    peer_port: str


@dataclass(frozen=True)
class Node:
    """A router of the topology, as its day-0 needs it."""

    name: str
    mgmt: ipaddress.IPv4Interface  # the node's mgmt-ipv4 with the mgmt subnet's prefix
    startup_config: Path
    members: tuple[Member, ...] = field(default=())


def junos_port(interface: str) -> str:
    """A vJunos-router container interface as Junos names it: ``eth1`` is ``ge-0/0/0``."""
    match = re.fullmatch(r"eth([1-9][0-9]*)", interface)
    if match is None:
        raise ValueError(f"{interface!r} is not a data port ethN (N >= 1)")
    return f"ge-0/0/{int(match.group(1)) - 1}"


def load_topology(path: Path = TOPOLOGY) -> dict[str, Node]:
    """The topology's routers by name, with their mgmt address and ae0 members."""
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    subnet = ipaddress.IPv4Network(data["mgmt"]["ipv4-subnet"])
    topo = data["topology"]
    links: list[tuple[str, str, str, str]] = []
    for link in topo.get("links", []):
        (a, a_if), (b, b_if) = (str(end).split(":", 1) for end in link["endpoints"])
        links.append((a, junos_port(a_if), b, junos_port(b_if)))
    nodes: dict[str, Node] = {}
    for name, spec in topo["nodes"].items():
        members = [Member(ap, b, bp) for a, ap, b, bp in links if a == name]
        members += [Member(bp, a, ap) for a, ap, b, bp in links if b == name]
        nodes[name] = Node(
            name=name,
            mgmt=ipaddress.IPv4Interface(f"{spec['mgmt-ipv4']}/{subnet.prefixlen}"),
            startup_config=(path.parent / spec["startup-config"]).resolve(),
            members=tuple(sorted(members, key=lambda m: m.port)),
        )
    return nodes


def logins(path: Path = RESOURCES) -> dict[str, tuple[str, str]]:
    """``(login, password)`` of each edge_router resource, by router name.

    A password given by reference (a secret, never in the files) is the lab's
    :data:`SAMPLE_PASSWORD`.
    """
    out: dict[str, tuple[str, str]] = {}
    for item in yaml.safe_load(path.read_text(encoding="utf-8")):
        if item["type"] == "edge_router":
            body: Mapping[str, Any] = item["body"]
            password = body["password"]
            plain = password if isinstance(password, str) else SAMPLE_PASSWORD
            out[str(body["name"])] = (str(body["login"]), plain)
    return out


def netsim_day0(path: Path = NETSIM_DAY0) -> Element:
    """The simulator's day-0 as a tree, without the statements the lab leaves out."""
    config = parse_text(path.read_text(encoding="utf-8"))
    for elem in [c for c in config if c.tag in NOT_CARRIED]:
        config.remove(elem)
    return config


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def preamble(node: Node, login: str, password: str) -> str:
    """What the VM needs besides the gateway's day-0: identity, logins, the ae0 members."""
    members = "".join(
        f"""
    {m.port} {{
        description {_quote(f"{LAG} member, to {m.peer} {m.peer_port}")};
        gigether-options {{
            802.3ad {LAG};
        }}
    }}"""
        for m in node.members
    )
    return f"""
system {{
    host-name {node.name};
    root-authentication {{
        plain-text-password-value {_quote(ROOT_PASSWORD)};
    }}
    login {{
        user {login} {{
            class super-user;
            authentication {{
                plain-text-password-value {_quote(password)};
            }}
        }}
    }}
}}
interfaces {{{members}
}}
"""


def management(node: Node) -> str:
    """fxp0 with the node's mgmt address (vrnetlab's init.conf sets the same one)."""
    return f"""
interfaces {{
    fxp0 {{
        unit 0 {{
            family inet {{
                address {node.mgmt.with_prefixlen};
            }}
        }}
    }}
}}
"""


def render(node: Node, login: str, password: str, day0: Element) -> str:
    """The day-0 text of ``node``: header, preamble, the netsim day-0, fxp0."""
    config = parse_text(preamble(node, login, password))
    config = tree.load(config, day0, action="merge")
    config = tree.load(config, parse_text(management(node)), action="merge")
    header = (
        f"## Day-0 of {node.name} in the containerlab lab (lab/esi-pair.clab.yml).\n"
        "## GENERATED by lab/render_day0.py from nornir_esi/netsim/day0.conf: do not edit.\n"
        "## vrnetlab appends it to its init.conf (admin user, management-instance, route).\n"
    )
    return header + render_text(config)


def render_all(password: str | None = None) -> dict[Path, str]:
    """Every router's day-0 file and its text; ``password`` replaces the resources' one."""
    day0 = netsim_day0()
    accounts = logins()
    out: dict[Path, str] = {}
    for name, node in load_topology().items():
        if name not in accounts:
            raise SystemExit(f"{name}: no edge_router of that name in {RESOURCES}")
        login, sample = accounts[name]
        out[node.startup_config] = render(node, login, password or sample, day0)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Write the files, or with ``--check`` report the stale ones (exit 1)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    files = render_all(os.environ.get(PASSWORD_ENV) or None)
    stale = [
        path
        for path, text in files.items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    if args.check:
        for path in stale:
            print(f"stale: {path.relative_to(REPO)} (run lab/render_day0.py)")
        return 1 if stale else 0
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"{'wrote' if path in stale else 'unchanged'}: {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
