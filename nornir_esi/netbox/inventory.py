"""A Nornir inventory of edge routers read from NetBox: ResourceInventory's hosts, from NetBox.

The same hosts as :class:`~nornir_esi.device.inventory.ResourceInventory`, with NetBox as
the source.

Built on nornir-netbox's ``NetBoxInventory2``, which it wraps for its HTTP side: the
``requests`` session (token header, ``ssl_verify``, ``NB_URL``/``NB_TOKEN`` from the
environment) and its paging, which follows NetBox's ``next`` links until the last page.
Its ``load()`` is not used, because its hosts are not ours:

- ``hostname`` is ``primary_ip`` (the IPv6 address when NetBox prefers it) or silently
  the device name when there is none; ours is the primary IPv4 address without its prefix
  length, and a router without one is an error (ValidationError naming the NetBox device
  and ``primary_ip4``) rather than a host that cannot be reached;
- it has no ``port``: ours is the TCP port of the device's ``netconf`` service (830 when
  it has none), read as the NetBox sync reads it, for all routers with one paginated
  request, never one per device;
- it has no credentials: NetBox never holds secrets, so they come from the constructor
  and, per router, from the overrides file of ResourceInventory (by name or IP, the name
  winning), which also maps routers to a tunnel, NAT or the simulator on loopback;
- ``platform`` is ``junos`` and the ``netconf`` connection options carry
  :func:`~nornir_esi.device.inventory.connection_options`, as ResourceInventory's hosts;
- ``data`` is small: ``id`` and ``ip`` as ResourceInventory's (tasks see the same data
  whichever inventory built the hosts), ``esi_id`` (the resource id: the device's
  ``esi_id`` custom field, else derived as the NetBox sync derives it) and ``netbox_id``;
  its own ``data`` is the whole device as the API returns it;
- only the fields used are asked for (NetBox 4's ``fields`` parameter), so NetBox does not
  serialise each device's type, site, counters and config context; and group or defaults
  files in the working directory (``groups.yaml``, ``defaults.yaml``) are not read.

Devices are those with role ``esi-edge-router`` (and any further ``filter_parameters``).
``page_size`` is the ``limit`` of each request; 0, as in NetBoxInventory2, is NetBox's
``MAX_PAGE_SIZE`` (1,000 by default).

Registered as the Nornir inventory plugin ``NetBoxRouterInventory``::

    InitNornir(inventory={"plugin": "NetBoxRouterInventory", "options": {
        "nb_url": "https://netbox.example", "nb_token": "...",
        "username": "esi", "password": "...", "overrides": "overrides.yaml"}})
"""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

from nornir.core.inventory import Defaults, Groups, Host, Hosts, Inventory
from nornir_netbox.plugins.inventory.netbox import NetBoxInventory2

from nornir_esi.device.inventory import PLATFORM, connection_options, load_overrides
from nornir_esi.exceptions import ValidationError
from nornir_esi.netbox.schema import DEFAULT_NETCONF_PORT, EDGE_ROUTER_ROLE, NETCONF_SERVICE
from nornir_esi.netbox.sync import resource_id, service_port

__all__ = ["DEVICE_FIELDS", "NetBoxRouterInventory"]

# What the hosts are made of; NetBox serialises nothing else.
DEVICE_FIELDS = ("id", "name", "primary_ip4", "custom_fields")
_SERVICE_FIELDS = ("parent_object_id", "port_mappings", "ports")


def _named(device: Mapping[str, Any]) -> str:
    """A device as the NetBox sync names it in errors."""
    return f"NetBox device {device.get('name') or device['id']} (id {device['id']})"


class NetBoxRouterInventory:
    """Nornir inventory plugin: one host per NetBox device with role ``esi-edge-router``."""

    def __init__(
        self,
        nb_url: str | None = None,
        nb_token: str | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        overrides: str | None = None,
        filter_parameters: Mapping[str, Any] | None = None,
        ssl_verify: bool | str = True,
        page_size: int = 0,
    ) -> None:
        if page_size < 0:
            raise ValidationError("NetBoxRouterInventory", "page_size", "must not be negative")
        self.netbox = NetBoxInventory2(nb_url=nb_url, nb_token=nb_token, ssl_verify=ssl_verify)
        self.username = username
        self.password = password
        self.overrides = load_overrides(overrides) if overrides else {}
        self.filter_parameters = {**(filter_parameters or {}), "role": EDGE_ROUTER_ROLE}
        self.page_size = page_size

    @property
    def session(self) -> Any:
        """The ``requests`` session every call goes through (hooks can count them)."""
        return self.netbox.session

    def _list(self, endpoint: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        # The filters go into the first URL only: NetBox's `next` links carry them, while
        # NetBoxInventory2 would send its `params` again on every page.
        query = urlencode({"limit": self.page_size, **params}, doseq=True)
        return list(self.netbox._get_resources(f"{self.netbox.nb_url}/api/{endpoint}/?{query}", {}))

    def load(self) -> Inventory:
        """The edge routers NetBox holds, as hosts; two with one name are a ValidationError."""
        devices = self._list(
            "dcim/devices", {**self.filter_parameters, "fields": ",".join(DEVICE_FIELDS)}
        )
        ports = self._netconf_ports()
        hosts = Hosts()
        for device in devices:
            host = self._host(device, ports.get(int(device["id"]), DEFAULT_NETCONF_PORT))
            if host.name in hosts:
                raise ValidationError(_named(device), "name", "is not unique among edge routers")
            hosts[host.name] = host
        return Inventory(hosts=hosts, groups=Groups(), defaults=Defaults())

    def _netconf_ports(self) -> dict[int, int]:
        """NETCONF port by NetBox device id, from every device's ``netconf`` service.

        The port is read as the NetBox sync reads it (the first ``tcp/N`` port mapping,
        else the legacy ``ports``), and a device with two such services gets the last one
        listed, as there, so the inventory and ``/config`` agree.
        """
        ports: dict[int, int] = {}
        services = self._list(
            "ipam/services",
            {
                "name": NETCONF_SERVICE,
                "parent_object_type": "dcim.device",
                "fields": ",".join(_SERVICE_FIELDS),
            },
        )
        for service in services:
            port = service_port(SimpleNamespace(**service))
            if port is not None and service.get("parent_object_id") is not None:
                ports[int(service["parent_object_id"])] = port
        return ports

    def _host(self, device: Mapping[str, Any], port: int) -> Host:
        what = _named(device)
        if not device.get("name"):
            raise ValidationError(what, "name", "is not set: hosts are named by it")
        address = device.get("primary_ip4")
        if not address:
            raise ValidationError(what, "primary_ip4", "is not set: the router's address")
        name, ip = str(device["name"]), str(address["address"]).split("/")[0]
        rid = resource_id(
            "dcim.device",
            SimpleNamespace(id=device["id"], custom_fields=device.get("custom_fields")),
        )
        fields: dict[str, Any] = {
            "hostname": ip,
            "port": port,
            "username": self.username,
            "password": self.password,
        }
        # The name is more specific than the IP, so it wins when both are listed.
        fields.update(self.overrides.get(ip, {}))
        fields.update(self.overrides.get(name, {}))
        for field in ("username", "password"):
            if not fields[field]:
                raise ValidationError(
                    what, field, "is not given (NetBox holds no secrets: options or overrides)"
                )
        return Host(
            name=name,
            hostname=fields["hostname"],
            port=fields["port"],
            username=fields["username"],
            password=fields["password"],
            platform=PLATFORM,
            data={"id": rid, "ip": ip, "esi_id": rid, "netbox_id": int(device["id"])},
            connection_options=connection_options(name, fields["hostname"], fields["port"]),
        )
