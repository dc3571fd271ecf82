"""The commit checks, as a client sees them: `commit check` over NETCONF, nothing committed."""

from __future__ import annotations

import pytest
from lxml import etree
from ncclient.operations.rpc import RPCError

from nornir_esi.netsim.server import Simulator

from .conftest import connect

UNIT = "interfaces {{ ae0 {{ unit 1025 {{ vlan-id 1025; {extra} }} }} }}"

CASES = [
    (
        "undefined filter",
        UNIT.format(extra="family inet { filter { input NOPE; } }"),
        "Referenced filter 'NOPE' is not defined",
        "[edit interfaces ae0 unit 1025 family inet filter]",
    ),
    (
        "undefined apply-group",
        UNIT.format(extra="apply-groups InetGW9-VRRP;"),
        "apply-groups: group 'InetGW9-VRRP' is not defined",
        "[edit interfaces ae0 unit 1025]",
    ),
    (
        "undefined apply-group on an interface",
        "interfaces { ae0 { apply-groups NOPE-GROUP; } }",
        "apply-groups: group 'NOPE-GROUP' is not defined",
        "[edit interfaces ae0]",
    ),
    (
        "undefined apply-group in a bgp group of a routing instance",
        UNIT.format(extra="family inet { address 172.16.101.152/24; }")
        + " routing-instances { V { instance-type virtual-router; interface ae0.1025; "
        "protocols { bgp { group inet-gw-group { apply-groups InetGW9-RI-IBGP; "
        "local-address 172.16.101.152; neighbor 172.16.101.153; } } } } }",
        "apply-groups: group 'InetGW9-RI-IBGP' is not defined",
        "[edit routing-instances V protocols bgp group inet-gw-group]",
    ),
    (
        "undefined apply-groups-except",
        UNIT.format(extra="apply-groups-except NOPE-GROUP;"),
        "apply-groups-except: group 'NOPE-GROUP' is not defined",
        "[edit interfaces ae0 unit 1025]",
    ),
    (
        "undefined policy named by an applied group",
        "groups { G { routing-instances { <*> { protocols { bgp { group <*> { "
        "neighbor <*> { import NOPE; } } } } } } } } "
        "routing-instances { V { protocols { bgp { group g { apply-groups G; "
        "neighbor 192.0.2.9; } } } } }",
        "Policy error: Policy NOPE referenced but not defined",
        "[edit routing-instances V protocols bgp group g neighbor 192.0.2.9]",
    ),
    (
        "undefined policy",
        "routing-instances { V { instance-type virtual-router; "
        "routing-options { instance-import NOPE; } } }",
        "Policy error: Policy NOPE referenced but not defined",
        "[edit routing-instances V routing-options]",
    ),
    (
        "undefined prefix-list in a firewall term",
        "firewall { family inet { filter INET_IN { term t { from { "
        "destination-prefix-list { NOPE; } } then accept; } } } }",
        "Referenced prefix-list 'NOPE' is not defined",
        "[edit firewall family inet filter INET_IN term t from]",
    ),
    (
        "undefined prefix-list in a policy term",
        "policy-options { policy-statement P { term t { from { prefix-list NOPE; } "
        "then accept; } } }",
        "Referenced prefix-list 'NOPE' is not defined",
        "[edit policy-options policy-statement P term t from]",
    ),
    (
        "undefined policer",
        "firewall { family inet { filter F { term t { then { policer NOPE; accept; } } } } }",
        "Referenced policer 'NOPE' is not defined",
        "[edit firewall family inet filter F term t then]",
    ),
    (
        "routing instance on a unit that does not exist",
        "routing-instances { V { instance-type virtual-router; interface ae0.1025; } }",
        "Referenced interface 'ae0.1025' is not defined",
        "[edit routing-instances V]",
    ),
    (
        "one logical interface in two routing instances",
        UNIT.format(extra="")
        + " routing-instances { V1 { interface ae0.1025; } V2 { interface ae0.1025; } }",
        "Interface ae0.1025 is already in routing instance V1",
        "[edit routing-instances V2]",
    ),
    (
        "duplicate VLAN on a physical interface",
        "interfaces { ae0 { unit 1025 { vlan-id 1025; } unit 2000 { vlan-id 1025; } } }",
        "Duplicate vlan-id 1025 on interface ae0 (units 1025 and 2000)",
        "[edit interfaces ae0 unit 2000]",
    ),
    (
        "VLAN out of range",
        "interfaces { ae0 { unit 5000 { vlan-id 5000; } } }",
        "vlan-id 5000 is outside 1-4094",
        "[edit interfaces ae0 unit 5000]",
    ),
    (
        "counter name used twice in one filter",
        "firewall { family inet { filter INET_IN { "
        "term a { then { count C; accept; } } term b { then { count C; accept; } } } } }",
        "duplicate counter name C",
        "[edit firewall family inet filter INET_IN term b then]",
    ),
]


def _committed_text(m: object) -> str:
    reply = m.rpc('<get-configuration database="committed" format="text"/>')  # type: ignore[attr-defined]
    text = etree.fromstring(str(reply).encode()).findtext(".//{*}configuration-text")
    assert text
    return text


@pytest.mark.parametrize(
    ("config", "message", "path"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_commit_check_refuses(routers: Simulator, config: str, message: str, path: str) -> None:
    with connect(routers, "MX-1", junos=True) as m:
        before = _committed_text(m)
        m.load_configuration(format="text", config=config)
        for commit in ({"check": True}, {}):
            with pytest.raises(RPCError) as err:
                m.commit(**commit)
            errors = etree.fromstring(etree.tostring(err.value.xml)).iter("{*}rpc-error")
            fields = [
                {
                    k: e.findtext(f"{{*}}{k}")
                    for k in ("error-message", "error-path", "error-severity")
                }
                for e in errors
            ]
            assert {
                "error-message": message,
                "error-path": path,
                "error-severity": "error",
            } in fields
        assert _committed_text(m) == before
