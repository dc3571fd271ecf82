"""``nornir-esi serve --keystone-url``: the API as an operator runs it, on a real Keystone."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from nornir_esi.contract import desired
from nornir_esi.store.base import Store
from nornir_esi.testing.base import free_port
from nornir_esi.testing.etcd import EtcdServer
from nornir_esi.testing.keystone import ADMIN_PROJECT, ADMIN_USER, KeystoneServer
from tests.store.helpers import eventually

ROOT = Path(__file__).parent.parent.parent
RESOURCES = desired.load_file(ROOT / "inventory" / "resources.yaml")
PASSWORD = "serve-test-password"


@pytest.fixture
def served(
    store: Store, etcd_server: EtcdServer, keystone: KeystoneServer, tmp_path: Path
) -> Iterator[str]:
    desired.apply(store, RESOURCES)
    port = free_port()
    env = {
        **os.environ,
        "ESI_ETCD_ENDPOINTS": etcd_server.endpoints,
        "ESI_KEYSTONE_USERNAME": ADMIN_USER,
        "ESI_KEYSTONE_PASSWORD": keystone.admin_password,
        "ESI_KEYSTONE_PROJECT": ADMIN_PROJECT,
    }
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nornir_esi.cli",
            "serve",
            "--listen",
            f"127.0.0.1:{port}",
            "--keystone-url",
            keystone.url,
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        if proc.poll() is not None:
            raise AssertionError((tmp_path / "serve.log").read_text())
        try:
            return requests.get(url + "/openapi.json", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    try:
        eventually(answering, timeout=60, what="nornir-esi serve listening")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_serve_validates_tokens_with_keystone(served: str, keystone: KeystoneServer) -> None:
    project = keystone.create_project(f"serve-{uuid.uuid4().hex[:8]}")
    user = f"serve-{uuid.uuid4().hex[:8]}"
    keystone.create_user(user, PASSWORD, project)
    token = keystone.issue_token(user, PASSWORD, project)
    answer = requests.get(
        served + "/v2.0/internet_services", headers={"X-Auth-Token": token}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    assert [s["zone"] for s in answer.json()["internet_services"]] == ["jp1-zone1"]
    refused = requests.get(
        served + "/v2.0/edge_routers", headers={"X-Auth-Token": token}, timeout=10
    )
    assert refused.status_code == 403
    for headers in ({}, {"X-Auth-Token": "gAAAAAB-not-a-keystone-token"}):
        answer = requests.get(served + "/v2.0/internet_gateways", headers=headers, timeout=10)
        assert answer.status_code == 401
        assert answer.json()["field"] == "X-Auth-Token"


def test_serve_takes_keystone_or_a_token_file_not_both(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text("noc: noc-0123456789abcdef\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "nornir_esi.cli",
            "serve",
            "--etcd",
            "http://127.0.0.1:9",
            "--keystone-url",
            "http://127.0.0.1:9/v3",
            "--api-tokens",
            str(tokens),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "--keystone-url and --api-tokens" in result.stderr
