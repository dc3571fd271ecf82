"""The gw_interface service: the gateway's addresses, VRRP group and iBGP on the segment.

On each router of the gateway's pair (the origin's ``gw_interface_internet`` template):

- on the gateway's unit, the router's own address (``primary_device_gw_ip`` or
  ``secondary_device_gw_ip``, ``/netmask``) with its VRRP group: ``vrrp-group <vrid>
  { virtual-address <VIP>; priority 105|100; }`` (the rest of the group's settings come
  from the ``InetGWn-VRRP`` apply-group the gateway put on the unit);
- in the gateway's routing instance, the iBGP group ``inet-gw-group`` toward the other
  router: ``apply-groups <role's ibgp config group>``, ``local-address <own>``,
  ``neighbor <other router's address>``.

After each router's commit (before the pair confirms) VRRP must run on the unit with the
vrid and VIP, and the iBGP neighbor must be there. Which router is master cannot be
required then: the pair rolls out one router at a time, so the first one committed is
alone on the segment for a moment, and Junos's ``preempt hold-time`` delays the master's
return. The monitoring job (:meth:`GwInterface.monitor`) then waits for the settled state:
master on the primary, backup on the secondary, as the origin's ``vrrp_pool`` target
wanted (``hold_options.positive_status``), and records it in ``/monitoring`` as the
origin did: ``{"status": {"primary": "MASTER", "secondary": "BACKUP"}, "version": N}``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nornir.core.task import Task

from nornir_esi.contract.graph import Lookup, pair_of
from nornir_esi.exceptions import DeviceRejectedError, DeviceUnavailableError, PermanentError
from nornir_esi.pair.change import Role, Verifier
from nornir_esi.pair.devices import NornirDevices
from nornir_esi.services import rendering
from nornir_esi.services.member import MemberService, poll
from nornir_esi.tasks.collect_forwarding import bgp_peers, vrrp_groups

__all__ = ["SERVICE", "WANTED", "GwInterface", "GwInterfaceVerifier", "vrrp_status"]

# What each role's VRRP state must settle to (the origin's positive_status).
WANTED = {"primary": "MASTER", "secondary": "BACKUP"}
_OTHER: dict[Role, Role] = {"primary": "secondary", "secondary": "primary"}
_RUNNING = ("master", "backup")


@dataclass(frozen=True)
class _Wanted:
    logical: str
    vrid: int
    own_ip: str
    vip: str
    vrf: str
    peer_ip: str
    present: bool


@dataclass(frozen=True)
class GwInterfaceVerifier:
    """Checks each gw_interface's VRRP group and iBGP neighbor on a router (or their absence).

    ``items``: per gw_interface, its params and whether it must be present.
    """

    items: tuple[tuple[Mapping[str, Any], bool], ...]
    settle: float = 15.0

    def merge(self, others: Sequence[Verifier]) -> GwInterfaceVerifier:
        """One verifier of this one's gw_interfaces and those of ``others``."""
        merged = [self, *(v for v in others if isinstance(v, GwInterfaceVerifier))]
        return GwInterfaceVerifier(
            tuple(i for v in merged for i in v.items), max(v.settle for v in merged)
        )

    def __call__(self, task: Task, role: Role) -> None:
        """Check ``task.host``; see :class:`~nornir_esi.pair.change.Verifier`."""
        wanted = [_wanted(params, role, present) for params, present in self.items]

        def problems() -> list[str]:
            groups = vrrp_groups(task, "verify", sorted({w.logical for w in wanted}))
            found: list[str] = []
            peers: dict[str, set[str]] = {}
            for w in wanted:
                group = next(
                    (g for g in groups if g.interface == w.logical and g.group == w.vrid), None
                )
                if w.vrf not in peers:
                    peers[w.vrf] = _peer_addresses(task, w.vrf, tolerate_missing=not w.present)
                if not w.present:
                    if group is not None:
                        found.append(f"VRRP group {w.vrid} still runs on {w.logical}")
                    if w.peer_ip in peers[w.vrf]:
                        found.append(f"iBGP neighbor {w.peer_ip} is still in {w.vrf}")
                    continue
                if group is None:
                    found.append(f"VRRP group {w.vrid} does not run on {w.logical}")
                elif group.state not in _RUNNING:
                    found.append(f"VRRP group {w.vrid} on {w.logical} is {group.state}")
                elif group.virtual_address and group.virtual_address != w.vip:
                    found.append(
                        f"VRRP group {w.vrid} on {w.logical} has VIP {group.virtual_address}, "
                        f"not {w.vip}"
                    )
                if w.peer_ip not in peers[w.vrf]:
                    found.append(f"iBGP neighbor {w.peer_ip} is missing in {w.vrf}")
            return found

        poll(task, self.settle, problems)


def _peer_addresses(task: Task, vrf: str, *, tolerate_missing: bool) -> set[str]:
    try:
        return {peer.address for peer in bgp_peers(task, "verify", vrf)}
    except DeviceRejectedError:
        # The routing instance itself is gone (its gateway went in the same transaction).
        if tolerate_missing:
            return set()
        raise


def _wanted(params: Mapping[str, Any], role: Role, present: bool) -> _Wanted:
    what = "gw_interface verifier"

    def need(name: str) -> str:
        return rendering.require(params, name, what=what)

    return _Wanted(
        logical=need(f"{role}_logical_interface_name"),
        vrid=int(need("vrrp_group")),
        own_ip=need(f"{role}_device_gw_ip"),
        vip=need("gw_vip"),
        vrf=need("vrf_name"),
        peer_ip=need(f"{_OTHER[role]}_device_gw_ip"),
        present=present,
    )


def vrrp_status(
    devices: NornirDevices,
    pair: Mapping[str, Mapping[str, Any]],
    logical: Mapping[str, str],
    vrid: int,
) -> dict[str, str]:
    """Per role, the VRRP state of group ``vrid`` on the role's ``logical`` interface.

    ``MASTER``, ``BACKUP``, ``INIT`` (the unit is down), ``NOT_RUNNING`` (no such group) or
    ``UNREACHABLE``.
    """
    out: dict[str, str] = {}
    for role, router in pair.items():
        try:
            groups = devices.forwarding(router, interfaces=[logical[role]])["vrrp"]
        except DeviceUnavailableError:
            out[role] = "UNREACHABLE"
            continue
        group = next((g for g in groups if g.group == vrid), None)
        out[role] = group.state.upper() if group is not None else "NOT_RUNNING"
    return out


class GwInterface(MemberService):
    """The gw_interface as a :class:`~nornir_esi.services.base.DeviceService`."""

    resource_type = "gw_interface"
    # How long the monitoring job waits for VRRP to settle (the origin held 360 s).
    settle = 60.0

    def context(self, params: Mapping[str, Any], role: Role) -> dict[str, Any]:
        """Every param, and the role's interface, address, peer, priority and iBGP group."""
        what = self.what
        context = rendering.named(params)
        for name, param in (
            ("physical_interface", f"{role}_device_physical_interface"),
            ("own_ip", f"{role}_device_gw_ip"),
            ("peer_ip", f"{_OTHER[role]}_device_gw_ip"),
            ("priority", f"{role}_device_priority"),
            ("ibgp_config_group", f"{role}_ibgp_config_group"),
        ):
            context[name] = rendering.Named(rendering.require(params, param, what=what), param)
        for param in ("vlan", "netmask", "vrrp_group", "gw_vip", "vrf_name", "bgp_group_name"):
            rendering.require(params, param, what=what)
        return context

    def verifier(self, params: Mapping[str, Any], *, present: bool) -> GwInterfaceVerifier:
        """VRRP running with the vrid and VIP, the iBGP neighbor there (or both gone)."""
        return GwInterfaceVerifier(((params, present),))

    def monitor(
        self,
        devices: NornirDevices,
        lookup: Lookup,
        body: Mapping[str, Any],
        params: Mapping[str, Any],
    ) -> dict[str, str]:
        """VRRP per role once settled: MASTER on the primary, BACKUP on the secondary.

        Read every second for up to :attr:`settle` seconds; any other state then fails the
        job, naming each router's state.
        """
        pair = pair_of(lookup, self.resource_type, body).by_role()
        logical = {
            role: str(params[f"{role}_logical_interface_name"]) for role in ("primary", "secondary")
        }
        vrid = int(params["vrid"])
        deadline = time.monotonic() + self.settle
        while True:
            states = vrrp_status(devices, pair, logical, vrid)
            if states == WANTED:
                return states
            if time.monotonic() >= deadline:
                raise PermanentError(
                    f"gw_interface {body.get('id')}: VRRP group {vrid} is "
                    + ", ".join(f"{states[r]} on the {r} ({logical[r]})" for r in WANTED)
                    + "; wanted MASTER on the primary, BACKUP on the secondary"
                )
            time.sleep(1.0)

    def live(self, states: Mapping[str, str]) -> dict[str, Any]:
        """The ``/monitoring`` record's fields, as the origin's collector wrote them."""
        return {"status": dict(states)}


SERVICE = GwInterface()
