"""What the gateway's family members share: configuration inside their gateway, on its pair.

A public IP, a gw_interface and a static route each add a few statements inside objects
their internet gateway owns (its prefix-list, its unit, its routing instance), on both
routers of the gateway's pair, rendered per role from ``templates/junos/<type>.set.j2``
and taken off by ``<type>.delete.j2``:

- create: the ``set`` commands (a re-run changes nothing);
- modify and repair: ``delete`` then ``set`` in one candidate, so the router computes the
  net difference (none, when only a name or description changed; statements added out of
  band inside the member's own objects go);
- delete: the ``delete`` commands of the version on the routers.

A member service says how its params become each role's template context
(:meth:`MemberService.context`) and what a router must show once its commit is in
(:meth:`MemberService.verifier`); :func:`poll` repeats a verifier's reads until they agree
or its time is up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from nornir.core.task import Task

from nornir_esi.contract.graph import Lookup, Pair
from nornir_esi.exceptions import DeviceRejectedError, PermanentError
from nornir_esi.heat.base import Pushed
from nornir_esi.pair.change import ROLES, Change, Role, Verifier
from nornir_esi.pair.devices import NornirDevices
from nornir_esi.services import rendering
from nornir_esi.services.base import Action

__all__ = ["MemberService", "poll"]


class MemberService:
    """A family member's configuration on its gateway's pair; see the module."""

    resource_type = ""

    @property
    def what(self) -> str:
        """How errors name the member's rendering (``public_ip template``)."""
        return f"{self.resource_type} template"

    def context(self, params: Mapping[str, Any], role: Role) -> dict[str, Any]:
        """The template context of ``role``: every param, plus the role's own values."""
        return rendering.named(params)

    def verifier(self, params: Mapping[str, Any], *, present: bool) -> Verifier:
        """What a router must show after its commit: the member there, or gone."""
        raise NotImplementedError

    def render(self, params: Mapping[str, Any], role: Role, *, action: str) -> str:
        """The ``set`` (``create``) or ``delete`` commands of ``role``."""
        template = f"{self.resource_type}.{'delete' if action == 'delete' else 'set'}.j2"
        return rendering.render(template, self.context(params, role), what=self.what)

    def changes(
        self,
        params: Mapping[str, Any],
        pair: Pair,
        *,
        action: Action,
        applied: Mapping[str, Any] | None = None,
    ) -> dict[str, Change]:
        """Per role, what to load on the router for ``action``; see the module."""
        out: dict[str, Change] = {}
        routers = pair.by_role()
        for role in ROLES:
            if action == "delete":
                commands = self.render(applied or params, role, action="delete")
            elif action == "create":
                commands = self.render(params, role, action="create")
            else:
                commands = self.render(applied or params, role, action="delete") + self.render(
                    params, role, action="create"
                )
            out[role] = Change(router=routers[role], commands=commands)
        return out

    def pushed(self, params: Mapping[str, Any], pair: Pair) -> dict[str, Pushed]:
        """Per role, the member's ``set`` commands on that router (its Heat stack keeps them)."""
        routers = pair.by_role()
        return {
            role: Pushed(str(routers[role]["name"]), self.render(params, role, action="create"))
            for role in ROLES
        }

    def monitor(
        self,
        devices: NornirDevices,
        lookup: Lookup,
        body: Mapping[str, Any],
        params: Mapping[str, Any],
    ) -> dict[str, str]:
        """A member has no monitoring template unless it says otherwise."""
        raise PermanentError(f"{self.resource_type} {body.get('id')}: it has no monitoring")

    def live(self, states: Mapping[str, str]) -> dict[str, Any] | None:
        """No ``/monitoring`` record unless the member says otherwise."""
        return None


def poll(
    task: Task, settle: float, problems: Callable[[], list[str]], *, step: str = "verify"
) -> None:
    """Ask ``problems`` every second until it finds none, for up to ``settle`` seconds.

    Problems still there at the end are a DeviceRejectedError of ``task.host`` (``step``):
    the pair transaction then rolls both routers back.
    """
    deadline = time.monotonic() + settle
    while True:
        found = problems()
        if not found:
            return
        if time.monotonic() >= deadline:
            raise DeviceRejectedError(task.host.name, step, "; ".join(found))
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
