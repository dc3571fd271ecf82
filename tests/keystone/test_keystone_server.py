"""The loopback Keystone gives a project's user a token that validates, with the endpoints
added to its catalog; eclcli and eclsdk authenticate there and call the catalog's network
endpoint (a stub on loopback) with a token of the user's project."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from nornir_esi.testing.clients import Clients, os_env
from nornir_esi.testing.keystone import KeystoneApiError, KeystoneServer

GATEWAY = {
    "id": "4a9b5f1e-6f0c-4d8e-9a57-1d2c3b4a5f60",
    "name": "gw-from-the-stub",
    "description": "",
    "internet_service_id": "5536154d-9a00-4b11-81fb-b185c9111d90",
    "qos_option_id": "e497bbc3-1127-4490-a51d-93582c40ab40",
    "status": "ACTIVE",
    "tenant_id": "",
}


@dataclass(frozen=True)
class Member:
    """A user with role member on a project of its own."""

    project_id: str
    user_id: str
    name: str
    password: str


@pytest.fixture
def member(keystone: KeystoneServer) -> Member:
    suffix = uuid.uuid4().hex[:8]
    project_id = keystone.create_project(f"tenant-{suffix}")
    password = f"pw-{suffix}"
    user_id = keystone.create_user(f"user-{suffix}", password, project_id)
    return Member(project_id, user_id, f"user-{suffix}", password)


@dataclass
class NetworkStub:
    """A network API on loopback that lists one internet gateway and keeps the tokens sent."""

    url: str
    tokens: list[str]
    paths: list[str]


@pytest.fixture
def network_stub(keystone: KeystoneServer) -> Iterator[NetworkStub]:
    """The stub, registered as the catalog's network endpoint (the API root, no /v2.0)."""
    tokens: list[str] = []
    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            tokens.append(self.headers.get("X-Auth-Token", ""))
            paths.append(self.path)
            if self.path.split("?")[0] == "/v2.0/internet_gateways":
                self._answer(200, {"internet_gateways": [GATEWAY]})
            else:
                self._answer(404, {"error": f"no route {self.path}"})

        def _answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    stub = NetworkStub(f"http://127.0.0.1:{server.server_address[1]}", tokens, paths)
    keystone.add_endpoint("network", stub.url)
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_projects_user_gets_a_token_that_validates(
    keystone: KeystoneServer, member: Member
) -> None:
    token = keystone.issue_token(member.name, member.password, member.project_id)

    # The user itself (token_subject), an admin and a service user of a service project.
    validators = [token]
    service_project = keystone.create_project(f"service-{uuid.uuid4().hex[:8]}")
    for role in ("admin", "service"):
        name = f"{role}-{service_project[:8]}"
        keystone.create_user(name, "svc-pw", service_project, role=role)
        validators.append(keystone.issue_token(name, "svc-pw", service_project))

    for validator in validators:
        seen = keystone.validate_token(token, token=validator)
        assert seen["project"]["id"] == member.project_id
        assert seen["user"]["id"] == member.user_id
        assert sorted(role["name"] for role in seen["roles"]) == ["member", "reader"]


def test_a_member_may_not_validate_another_users_token(
    keystone: KeystoneServer, member: Member
) -> None:
    token = keystone.issue_token(member.name, member.password, member.project_id)
    admins = keystone.admin_token()

    with pytest.raises(KeystoneApiError) as refused:
        keystone.validate_token(admins, token=token)

    assert refused.value.status == 403


def test_a_wrong_password_gets_no_token(keystone: KeystoneServer, member: Member) -> None:
    with pytest.raises(KeystoneApiError) as refused:
        keystone.issue_token(member.name, "not-the-password", member.project_id)

    assert refused.value.status == 401


def test_an_added_endpoint_is_in_the_tokens_catalog(
    keystone: KeystoneServer, member: Member
) -> None:
    keystone.add_endpoint("network", "http://127.0.0.1:9/first")
    keystone.add_endpoint("network", "http://127.0.0.1:9/network")  # replaces the first
    token = keystone.issue_token(member.name, member.password, member.project_id)

    catalog = keystone.validate_token(token)["catalog"]

    endpoints = {
        (entry["type"], e["interface"], e["region_id"], e["url"])
        for entry in catalog
        for e in entry["endpoints"]
    }
    assert ("network", "public", "RegionOne", "http://127.0.0.1:9/network") in endpoints
    assert ("identity", "public", "RegionOne", keystone.url) in endpoints
    assert not any(url.endswith("/first") for *_, url in endpoints)


def _env(keystone: KeystoneServer, member: Member) -> dict[str, str]:
    return os_env(keystone.url, member.name, member.password, member.project_id)


def _sent_by(keystone: KeystoneServer, stub: NetworkStub, member: Member) -> None:
    """The stub was called with tokens of ``member`` scoped to its project."""
    assert stub.paths and all(p.startswith("/v2.0/internet_gateways") for p in stub.paths)
    for token in set(stub.tokens):
        validated = keystone.validate_token(token)
        assert validated["project"]["id"] == member.project_id
        assert validated["user"]["name"] == member.name


def test_eclcli_lists_the_stubs_gateways_with_a_keystone_token(
    keystone: KeystoneServer, clients: Clients, member: Member, network_stub: NetworkStub
) -> None:
    done = clients.ecl(["network", "inet-gw", "list"], _env(keystone, member))

    assert done.returncode == 0, done.stdout + done.stderr
    (row,) = [line for line in done.stdout.splitlines() if GATEWAY["id"] in line]
    assert [cell.strip() for cell in row.strip("|").split("|")] == [
        GATEWAY["id"],
        GATEWAY["name"],
        "ACTIVE",
    ]
    _sent_by(keystone, network_stub, member)


def test_eclsdk_lists_the_stubs_gateways_with_a_keystone_token(
    keystone: KeystoneServer, clients: Clients, member: Member, network_stub: NetworkStub
) -> None:
    script = (
        "import json\n"
        "gateways = connect().network.internet_gateways()\n"
        "print(json.dumps([[g.id, g.name, g.status] for g in gateways]))\n"
    )

    done = clients.sdk(script, _env(keystone, member))

    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout) == [[GATEWAY["id"], GATEWAY["name"], "ACTIVE"]]
    _sent_by(keystone, network_stub, member)
