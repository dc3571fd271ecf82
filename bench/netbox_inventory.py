"""Benchmark of the NetBox inventory: loading 1,000 edge routers from a real NetBox.

Run: ``python -m bench.netbox_inventory [--routers 1000] [--runs 7]``.

A NetBoxServer (its own PostgreSQL, Redis, gunicorn with 2 workers) gets ``--routers``
edge-router devices, each with an interface, a primary IPv4 address and a ``netconf``
service, made with bulk requests. Then each way of loading them is timed ``--runs`` times
(interleaved, after one warm-up each), in this same run:

- ``NetBoxRouterInventory``: ours (devices with only the fields used, then every netconf
  service), NetBox's page size (``limit=0``: ``MAX_PAGE_SIZE``, 1,000);
- ``... whole devices``: ours without NetBox 4's ``fields`` parameter, which shows what
  asking only for the fields used saves;
- ``NetBoxInventory2``: nornir-netbox's plugin as shipped, same role filter and page size
  (whole devices; no ports or credentials: its hosts cannot be used as they are);
- ``pynetbox lists``: the two lists as the NetBox sync reads them (pynetbox, ``limit=0``
  too: whole objects, made into pynetbox records), without building hosts;
- ``ResourceInventory``: ours from the same routers as in-memory edge_router bodies (what
  a worker builds from etcd), the floor without HTTP.

Figures are medians (and min/max) in ms, HTTP requests per load (counted with a
``requests`` response hook on each client's session), and ratios to NetBoxInventory2.
Results are printed as a table and written to ``bench/results/netbox_inventory.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pynetbox
from nornir_netbox.plugins.inventory.netbox import NetBoxInventory2

from nornir_esi.device.inventory import ResourceInventory
from nornir_esi.netbox.inventory import NetBoxRouterInventory
from nornir_esi.netbox.schema import EDGE_ROUTER_ROLE, NETCONF_SERVICE
from nornir_esi.netbox.seed import DEVICE_TYPE, SITE, seed
from nornir_esi.testing.netbox import NetBoxServer

RESULTS = Path(__file__).parent / "results" / "netbox_inventory.json"
CHUNK = 250  # objects per bulk request
USERNAME, PASSWORD = "esi", "bench-password"


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _router(i: int) -> dict[str, Any]:
    """The i-th router: every fourth on the default port (no netconf service)."""
    return {
        "id": f"00000000-0000-4000-8000-{i:012d}",
        "name": f"bench-er-{i:04d}",
        "ip": f"10.{100 + i // 62500}.{i // 250 % 250}.{i % 250 + 1}",
        "ssh_port": 830 if i % 4 == 0 else 10000 + i,
        "login": USERNAME,
        "password": PASSWORD,
        "tenant_id": "bench",
    }


def create_routers(nb: Any, routers: Sequence[dict[str, Any]]) -> float:
    """The routers as NetBox devices, in bulk requests; returns the seconds it took."""
    began = time.perf_counter()
    seed(nb, [])  # custom fields, role, platform, site, device type
    site = nb.dcim.sites.get(slug=SITE)
    dtype = nb.dcim.device_types.get(slug=DEVICE_TYPE.lower())
    role = nb.dcim.device_roles.get(slug=EDGE_ROUTER_ROLE)
    junos = nb.dcim.platforms.get(slug="junos")
    for chunk in _chunks(routers):
        devices = nb.dcim.devices.create(
            [
                {
                    "name": r["name"],
                    "device_type": dtype.id,
                    "role": role.id,
                    "platform": junos.id,
                    "site": site.id,
                    "status": "active",
                    "custom_fields": {"esi_id": r["id"]},
                }
                for r in chunk
            ]
        )
        interfaces = nb.dcim.interfaces.create(
            [
                {"device": d.id, "name": "fxp0", "type": "1000base-t", "mgmt_only": True}
                for d in devices
            ]
        )
        addresses = nb.ipam.ip_addresses.create(
            [
                {
                    "address": f"{r['ip']}/32",
                    "assigned_object_type": "dcim.interface",
                    "assigned_object_id": interface.id,
                }
                for r, interface in zip(chunk, interfaces, strict=True)
            ]
        )
        nb.dcim.devices.update(
            [{"id": d.id, "primary_ip4": a.id} for d, a in zip(devices, addresses, strict=True)]
        )
        services = [
            {
                "parent_object_type": "dcim.device",
                "parent_object_id": d.id,
                "name": NETCONF_SERVICE,
                "port_mappings": [f"tcp/{r['ssh_port']}"],
            }
            for r, d in zip(chunk, devices, strict=True)
            if r["ssh_port"] != 830
        ]
        if services:
            nb.ipam.services.create(services)
    return time.perf_counter() - began


class _WholeDevices(NetBoxRouterInventory):
    """Ours, asking NetBox for whole devices and services."""

    def _list(self, endpoint: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        return super()._list(endpoint, {k: v for k, v in params.items() if k != "fields"})


class Counted:
    """Counts the HTTP responses a ``requests`` session receives."""

    def __init__(self, session: Any) -> None:
        self.n = 0
        session.hooks["response"].append(self._hook)

    def _hook(self, response: Any, *args: Any, **kwargs: Any) -> None:
        self.n += 1


def _loaders(
    server: NetBoxServer, routers: Sequence[dict[str, Any]], missing: Path
) -> dict[str, tuple[Callable[[], int], Counted | None]]:
    """Each way of loading, by name: a function and its request counter.

    The function returns how many routers it loaded; the counter is None for the load
    without HTTP.
    """
    ours = NetBoxRouterInventory(server.url, server.token, username=USERNAME, password=PASSWORD)
    whole = _WholeDevices(server.url, server.token, username=USERNAME, password=PASSWORD)
    plain = NetBoxInventory2(
        nb_url=server.url,
        nb_token=server.token,
        filter_parameters={"role": EDGE_ROUTER_ROLE},
        use_platform_slug=True,
        # Not the working directory's groups.yaml/defaults.yaml, should there be any.
        group_file=str(missing / "groups.yaml"),
        defaults_file=str(missing / "defaults.yaml"),
    )
    nb = pynetbox.api(server.url, token=server.token)
    resources = ResourceInventory(routers)

    def pynetbox_lists() -> int:
        devices = list(nb.dcim.devices.filter(role=EDGE_ROUTER_ROLE))
        list(nb.ipam.services.filter(name=NETCONF_SERVICE))
        return len(devices)

    return {
        "NetBoxRouterInventory": (lambda: len(ours.load().hosts), Counted(ours.session)),
        "... whole devices": (lambda: len(whole.load().hosts), Counted(whole.session)),
        "NetBoxInventory2": (lambda: len(plain.load().hosts), Counted(plain.session)),
        "pynetbox lists": (pynetbox_lists, Counted(nb.http_session)),
        "ResourceInventory": (lambda: len(resources.load().hosts), None),
    }


def measure(count: int, runs: int) -> dict[str, Any]:
    """The figures of each load of ``count`` routers from a fresh NetBox, over ``runs`` runs.

    Each load is checked first (it must get every router), then warmed up and its HTTP
    requests counted, then timed ``runs`` times, the loads interleaved.
    """
    routers = [_router(i) for i in range(count)]
    with NetBoxServer("bench") as server:
        nb = pynetbox.api(server.url, token=server.token)
        create_s = create_routers(nb, routers)
        loaders = _loaders(server, routers, Path(server.base or ".") / "absent")
        # The inventory must be right before it is timed.
        hosts = NetBoxRouterInventory(
            server.url, server.token, username=USERNAME, password=PASSWORD
        ).load()
        for r in routers[:: max(1, count // 50)]:
            host = hosts.hosts[r["name"]]
            assert (host.hostname, host.port, host.data["id"]) == (r["ip"], r["ssh_port"], r["id"])
        samples: dict[str, list[float]] = {name: [] for name in loaders}
        requests: dict[str, int | None] = {}
        for name, (load, counter) in loaders.items():
            got = load()  # warm-up: NetBox's caches, connection pools
            if got != count:
                raise SystemExit(f"{name} loaded {got} routers, not {count}")
            if counter is not None:
                counter.n = 0
                load()
                requests[name] = counter.n
            else:
                requests[name] = None
        for _ in range(runs):
            for name, (load, _counter) in loaders.items():
                began = time.perf_counter()
                load()
                samples[name].append(time.perf_counter() - began)
        timings = dict(server.timings)
    base = statistics.median(samples["NetBoxInventory2"])
    return {
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "netbox": {"version": server.version, "gunicorn_workers": server.workers, **timings},
        "routers": count,
        "runs": runs,
        "create_routers_s": round(create_s, 1),
        "loads": {
            name: {
                "median_ms": round(statistics.median(s) * 1000, 1),
                "min_ms": round(min(s) * 1000, 1),
                "max_ms": round(max(s) * 1000, 1),
                "http_requests": requests[name],
                "ratio_to_NetBoxInventory2": round(statistics.median(s) / base, 3),
            }
            for name, s in samples.items()
        },
    }


def _table(result: dict[str, Any]) -> str:
    head = ("load", "median ms", "min ms", "max ms", "requests", "vs NetBoxInventory2")
    rows = [head]
    for name, fig in result["loads"].items():
        rows.append(
            (
                name,
                f"{fig['median_ms']}",
                f"{fig['min_ms']}",
                f"{fig['max_ms']}",
                "-" if fig["http_requests"] is None else str(fig["http_requests"]),
                f"{fig['ratio_to_NetBoxInventory2']}x",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = [
        f"{result['routers']} edge routers in NetBox {result['netbox']['version']}"
        f" ({result['netbox']['gunicorn_workers']} gunicorn workers), {result['runs']} runs,"
        f" {result['machine']['cores']} cores; created in {result['create_routers_s']} s",
        "",
    ]
    for i, row in enumerate(rows):
        numbers = zip(row[1:], widths[1:], strict=True)
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in numbers]
        lines.append("  ".join(cells))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Measure, print the table and write ``bench/results/netbox_inventory.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routers", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    result = measure(args.routers, args.runs)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(_table(result))
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
