"""The Heat adapter: one stack per workable resource, kept consistent with what was pushed.

The job handlers see only :class:`Heat`. Which implementation runs is configuration:
without a Heat endpoint, :class:`EmbeddedHeat` keeps the stack as a record in etcd only,
with the shapes and status texts the original's Heat reported (the seed's
``/esi-worker/heat_stacks/...``). The python-heatclient implementation comes with the
Heat issue and is the only module that will import heatclient.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from nornir_esi.records import HeatStack

__all__ = ["EmbeddedHeat", "Heat", "stack_name"]


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
    ) -> HeatStack:
        """Create the stack, or update it when ``exists``; return what Heat reports."""
        ...

    def delete(self, resource_type: str, resource_id: str, *, tenant_id: str) -> HeatStack:
        """Delete the stack; the record keeps ``stack_id`` empty and ``DELETE_COMPLETE``."""
        ...


class EmbeddedHeat:
    """No Heat server: the stack exists only as its etcd record."""

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
    ) -> HeatStack:
        action = "UPDATE" if exists else "CREATE"
        return HeatStack(
            stack_id=stack_name(resource_type, resource_id),
            tenant_id=tenant_id,
            stack_status=f"{action}_COMPLETE",
            output=[],
            status_reason=f"Stack {action} completed successfully",
            id=f"{resource_type}:{resource_id}",
        )

    def delete(self, resource_type: str, resource_id: str, *, tenant_id: str) -> HeatStack:
        return HeatStack(
            stack_id="",
            tenant_id=tenant_id,
            stack_status="DELETE_COMPLETE",
            output=[],
            status_reason="Stack DELETE completed successfully",
            id=f"{resource_type}:{resource_id}",
        )
