"""Fixtures shared by every test package: a real etcd and a clean store on it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from nornir_esi.device.known_hosts import ACCEPT_ENV, FILE_ENV
from nornir_esi.store import EtcdStore, Store
from nornir_esi.testing.etcd import EtcdServer

# The store backends the backend-agnostic suites run against (kopf's ALL_STORAGES idea):
# a test that takes ``store`` runs once per backend.
STORE_BACKENDS = ["etcd"]


@pytest.fixture(scope="session", autouse=True)
def known_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The session's known_hosts file: every simulator records its routers' keys there at
    start and every worker verifies against it (also in the processes tests spawn)."""
    path = str(tmp_path_factory.mktemp("ssh") / "known_hosts")
    saved = {name: os.environ.pop(name, None) for name in (FILE_ENV, ACCEPT_ENV)}
    os.environ[FILE_ENV] = path
    try:
        yield path
    finally:
        for name, value in saved.items():
            os.environ.pop(name, None)
            if value is not None:
                os.environ[name] = value


@pytest.fixture(scope="session", autouse=True)
def router_password() -> Iterator[str]:
    """The routers' password as the workers resolve it: ``inventory/resources.yaml`` holds
    ``{ref: env:ESI_ROUTER_PASSWORD}`` (also in the processes tests spawn)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ESI_ROUTER_PASSWORD", "esi-test-password")
        yield "esi-test-password"


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
