"""What the simulator knows of the Junos configuration schema.

The simulator keeps every configuration as an lxml tree in Junos XML element
names (``<configuration><interfaces><interface><name>ae0</name>...``). Text and
``set`` syntax, merge semantics and rendering all need to know, for a statement,
what kind it is. Junos publishes this as a huge XSD; we carry the part a gateway
and its day-0 configuration touch, and infer the rest the way the syntax
suggests (see :func:`infer`).

Kinds:

``container``
    ``routing-options { ... }`` -> ``<routing-options>...</routing-options>``.
``list``
    entries keyed by ``key`` (``name`` by default): ``unit 1025 { ... }`` ->
    ``<unit><name>1025</name>...</unit>``.
``leaf``
    ``vlan-id 1025;`` -> ``<vlan-id>1025</vlan-id>``.
``flag``
    ``accept;`` -> ``<accept/>``.
``leaf-list``
    ``apply-groups [ a b ];`` -> ``<apply-groups>a</apply-groups><apply-groups>b</apply-groups>``.

Rendering hints, matching what ``show configuration`` prints:

``anon``
    a container whose list entries appear without a keyword:
    ``interfaces { ae0 { ... } }`` is ``<interfaces><interface><name>ae0</name>``.
``grouped``
    a list printed as one block, ``destination-prefix-list { a; b; }``.
``oneliner``
    a container, or a list entry, printed on one line when it holds a single leaf or
    flag: ``then accept;``, ``from instance vrf1;``, ``route 0.0.0.0/0 next-hop 192.0.2.1;``.
``flatten``
    a container printed as the prefix of each child: ``family inet { ... }``.
``ordered``
    a list ordered by the user (firewall and policy terms): ``insert`` works on it,
    and the diff shows where a new entry went.
``single``
    a list that holds at most one entry (``filter input NAME``): a new entry
    replaces the old one on merge.
``positional``
    a container whose main leaf is written without its keyword:
    ``autonomous-system 65101;`` is
    ``<autonomous-system><as-number>65101</as-number></autonomous-system>``.
``presence``
    a container that means something by itself (``family inet;`` enables IPv4 on a unit,
    ``preempt;`` turns preemption on): a delete that empties it leaves it in place, where
    any other container emptied by a delete goes with its last child.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "ROOT",
    "TOP_LEVEL_ORDER",
    "Kind",
    "Stmt",
    "child",
    "infer",
    "lookup",
]

Kind = Literal["container", "list", "leaf", "flag", "leaf-list"]


@dataclass(eq=False)
class Stmt:
    """One statement of the schema; ``children`` by XML tag."""

    kind: Kind
    children: dict[str, Stmt] = field(default_factory=dict)
    key: str = "name"
    anon: str | None = None
    grouped: bool = False
    oneliner: bool = False
    flatten: bool = False
    ordered: bool = False
    single: bool = False
    positional: str | None = None
    presence: bool = False
    known: bool = True

    def __repr__(self) -> str:  # the recursive groups entry would make the default unreadable
        return f"Stmt({self.kind!r}, children={sorted(self.children)!r})"


def _c(children: dict[str, Stmt] | None = None, **hints: object) -> Stmt:
    return Stmt("container", dict(children or {}), **hints)  # type: ignore[arg-type]


def _l(children: dict[str, Stmt] | None = None, **hints: object) -> Stmt:
    return Stmt("list", dict(children or {}), **hints)  # type: ignore[arg-type]


LEAF = Stmt("leaf")
FLAG = Stmt("flag")
LEAF_LIST = Stmt("leaf-list")

# Statements valid at any level.
_EVERYWHERE: dict[str, Stmt] = {
    "apply-groups": LEAF_LIST,
    "apply-groups-except": LEAF_LIST,
    "description": LEAF,
}

_FILTER_REF = _l({}, key="filter-name", single=True)

_VRRP_GROUP = _l(
    {
        "virtual-address": LEAF_LIST,
        "priority": LEAF,
        "accept-data": FLAG,
        "preempt": _c({"hold-time": LEAF}, presence=True),
        "no-preempt": FLAG,
        "advertise-interval": LEAF,
        "fast-interval": LEAF,
        "track": _c({"interface": _l({"priority-cost": LEAF})}),
    }
)

_FAMILY_INET = _c(
    {
        "filter": _c({"input": _FILTER_REF, "output": _FILTER_REF}),
        "address": _l({"vrrp-group": _VRRP_GROUP, "primary": FLAG, "preferred": FLAG}),
        "mtu": LEAF,
    },
    presence=True,
)

_UNIT = _l(
    {
        "vlan-id": LEAF,
        "family": _c(
            {"inet": _FAMILY_INET, "inet6": _FAMILY_INET, "mpls": _c(presence=True)},
            flatten=True,
        ),
        "disable": FLAG,
        "encapsulation": LEAF,
    }
)

_INTERFACE = _l(
    {
        "unit": _UNIT,
        "vlan-tagging": FLAG,
        "flexible-vlan-tagging": FLAG,
        "disable": FLAG,
        "mtu": LEAF,
        "encapsulation": LEAF,
        "aggregated-ether-options": _c(
            {
                "minimum-links": LEAF,
                "lacp": _c({"active": FLAG, "passive": FLAG, "periodic": LEAF}, presence=True),
            }
        ),
    }
)

_PREFIX_LIST = _l(
    {"prefix-list-item": _l(), "apply-path": LEAF}, anon="prefix-list-item", ordered=True
)

_POLICY_FROM = _c(
    {
        "instance": LEAF_LIST,
        "protocol": LEAF_LIST,
        "prefix-list": _l(),
        "route-filter": _l(
            {
                "exact": FLAG,
                "orlonger": FLAG,
                "longer": FLAG,
                "upto": LEAF,
                "prefix-length-range": LEAF,
            },
            key="address",
            oneliner=True,
        ),
        "community": LEAF_LIST,
        "neighbor": LEAF_LIST,
    },
    oneliner=True,
)

_POLICY_THEN = _c(
    {
        "accept": FLAG,
        "reject": FLAG,
        "next": LEAF,
        "next-hop": LEAF,
        "community": _l({}, key="community-name"),
        "local-preference": LEAF,
    },
    oneliner=True,
)

_POLICY_STATEMENT = _l(
    {
        "term": _l({"from": _POLICY_FROM, "to": _POLICY_FROM, "then": _POLICY_THEN}, ordered=True),
        "from": _POLICY_FROM,
        "then": _POLICY_THEN,
    }
)

_FW_FROM = _c(
    {
        "destination-prefix-list": _l(grouped=True),
        "source-prefix-list": _l(grouped=True),
        "prefix-list": _l(grouped=True),
        "destination-address": _l(grouped=True),
        "source-address": _l(grouped=True),
        "address": _l(grouped=True),
        "protocol": LEAF_LIST,
        "destination-port": LEAF_LIST,
        "source-port": LEAF_LIST,
    },
    oneliner=True,
)

_FW_THEN = _c(
    {
        "accept": FLAG,
        "discard": FLAG,
        "reject": FLAG,
        "count": LEAF,
        "policer": LEAF,
        "log": FLAG,
        "syslog": FLAG,
        "next": LEAF,
        "routing-instance": LEAF,
    },
    oneliner=True,
)

_FW_FILTER = _l(
    {
        "term": _l({"from": _FW_FROM, "then": _FW_THEN}, ordered=True),
        "interface-specific": FLAG,
    }
)

_FW_FAMILY = _c({"filter": _FW_FILTER})

_POLICER = _l(
    {
        "if-exceeding": _c({"bandwidth-limit": LEAF, "burst-size-limit": LEAF}),
        "then": _c(
            {"discard": FLAG, "loss-priority": LEAF, "forwarding-class": LEAF}, oneliner=True
        ),
        "logical-interface-policer": FLAG,
    }
)

_ROUTING_OPTIONS = _c(
    {
        "autonomous-system": _c({"as-number": LEAF}, positional="as-number"),
        "router-id": LEAF,
        "instance-import": LEAF_LIST,
        "instance-export": LEAF_LIST,
        "static": _c(
            {
                "route": _l(
                    {"next-hop": LEAF_LIST, "discard": FLAG, "reject": FLAG, "preference": LEAF},
                    oneliner=True,
                )
            }
        ),
        "maximum-routes": _c({"limit": LEAF}),
    }
)

_BGP_NEIGHBOR = _l(
    {
        "peer-as": LEAF,
        "local-address": LEAF,
        "hold-time": LEAF,
        "import": LEAF_LIST,
        "export": LEAF_LIST,
        "log-updown": FLAG,
        "passive": FLAG,
    }
)

_BGP_GROUP = _l(
    {
        "type": LEAF,
        "import": LEAF_LIST,
        "export": LEAF_LIST,
        "peer-as": LEAF,
        "local-address": LEAF,
        "hold-time": LEAF,
        "log-updown": FLAG,
        "passive": FLAG,
        "neighbor": _BGP_NEIGHBOR,
        "allow": LEAF_LIST,
    }
)

_PROTOCOLS = _c(
    {
        "bgp": _c(
            {
                "group": _BGP_GROUP,
                "import": LEAF_LIST,
                "export": LEAF_LIST,
                "log-updown": FLAG,
                "hold-time": LEAF,
            }
        ),
        "vrrp": _c({"version-3": FLAG, "traceoptions": _c()}),
        "lldp": _c({"interface": _l()}),
    }
)

_INSTANCE = _l(
    {
        "instance-type": LEAF,
        "interface": _l(),
        "routing-options": _ROUTING_OPTIONS,
        "protocols": _PROTOCOLS,
        "vrf-import": LEAF_LIST,
        "vrf-export": LEAF_LIST,
        "vrf-target": _c(
            {"community": LEAF, "import": LEAF, "export": LEAF}, positional="community"
        ),
        "route-distinguisher": _c({"rd-type": LEAF}, positional="rd-type"),
    }
)

_SYSTEM = _c(
    {
        "host-name": LEAF,
        "domain-name": LEAF,
        "time-zone": LEAF,
        "root-authentication": _c({"encrypted-password": LEAF}),
        "login": _c(
            {
                "user": _l(
                    {
                        "uid": LEAF,
                        "class": LEAF,
                        "authentication": _c({"encrypted-password": LEAF}),
                    }
                )
            }
        ),
        "services": _c(
            {
                "ssh": _c({"root-login": LEAF}, presence=True),
                "netconf": _c({"ssh": _c({"port": LEAF}, presence=True)}, presence=True),
            }
        ),
        "syslog": _c(),
    }
)

ROOT = _c(
    {
        "version": LEAF,
        "groups": _l(),  # children: the whole root schema, set below
        "system": _SYSTEM,
        "chassis": _c({"aggregated-devices": _c({"ethernet": _c({"device-count": LEAF})})}),
        "interfaces": _c({"interface": _INTERFACE}, anon="interface"),
        "routing-options": _ROUTING_OPTIONS,
        "protocols": _PROTOCOLS,
        "policy-options": _c(
            {
                "prefix-list": _PREFIX_LIST,
                "policy-statement": _POLICY_STATEMENT,
                "community": _l({"members": LEAF_LIST}),
            }
        ),
        "class-of-service": _c(),
        "firewall": _c(
            {
                "family": _c({"inet": _FW_FAMILY, "inet6": _FW_FAMILY}, flatten=True),
                "filter": _FW_FILTER,
                "policer": _POLICER,
            }
        ),
        "routing-instances": _c({"instance": _INSTANCE}, anon="instance"),
    }
)
# `groups NAME { <any configuration> }` is `<groups><name>NAME</name>...</groups>` at the top;
# in text its entries appear without a keyword under `groups { ... }`, which is rendered by
# the text module (the only place where a list's keyword and its block differ).
ROOT.children["groups"].children = ROOT.children

# The order `show configuration` prints top-level statements in; a statement created
# by a load goes to its place in this order rather than to the end.
TOP_LEVEL_ORDER: tuple[str, ...] = (
    "version",
    "groups",
    "apply-groups",
    "system",
    "chassis",
    "services",
    "security",
    "interfaces",
    "snmp",
    "forwarding-options",
    "routing-options",
    "protocols",
    "policy-options",
    "class-of-service",
    "firewall",
    "routing-instances",
)


def infer(*, has_children: bool, has_value: bool, has_name_child: bool = False) -> Stmt:
    """The kind an unknown statement has, guessed from its shape.

    Text ``kw { }`` is a container, ``kw v { }`` a list, ``kw v;`` a leaf and ``kw;`` a flag;
    XML with a ``<name>`` child is a list entry.
    """
    if has_name_child or (has_children and has_value):
        return Stmt("list", known=False)
    if has_children:
        return Stmt("container", known=False)
    if has_value:
        return Stmt("leaf", known=False)
    return Stmt("flag", known=False)


def child(parent: Stmt, tag: str) -> Stmt | None:
    """The schema of ``tag`` under ``parent``, or None when the schema does not know it."""
    found = parent.children.get(tag)
    if found is not None:
        return found
    return _EVERYWHERE.get(tag)


def lookup(path: list[str] | tuple[str, ...]) -> Stmt | None:
    """The schema at an XML tag path below ``<configuration>``.

    ``lookup(("interfaces", "interface"))`` is the schema of an interface entry.
    """
    node: Stmt | None = ROOT
    for tag in path:
        if node is None:
            return None
        node = child(node, tag)
    return node
