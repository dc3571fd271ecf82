"""The seed's internet gateway as Junos configuration, for demos, tests and benchmarks.

CONTRACT section 6: what gateway ``429e24b5...`` (vlan 1025 on ``ae0``) adds to each router
of its pair; MX-1 carries the secondary VRRP group ``InetGW2-VRRP``, MX-2 the primary
``InetGW1-VRRP``. The production path renders this from templates and the resource graph;
this fixed sample exists so the simulator can be exercised on its own.
"""

from __future__ import annotations

__all__ = ["VRF", "gateway_set", "gateway_text"]

VRF = "vrf_gw_sample-ha-router-downlink_1025"


def gateway_text(vrrp_group: str) -> str:
    """The seed gateway's stanzas (CONTRACT section 6) as curly text for `load merge`."""
    return f"""
interfaces {{
    ae0 {{
        unit 1025 {{
            apply-groups {vrrp_group};
            description inet_gw;
            vlan-id 1025;
            family inet {{
                filter {{
                    input FILTER_10M-GA-UP-INET;
                    output FILTER_10M-GA-DOWN-INET;
                }}
            }}
        }}
    }}
}}
policy-options {{
    prefix-list {VRF}_prefix;
    policy-statement INSTANCE-MASTER_IN {{
        term {VRF} {{
            from instance {VRF};
            then accept;
        }}
    }}
}}
routing-instances {{
    {VRF} {{
        instance-type virtual-router;
        interface ae0.1025;
        routing-options {{
            instance-import INSTANCE-USER_IN;
            instance-export INSTANCE-USER_OUT;
        }}
    }}
}}
"""


def gateway_set(vrrp_group: str) -> str:
    """The same gateway as set commands, with the firewall terms inserted before all-accept."""
    lines = [
        f"set interfaces ae0 unit 1025 apply-groups {vrrp_group}",
        "set interfaces ae0 unit 1025 description inet_gw",
        "set interfaces ae0 unit 1025 vlan-id 1025",
        "set interfaces ae0 unit 1025 family inet filter input FILTER_10M-GA-UP-INET",
        "set interfaces ae0 unit 1025 family inet filter output FILTER_10M-GA-DOWN-INET",
        f"set policy-options prefix-list {VRF}_prefix",
        f"set policy-options policy-statement INSTANCE-MASTER_IN term {VRF} from instance {VRF}",
        f"set policy-options policy-statement INSTANCE-MASTER_IN term {VRF} then accept",
    ]
    for name, direction, suffix in (
        ("INET_IN", "destination", "IN"),
        ("INET_OUT", "source", "OUT"),
    ):
        term = f"firewall family inet filter {name} term {VRF}_filter"
        lines += [
            f"set {term} from {direction}-prefix-list {VRF}_prefix",
            f"set {term} then count {VRF}_{suffix}",
            f"set {term} then accept",
            f"insert {term} before term all-accept",
        ]
    lines += [
        f"set routing-instances {VRF} instance-type virtual-router",
        f"set routing-instances {VRF} interface ae0.1025",
        f"set routing-instances {VRF} routing-options instance-import INSTANCE-USER_IN",
        f"set routing-instances {VRF} routing-options instance-export INSTANCE-USER_OUT",
    ]
    return "\n".join(lines) + "\n"
