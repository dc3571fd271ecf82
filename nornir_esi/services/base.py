"""What the engine asks of a service whose resources configure the routers.

A service (one package in :mod:`nornir_esi.services`) owns its model's rendering, its
checks and its monitoring; the handlers reach it through :class:`DeviceService`, found by
resource type in :data:`nornir_esi.services.SERVICES`, so adding a service is adding its
package (and its templates) and naming it there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Protocol

from nornir_esi.contract.graph import Lookup, Pair
from nornir_esi.heat.base import Pushed
from nornir_esi.pair.change import Change, Verifier
from nornir_esi.pair.devices import NornirDevices

__all__ = ["Action", "DeviceService"]

# What a change to a resource does on its routers: ``repair`` re-applies the current
# version over whatever the routers carry.
Action = Literal["create", "modify", "delete", "repair"]


class DeviceService(Protocol):
    """A service whose resources are configuration on a router pair."""

    @property
    def resource_type(self) -> str:
        """The resource type the service configures (``internet_gateway``)."""
        ...

    def changes(
        self,
        params: Mapping[str, Any],
        pair: Pair,
        *,
        action: Action,
        applied: Mapping[str, Any] | None = None,
    ) -> dict[str, Change]:
        """Per role, what to load on the router for ``action`` on the resource of ``params``.

        ``params`` are a job's params by name; ``applied``, those of the version on the routers
        now, if any.
        """
        ...

    def verifier(self, params: Mapping[str, Any], *, present: bool) -> Verifier:
        """What to check on each router after its commit: the resource there, or gone.

        ``present`` says which.
        """
        ...

    def pushed(self, params: Mapping[str, Any], pair: Pair) -> dict[str, Pushed]:
        """Per role, what the router carries for the resource at ``params``.

        It is what its Heat stack records.
        """
        ...

    def monitor(
        self,
        devices: NornirDevices,
        lookup: Lookup,
        body: Mapping[str, Any],
        params: Mapping[str, Any],
    ) -> dict[str, str]:
        """The resource's state as its routers show it (``state_monitoring``).

        Read from its ``body`` and the monitoring job's ``params``.
        """
        ...

    def live(self, states: Mapping[str, str]) -> dict[str, Any] | None:
        """The ``/monitoring`` record's fields for ``states``; None: the service keeps none."""
        ...
