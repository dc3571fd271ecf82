"""Fixtures shared by every test package: a real etcd and a clean store on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nornir_esi.store import EtcdServer, EtcdStore, Store

# The store backends the backend-agnostic suites run against (kopf's ALL_STORAGES idea):
# a test that takes ``store`` runs once per backend.
STORE_BACKENDS = ["etcd"]


@pytest.fixture(scope="session")
def etcd_server() -> Iterator[EtcdServer]:
    """One etcd for the whole session, on free loopback ports and a temporary data dir."""
    with EtcdServer("pytest") as server:
        yield server


def _etcd_store(request: pytest.FixtureRequest) -> EtcdStore:
    server: EtcdServer = request.getfixturevalue("etcd_server")
    return server.client(timeout=5.0)


_FACTORIES = {"etcd": _etcd_store}


@pytest.fixture(params=STORE_BACKENDS)
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """A store with an empty keyspace (everything is deleted before the test)."""
    s = _FACTORIES[request.param](request)
    try:
        # The empty prefix is the whole keyspace (etcd: key "\0" to range end "\0").
        s.delete("", prefix=True)
        yield s
    finally:
        s.close()
