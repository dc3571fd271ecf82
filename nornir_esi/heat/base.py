"""The Heat adapter's contract: one stack per workable resource.

Each stack is kept consistent with what was pushed. The job handlers see only
:class:`Heat`. Which implementation runs is configuration
(:func:`~nornir_esi.heat.factory.heat_from`): without a Heat endpoint,
:class:`~nornir_esi.heat.embedded.EmbeddedHeat` keeps the stack as a record in etcd only,
with the shapes and status texts the original's Heat reported (the seed's
``/esi-worker/heat_stacks/...``); with one, :class:`~nornir_esi.heat.openstack.OpenStackHeat`
keeps a real stack (the only module that imports heatclient).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

from nornir_esi.contract.records import HeatStack

__all__ = ["Heat", "Pushed", "stack_name"]


class Pushed(NamedTuple):
    """What one router of the pair was given for a resource: its name and its Junos configuration.

    The configuration is set commands, and any text merged after them.
    """

    router: str
    configuration: str


def stack_name(resource_type: str, resource_id: str) -> str:
    """The stack of a resource, as the original named it: ``<type>_<id>``."""
    return f"{resource_type}_{resource_id}"


class Heat(Protocol):
    """What the handlers need of Heat."""

    def apply(
        self,
        resource_type: str,
        resource_id: str,
        *,
        tenant_id: str,
        template: str,
        parameters: Mapping[str, Any],
        timeout_mins: int,
        exists: bool,
        pushed: Mapping[str, Pushed] | None = None,
    ) -> HeatStack:
        """Create the stack, or update it when ``exists``; return what Heat reports.

        ``pushed`` (by role) is what each router was given: the stack records it.
        """
        ...

    def delete(self, resource_type: str, resource_id: str, *, tenant_id: str) -> HeatStack:
        """Delete the stack; the record keeps ``stack_id`` empty and ``DELETE_COMPLETE``."""
        ...

    def recorded(self, resource_type: str, resource_id: str) -> dict[str, Pushed] | None:
        """Per role, the configuration the stack records now.

        None when this Heat keeps none (embedded), ``{}`` when the stack does not exist.
        """
        ...
