"""The internet gateway service.

A gateway's change per router (``changes``), its Junos (``render``), its request
(``request``), its verification (``verify``), its monitoring (``monitoring``). Plan, drift
and repair are every service's (:mod:`nornir_esi.services.operations`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nornir_esi.contract.graph import Lookup, Pair
from nornir_esi.heat.base import Pushed
from nornir_esi.pair.change import Change
from nornir_esi.pair.devices import NornirDevices
from nornir_esi.services.base import Action
from nornir_esi.services.internet_gateway import changes, monitoring, verify
from nornir_esi.services.internet_gateway.verify import GatewayVerifier

__all__ = ["SERVICE", "InternetGateway"]


class InternetGateway:
    """The internet gateway as a :class:`~nornir_esi.services.base.DeviceService`."""

    resource_type = "internet_gateway"

    def changes(
        self,
        params: Mapping[str, Any],
        pair: Pair,
        *,
        action: Action,
        applied: Mapping[str, Any] | None = None,
    ) -> dict[str, Change]:
        """See :func:`~nornir_esi.services.internet_gateway.changes.changes`."""
        return changes.changes(params, pair, action=action, applied=applied)

    def verifier(self, params: Mapping[str, Any], *, present: bool) -> GatewayVerifier:
        """See :func:`~nornir_esi.services.internet_gateway.verify.gateway_verifier`."""
        return verify.gateway_verifier(params, present=present)

    def pushed(self, params: Mapping[str, Any], pair: Pair) -> dict[str, Pushed]:
        """See :func:`~nornir_esi.services.internet_gateway.changes.pushed`."""
        return changes.pushed(params, pair)

    def monitor(
        self,
        devices: NornirDevices,
        lookup: Lookup,
        body: Mapping[str, Any],
        params: Mapping[str, Any],
    ) -> dict[str, str]:
        """See :func:`~nornir_esi.services.internet_gateway.monitoring.gateway_state`."""
        return monitoring.gateway_state(devices, lookup, body, params)

    def live(self, states: Mapping[str, str]) -> None:
        """A gateway keeps no ``/monitoring`` record of its state (drift checks write one)."""
        return None


SERVICE = InternetGateway()
