"""Which Heat runs: a real one when an endpoint is configured, else the embedded stand-in.

Above the implementations it picks, so that neither imports the other.
"""

from __future__ import annotations

from nornir_esi.heat.base import Heat
from nornir_esi.heat.embedded import EmbeddedHeat
from nornir_esi.heat.openstack import OpenStackHeat

__all__ = ["heat_from"]


def heat_from(endpoint: str | None, *, project: str = "admin") -> Heat:
    """The Heat to use: a real one at ``endpoint`` (``$ESI_HEAT_URL``), else embedded."""
    if not endpoint:
        return EmbeddedHeat()
    return OpenStackHeat(endpoint, project=project)
