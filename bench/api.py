"""Benchmark of the tenants' API: what Keystone costs a request, and what placement costs a create.

Run: ``python -m bench.api [--requests 200] [--gateways 1000]``.

Everything real on loopback: an etcd, a Keystone (:class:`~nornir_esi.testing.keystone.
KeystoneServer`), the API under uvicorn; requests from this process over HTTP (``requests``,
one connection kept alive). Two figures, each a ratio against a baseline of the same run:

- a tenant's ``GET /v2.0/internet_services`` with its token validated by Keystone, against
  the same request with a token file's token (the baseline), once with the validation cache
  (a request after the first asks Keystone nothing) and once without (``cache_ttl=0``:
  every request asks Keystone);
- a tenant's gateway create (placed: a downlink with room, the lowest free VLAN) with
  ``--gateways`` gateways already on the downlink, against the same create on an empty one.

Medians of ``--requests`` requests (creates: a tenth of them, at least 20).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import requests

from nornir_esi.contract import desired
from nornir_esi.doors.api import ApiServer, create_app
from nornir_esi.doors.identity import Authenticator, KeystoneAuth, TokenFile
from nornir_esi.store.base import Store
from nornir_esi.testing.etcd import EtcdServer
from nornir_esi.testing.keystone import KeystoneServer

INVENTORY = Path(__file__).parent.parent / "inventory"
TENANT_TOKEN = "bench-tenant-0123456789abcdef"


def _infrastructure(capacity: int) -> list[tuple[str, dict[str, Any]]]:
    items = desired.load_file(INVENTORY / "resources.yaml")
    out = []
    for kind, body in items:
        if kind == "ha_router":
            body = {**body, "maximum_gateways": capacity, "available_gateways": capacity}
        if kind == "ha_interface":
            # Room for every gateway's VLAN and bandwidth: what is measured is placement.
            body = {**body, "restricted_vlans": "0", "maximum_ga_bandwidth": 10**9}
        out.append((kind, body))
    return out


def _median_ms(session: requests.Session, method: str, url: str, count: int, **kw: Any) -> float:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        answer = session.request(method, url, timeout=30, **kw)
        times.append(time.perf_counter() - start)
        assert answer.status_code in (200, 201), answer.text
    return statistics.median(times) * 1000


def _serve(store: Store, auth: Authenticator) -> ApiServer:
    return ApiServer(create_app(store, auth=auth)).start()


def _identity(store: Store, keystone: KeystoneServer, count: int) -> dict[str, float]:
    project = keystone.create_project(f"bench-{uuid.uuid4().hex[:8]}")
    keystone.create_user("bench-user", "bench-password", project)
    token = keystone.issue_token("bench-user", "bench-password", project)
    file_auth = TokenFile(
        {"bench": {"token": TENANT_TOKEN, "tenant_id": project, "role": "member"}}
    )
    out: dict[str, float] = {}
    for name, auth, presented in (
        ("token file", file_auth, TENANT_TOKEN),
        ("keystone, cached", KeystoneAuth(keystone.url), token),
        ("keystone, no cache", KeystoneAuth(keystone.url, cache_ttl=0), token),
    ):
        server = _serve(store, auth)
        try:
            with requests.Session() as session:
                session.headers["X-Auth-Token"] = presented
                url = server.url + "/v2.0/internet_services"
                _median_ms(session, "GET", url, 5)  # warm: connection, first validation
                out[name] = _median_ms(session, "GET", url, count)
        finally:
            server.stop()
    return out


def _placement(store: Store, count: int, gateways: int) -> dict[str, float]:
    service = next(b for t, b in _infrastructure(1) if t == "internet_service")["id"]
    option = next(b for t, b in _infrastructure(1) if t == "qos_option")["id"]
    auth = TokenFile({"bench": {"token": TENANT_TOKEN, "tenant_id": "c" * 32, "role": "member"}})
    body = json.dumps(
        {"internet_gateway": {"internet_service_id": service, "qos_option_id": option}}
    )
    out: dict[str, float] = {}
    server = _serve(store, auth)
    try:
        with requests.Session() as session:
            session.headers.update(
                {"X-Auth-Token": TENANT_TOKEN, "Content-Type": "application/json"}
            )
            url = server.url + "/v2.0/internet_gateways"
            out["empty downlink"] = _median_ms(session, "POST", url, count, data=body)
            # Fill the downlink to `gateways` through the API itself, then measure again.
            present = count
            while present < gateways:
                batch = min(200, gateways - present)
                for _ in range(batch):
                    session.post(url, data=body, timeout=30).raise_for_status()
                present += batch
            out[f"{gateways} gateways on it"] = _median_ms(session, "POST", url, count, data=body)
    finally:
        server.stop()
    return out


def main() -> None:
    """Run both measures and print them as a table and JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--gateways", type=int, default=1000)
    args = parser.parse_args()
    creates = max(20, args.requests // 10)
    with EtcdServer("bench-api") as etcd, KeystoneServer("bench-api") as keystone:
        store = etcd.client(timeout=10.0)
        desired.apply(store, _infrastructure(args.gateways + 2 * creates + 10))
        identity = _identity(store, keystone, args.requests)
        placement = _placement(store, creates, args.gateways)
    base = identity["token file"]
    rows = [
        ("GET as a tenant, token file (baseline)", identity["token file"], 1.0),
        (
            "GET as a tenant, Keystone cached",
            identity["keystone, cached"],
            identity["keystone, cached"] / base,
        ),
        (
            "GET as a tenant, Keystone uncached",
            identity["keystone, no cache"],
            identity["keystone, no cache"] / base,
        ),
        ("create, empty downlink (baseline)", placement["empty downlink"], 1.0),
        (
            f"create, {args.gateways} gateways on it",
            placement[f"{args.gateways} gateways on it"],
            placement[f"{args.gateways} gateways on it"] / placement["empty downlink"],
        ),
    ]
    for name, ms, ratio in rows:
        print(f"{name:<42} {ms:8.2f} ms  x{ratio:.2f}")
    print(json.dumps({"identity_ms": identity, "placement_ms": placement}))


if __name__ == "__main__":
    main()
