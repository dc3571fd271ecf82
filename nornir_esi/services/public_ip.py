"""The public IP service: a block of the operator's pool, counted by its gateway.

On each router of the gateway's pair a public IP is one item, ``<ip_cidr>/<ip_mask>``, of
the gateway's prefix-list (``prefix_list_name``, ``<vrf>_prefix``), which the gateway's
INET_IN/INET_OUT count terms match: the origin's ``public_ip`` template. There is no NAT
and no address configured anywhere; the block is routed to the tenant by a static route.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nornir.core.task import Task

from nornir_esi.pair.change import Role, Verifier
from nornir_esi.services import rendering
from nornir_esi.services.member import MemberService, poll
from nornir_esi.tasks.collect_forwarding import counting_terms, prefix_list_items
from nornir_esi.tasks.collect_state import collect_state

__all__ = ["SERVICE", "PublicIp", "PublicIpVerifier"]


def block(params: Mapping[str, Any], *, what: str = "public_ip template") -> str:
    """The public IP's block, ``203.0.112.0/28``, from its job's params."""
    cidr = rendering.require(params, "ip_cidr", what=what)
    mask = rendering.require(params, "ip_mask", what=what)
    return f"{cidr}/{mask}"


@dataclass(frozen=True)
class PublicIpVerifier:
    """Checks that each public IP's block is an item of its prefix-list (or no longer is).

    ``items``: ``(prefix_list_name, block, present)``; one read per prefix-list. A block
    present is counted too: a filter term matches its list and counts, and that counter
    exists.
    """

    items: tuple[tuple[str, str, bool], ...]
    settle: float = 15.0

    def merge(self, others: Sequence[Verifier]) -> PublicIpVerifier:
        """One verifier of this one's blocks and those of ``others``."""
        merged = [self, *(v for v in others if isinstance(v, PublicIpVerifier))]
        return PublicIpVerifier(
            tuple(i for v in merged for i in v.items), max(v.settle for v in merged)
        )

    def __call__(self, task: Task, role: Role) -> None:
        """Check ``task.host``; see :class:`~nornir_esi.pair.change.Verifier`."""

        def problems() -> list[str]:
            found: list[str] = []
            lists: dict[str, list[str] | None] = {}
            for name, wanted, present in self.items:
                if name not in lists:
                    lists[name] = prefix_list_items(task, "verify", name)
                items = lists[name]
                if present and items is None:
                    found.append(f"prefix-list {name} is missing")
                elif present and wanted not in (items or []):
                    found.append(f"prefix-list {name} lacks {wanted}")
                elif not present and wanted in (items or []):
                    found.append(f"prefix-list {name} still has {wanted}")
            return found

        poll(task, self.settle, problems)
        # Configuration, not state that settles: read once.
        counted = sorted({name for name, _, present in self.items if present})
        if counted:
            poll(task, 0.0, lambda: _uncounted(task, counted))


def _uncounted(task: Task, prefix_lists: Sequence[str]) -> list[str]:
    """What keeps the blocks of ``prefix_lists`` from being counted on ``task.host``.

    Each list must be matched, as destination (traffic in) and as source (traffic out), by
    a counting term of an inet filter, and each such counter must exist: the gateway's
    ``<vrf>_IN`` on INET_IN and ``<vrf>_OUT`` on INET_OUT.
    """
    out: list[str] = []
    wanted: list[tuple[str, str]] = []
    for name in prefix_lists:
        terms = counting_terms(task, "verify", name)
        for match in ("destination-prefix-list", "source-prefix-list"):
            if not any(m == match for _, _, m in terms):
                out.append(f"no firewall filter term counts {match} {name}")
        wanted += [(f, c) for f, c, _ in terms]
    if wanted:
        counters = collect_state(task, counters=wanted).result["counters"]
        out += [f"counter {key} is missing" for key, value in counters.items() if value is None]
    return out


class PublicIp(MemberService):
    """The public IP as a :class:`~nornir_esi.services.base.DeviceService`."""

    resource_type = "public_ip"

    def context(self, params: Mapping[str, Any], role: Role) -> dict[str, Any]:
        """Every param, and the ``block`` (``ip_cidr/ip_mask``)."""
        context = rendering.named(params)
        rendering.require(params, "prefix_list_name", what=self.what)
        context["block"] = rendering.Named(block(params, what=self.what), "ip_cidr")
        return context

    def verifier(self, params: Mapping[str, Any], *, present: bool) -> PublicIpVerifier:
        """The block an item of the gateway's prefix-list (``present``), or not."""
        return PublicIpVerifier(((str(params["prefix_list_name"]), block(params), present),))


SERVICE = PublicIp()
