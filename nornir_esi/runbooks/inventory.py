"""A Nornir inventory of edge routers read from etcd.

It holds the ``edge_router`` resources of ``/config``, made into hosts by
:class:`~nornir_esi.device.inventory.ResourceInventory`.

The inventory of the operators' runbooks (``tasks/``): the routers the system itself
works on, with no file to keep in step. Hosts are ResourceInventory's (name, address,
credentials, ``netconf`` connection options, ``data`` ``id`` and ``ip``), plus in
``data["ha_routers"]`` the HA routers (router pairs) the router is in, each
``{"id", "name", "role"}`` with ``role`` ``primary`` or ``secondary``, so a runbook picks a
pair with ``nr.filter(filter_func=in_ha_router("sample-ha-router"))``. Resources marked
for deletion are left out: desired state says they go.

Options: ``endpoints`` (etcd URLs, comma-separated or a list) and ``etcd_ca``,
``etcd_cert``, ``etcd_key``, ``etcd_user``, ``etcd_password``, each defaulting to its
variable as the ``nornir-esi`` command line reads them (``ESI_ETCD_ENDPOINTS``,
``ESI_ETCD_CA``, ...); or ``store``, an open store (left open). ``overrides`` and every
other option go to ResourceInventory as they are.

Registered as the Nornir inventory plugin ``EtcdRouterInventory``::

    InitNornir(inventory={"plugin": "EtcdRouterInventory", "options": {
        "endpoints": "http://127.0.0.1:2379", "overrides": "inventory/hosts.yaml"}},
        logging={"enabled": False})
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from nornir.core.inventory import Host, Inventory

from nornir_esi.contract.config import configs_of
from nornir_esi.device.inventory import ResourceInventory
from nornir_esi.store.base import Store
from nornir_esi.store.etcd import EtcdStore

__all__ = ["EtcdRouterInventory", "etcd_store", "in_ha_router", "live_bodies"]

ROLES = ("primary", "secondary")


def etcd_store(
    endpoints: str | Sequence[str] | None = None,
    *,
    etcd_ca: str | None = None,
    etcd_cert: str | None = None,
    etcd_key: str | None = None,
    etcd_user: str | None = None,
    etcd_password: str | None = None,
) -> EtcdStore:
    """The store as the command line opens it (:meth:`EtcdStore.from_env`).

    Each option given takes the place of its environment variable.
    """
    given = {
        "ESI_ETCD_ENDPOINTS": endpoints
        if isinstance(endpoints, str | None)
        else ",".join(endpoints),
        "ESI_ETCD_CA": etcd_ca,
        "ESI_ETCD_CERT": etcd_cert,
        "ESI_ETCD_KEY": etcd_key,
        "ESI_ETCD_USER": etcd_user,
        "ESI_ETCD_PASSWORD": etcd_password,
    }
    return EtcdStore.from_env(
        {**os.environ, **{name: value for name, value in given.items() if value}}
    )


def live_bodies(store: Store, resource_type: str) -> list[dict[str, Any]]:
    """The bodies of the resources of ``resource_type`` in ``/config``, in key order.

    Resources marked for deletion are left out.
    """
    return [
        record.body
        for _, record in configs_of(store, resource_type)
        if not record.marked_for_deletion
    ]


def in_ha_router(ha_router: str) -> Callable[[Host], bool]:
    """A ``filter_func``: the hosts in the HA router of this id or name."""

    def member(host: Host) -> bool:
        return any(ha_router in (ha["id"], ha["name"]) for ha in host.data.get("ha_routers", ()))

    return member


class EtcdRouterInventory:
    """Nornir inventory plugin: one host per ``edge_router`` resource in etcd."""

    def __init__(
        self,
        endpoints: str | Sequence[str] | None = None,
        overrides: str | None = None,
        *,
        etcd_ca: str | None = None,
        etcd_cert: str | None = None,
        etcd_key: str | None = None,
        etcd_user: str | None = None,
        etcd_password: str | None = None,
        store: Store | None = None,
        **options: Any,
    ) -> None:
        self.store = store
        self.endpoints = endpoints
        self.etcd = {
            "etcd_ca": etcd_ca,
            "etcd_cert": etcd_cert,
            "etcd_key": etcd_key,
            "etcd_user": etcd_user,
            "etcd_password": etcd_password,
        }
        self.overrides = overrides
        self.options = options

    def load(self) -> Inventory:
        """The hosts, each with ``data["ha_routers"]``, read from etcd now."""
        store = self.store or etcd_store(self.endpoints, **self.etcd)
        try:
            routers = live_bodies(store, "edge_router")
            pairs = live_bodies(store, "ha_router")
        finally:
            if store is not self.store:
                store.close()
        inventory = ResourceInventory(routers, self.overrides, **self.options).load()
        by_id = {host.data["id"]: host for host in inventory.hosts.values()}
        for host in by_id.values():
            host.data["ha_routers"] = []
        for pair in sorted(pairs, key=lambda body: str(body.get("name", ""))):
            for role in ROLES:
                member = by_id.get(str(pair.get(f"{role}_router_id")))
                if member is not None:
                    member.data["ha_routers"].append(
                        {"id": str(pair["id"]), "name": str(pair.get("name", "")), "role": role}
                    )
        return inventory
