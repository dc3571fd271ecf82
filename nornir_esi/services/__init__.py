"""What is specific to each service, one package per service.

What it derives from a request, how it renders, what it verifies on the routers, how it
is monitored, its operations. Each is named in :data:`SERVICES`
(:class:`~nornir_esi.services.base.DeviceService`).
"""

from __future__ import annotations

from collections.abc import Mapping

from nornir_esi.services import gw_interface, internet_gateway, public_ip, static_route
from nornir_esi.services.base import DeviceService

__all__ = ["SERVICES", "service_for"]

SERVICES: Mapping[str, DeviceService] = {
    service.resource_type: service
    for service in (
        internet_gateway.SERVICE,
        public_ip.SERVICE,
        gw_interface.SERVICE,
        static_route.SERVICE,
    )
}


def service_for(resource_type: str) -> DeviceService | None:
    """The service that configures routers for ``resource_type``.

    None for a type that configures none.
    """
    return SERVICES.get(resource_type)
