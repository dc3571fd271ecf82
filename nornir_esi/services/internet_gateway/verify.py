"""What an internet gateway must show on a router after its commit.

It is checked before the pair transaction confirms the commit
(:class:`~nornir_esi.pair.change.Verifier`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nornir.core.task import Task

from nornir_esi.exceptions import DeviceRejectedError, ValidationError
from nornir_esi.pair.change import Role, Verifier
from nornir_esi.tasks.collect_state import collect_state

__all__ = ["GatewayVerifier", "gateway_verifier"]


@dataclass(frozen=True)
class GatewayVerifier:
    """A :class:`Verifier` of gateways on one router; see :func:`gateway_verifier`.

    ``gateways``: each gateway's params (a job's params by name) and whether it must be
    present. All of them are read together: one interface listing and the counters,
    however many gateways a coalesced transaction carries.
    """

    gateways: tuple[tuple[Mapping[str, Any], bool], ...]
    settle: float = 15.0

    def merge(self, others: Sequence[Verifier]) -> GatewayVerifier:
        """One verifier of this one's gateways and those of ``others``, read together.

        ``others`` are GatewayVerifiers: :func:`~nornir_esi.pair.change.combine` merges only
        verifiers of one type. The merged one waits as long as the most patient of them.
        """
        merged = [self, *(v for v in others if isinstance(v, GatewayVerifier))]
        gateways = tuple(g for v in merged for g in v.gateways)
        return GatewayVerifier(gateways, max(v.settle for v in merged))

    def __call__(self, task: Task, role: Role) -> None:
        """Check the gateways on ``task.host``, every second for up to ``settle`` seconds.

        Problems still there at the end are a DeviceRejectedError (step ``verify``); see
        :class:`~nornir_esi.pair.change.Verifier`.
        """
        deadline = time.monotonic() + self.settle
        while True:
            problems = _gateway_problems(task, self.gateways, role)
            if not problems:
                return
            if time.monotonic() >= deadline:
                raise DeviceRejectedError(task.host.name, "verify", "; ".join(problems))
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))


def gateway_verifier(
    params: Mapping[str, Any], *, present: bool = True, settle: float = 15.0
) -> GatewayVerifier:
    """A verifier of the gateway of ``params`` (a job's params by name) on one router.

    ``present``: the gateway's logical interface (``<role>_device_logical_interface``) is
    up, its counters (``<vrf>_IN`` on ``inet_in_filter``, ``<vrf>_OUT`` on
    ``inet_out_filter``) exist. VRRP is not the gateway's to check: it runs only once a
    gw_interface puts an address with a VRRP group on the unit (its own verifier checks
    it). Not ``present`` (after a delete): the unit and the counters are gone. The checks
    are repeated for up to ``settle`` seconds, well inside a one-minute confirm timer.
    Raises DeviceRejectedError(host, "verify", what is wrong).
    """
    return GatewayVerifier(((params, present),), settle)


def _gateway_problems(
    task: Task, gateways: Sequence[tuple[Mapping[str, Any], bool]], role: Role
) -> list[str]:
    def param(params: Mapping[str, Any], name: str) -> str:
        value = params.get(name)
        if value is None or str(value) == "":
            raise ValidationError("internet_gateway verifier", name, "is missing")
        return str(value)

    wanted = []
    for params, present in gateways:
        vrf = param(params, "vrf_name")
        counters = [
            (param(params, "inet_in_filter"), f"{vrf}_IN"),
            (param(params, "inet_out_filter"), f"{vrf}_OUT"),
        ]
        wanted.append((param(params, f"{role}_device_logical_interface"), counters, present))
    logicals = [logical for logical, _, _ in wanted]
    counters = [c for _, cs, _ in wanted for c in cs]
    state = collect_state(task, interfaces=logicals, counters=counters).result
    found = {name for name, value in state["counters"].items() if value is not None}
    problems: list[str] = []
    for logical, counters, present in wanted:
        status = state["interfaces"][logical]
        names = [f"{f}/{c}" for f, c in counters]
        if not present:
            if status != "absent":
                problems.append(f"{logical} is still configured ({status})")
            problems += [f"counter {name} still exists" for name in names if name in found]
            continue
        if status != "up":
            problems.append(f"{logical} is {status}")
        problems += [f"counter {name} is missing" for name in names if name not in found]
    return problems
