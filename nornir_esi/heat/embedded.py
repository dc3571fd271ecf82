"""No Heat server: the stack exists only as its etcd record.

The record has the shapes and status texts the original's Heat reported (the seed's
``/esi-worker/heat_stacks/...``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nornir_esi.contract.records import HeatStack
from nornir_esi.heat.base import Pushed, stack_name

__all__ = ["EmbeddedHeat"]


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
        pushed: Mapping[str, Pushed] | None = None,
    ) -> HeatStack:
        """Report the stack created, or updated when ``exists``, as the original's Heat did.

        No server is asked and ``pushed`` is not kept; see :meth:`~nornir_esi.heat.base.Heat.apply`.
        """
        action = "UPDATE" if exists else "CREATE"
        return HeatStack(
            stack_id=stack_name(resource_type, resource_id),
            tenant_id=tenant_id,
            stack_status=f"{action}_COMPLETE",
            output=[],
            status_reason=f"Stack {action} completed successfully",
            id=f"{resource_type}:{resource_id}",
        )

    def recorded(self, resource_type: str, resource_id: str) -> dict[str, Pushed] | None:
        """None: this Heat keeps no record of what the routers were given."""
        return None

    def delete(self, resource_type: str, resource_id: str, *, tenant_id: str) -> HeatStack:
        """Report the stack deleted: ``stack_id`` empty, ``DELETE_COMPLETE``; no server is asked."""
        return HeatStack(
            stack_id="",
            tenant_id=tenant_id,
            stack_status="DELETE_COMPLETE",
            output=[],
            status_reason="Stack DELETE completed successfully",
            id=f"{resource_type}:{resource_id}",
        )
