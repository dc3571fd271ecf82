"""etcd over TLS and with authentication, against etcd servers started that way.

Certificates are made for the run (a throwaway CA, a server certificate for 127.0.0.1
and a client certificate); users and roles are set up before authentication is turned
on. The "secure" server wants both a client certificate and a user, and forgets a token
after 2 s unused, so that a long-lived store has to authenticate again.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc  # type: ignore[import-untyped]
import pytest
from pyetcd import etcdrpc  # type: ignore[import-untyped]

from nornir_esi.exceptions import StoreError, StoreUnavailableError, ValidationError
from nornir_esi.store.etcd import EtcdStore
from nornir_esi.testing.etcd import EtcdServer, EtcdUser
from nornir_esi.testing.tls import TlsFiles, make_ca, make_client_cert
from tests.store.helpers import WatchReader, eventually, retry

ROOT_PASSWORD = "root-secret"
CONFIG_USER = EtcdUser("configurator", "config-secret", ("/config/",))
TOKEN_TTL = 2


@pytest.fixture(scope="module")
def tls_server() -> Iterator[EtcdServer]:
    """https only; no client certificate needed, no authentication."""
    with EtcdServer("tls", tls=True) as server:
        yield server


@pytest.fixture(scope="module")
def secure_server() -> Iterator[EtcdServer]:
    """https with client certificates required, and authentication on."""
    with EtcdServer(
        "secure",
        client_cert_auth=True,
        root_password=ROOT_PASSWORD,
        users=[CONFIG_USER],
        auth_token_ttl=TOKEN_TTL,
    ) as server:
        yield server


def _tls(server: EtcdServer) -> TlsFiles:
    files = server.tls_files
    assert files is not None
    return files


def _config_store(server: EtcdServer, **kwargs: object) -> EtcdStore:
    return server.client(user=CONFIG_USER.name, password=CONFIG_USER.password, **kwargs)


# -- TLS ----------------------------------------------------------------------------------


def test_tls_store_puts_gets_and_watches(tls_server: EtcdServer) -> None:
    assert tls_server.endpoints.startswith("https://127.0.0.1:")
    # The CA alone: this server does not ask for a client certificate.
    with EtcdStore(tls_server.endpoints, ca_cert=str(_tls(tls_server).ca_cert)) as store:
        watch = store.watch("/tls/")
        reader = WatchReader(watch)
        try:
            rev = store.put("/tls/a", "1")
            entry = store.get("/tls/a")
            assert entry is not None and entry.value == "1" and entry.mod_revision == rev
            assert [(e.key, e.value) for e in reader.take(1)] == [("/tls/a", "1")]
        finally:
            reader.close()


def test_https_endpoint_without_ca_is_a_validation_error(tls_server: EtcdServer) -> None:
    with pytest.raises(ValidationError, match="ca_cert"):
        EtcdStore(tls_server.endpoints)


def test_wrong_ca_fails_naming_the_endpoint(tls_server: EtcdServer, tmp_path: Path) -> None:
    other_ca = make_ca(tmp_path / "other")
    with (
        EtcdStore(tls_server.endpoints, ca_cert=str(other_ca)) as store,
        pytest.raises(StoreError) as caught,
    ):
        store.get("/tls/a")
    # A certificate problem is not worth retrying: a StoreError, not StoreUnavailableError.
    assert not isinstance(caught.value, StoreUnavailableError)
    message = str(caught.value)
    assert f"get /tls/a at {tls_server.endpoints}:" in message
    assert "TLS handshake failed" in message and "CERTIFICATE_VERIFY_FAILED" in message


def test_plaintext_client_of_a_tls_server_fails_naming_the_endpoint(
    tls_server: EtcdServer,
) -> None:
    plain = tls_server.endpoints.replace("https://", "http://")
    with EtcdStore(plain) as store, pytest.raises(StoreUnavailableError) as caught:
        store.get("/tls/a")
    assert f"get /tls/a at {plain}:" in str(caught.value)


def test_missing_client_certificate_fails_naming_the_endpoint(
    secure_server: EtcdServer,
) -> None:
    ca_only = {"cert_cert": None, "cert_key": None}
    # Refused at the handshake: already when authenticating, at construction...
    with pytest.raises(StoreError) as caught:
        secure_server.client(**ca_only)
    assert not isinstance(caught.value, StoreUnavailableError)
    assert f"at {secure_server.endpoints}: TLS handshake failed" in str(caught.value)
    # ... and at the first request without a user.
    with (
        secure_server.client(user=None, password=None, **ca_only) as store,
        pytest.raises(StoreError, match="TLS handshake failed"),
    ):
        store.get("/config/a")


# -- authentication -------------------------------------------------------------------------


def test_right_user_and_password_work(secure_server: EtcdServer) -> None:
    with secure_server.client() as root, _config_store(secure_server) as config:
        root.put("/jobs/by-root", "1")
        rev = config.put("/config/by-user", "2")
        entry = root.get("/config/by-user")
        assert entry is not None and entry.value == "2" and entry.mod_revision == rev
        # A user limited to /config/ still has the store's revision (an empty txn).
        assert config.revision() >= rev
        lease = config.lease(5)
        try:
            config.put("/config/leased", "x", lease=lease.id)
            assert lease.refresh() > 0
        finally:
            lease.revoke()
        assert config.get("/config/leased") is None


def test_wrong_password_is_a_clear_error(secure_server: EtcdServer) -> None:
    with pytest.raises(StoreError) as caught:
        secure_server.client(user=CONFIG_USER.name, password="wrong")
    assert not isinstance(caught.value, StoreUnavailableError)
    message = str(caught.value)
    assert f"authenticate as {CONFIG_USER.name} at {secure_server.endpoints}:" in message
    assert "authentication failed, invalid user ID or password" in message
    assert "debug_error_string" not in message  # gRPC's own dump stays in the cause


def test_no_user_is_denied(secure_server: EtcdServer) -> None:
    # The client certificate's common name is no etcd user: no access without one.
    with (
        secure_server.client(user=None, password=None) as store,
        pytest.raises(StoreError, match="permission denied"),
    ):
        store.get("/config/a")


def test_user_cannot_write_outside_its_prefix(secure_server: EtcdServer) -> None:
    with _config_store(secure_server) as config:
        with pytest.raises(StoreError) as caught:
            config.put("/jobs/x", "1")
        assert not isinstance(caught.value, StoreUnavailableError)
        assert f"put /jobs/x at {secure_server.endpoints}:" in str(caught.value)
        assert "permission denied" in str(caught.value)
        with pytest.raises(StoreError, match="permission denied"):
            config.get("/jobs/x")
    with secure_server.client() as root:
        assert root.get("/jobs/x") is None


@pytest.mark.parametrize("identity", ["password", "certificate"])
def test_refused_watch_fails_and_spares_the_watch_already_open(
    secure_server: EtcdServer, tmp_path: Path, identity: str
) -> None:
    """etcd 3.5 stops sending the events of the watch that has the refused watch's id
    (0, the first on the stream). With a password the refusal makes the store fetch a new
    token and move its watches to a new stream; with a client certificate as the identity
    (etcd takes its common name as the user) there is no token, and the open watch is on
    the very stream of the refusal."""
    if identity == "password":
        config = _config_store(secure_server)
    else:
        cert, key = make_client_cert(_tls(secure_server), CONFIG_USER.name, tmp_path)
        config = secure_server.client(
            user=None, password=None, cert_cert=str(cert), cert_key=str(key)
        )
    with config, secure_server.client() as root:
        reader = WatchReader(config.watch("/config/w/"))
        try:
            with pytest.raises(StoreError, match=r"watch /jobs/.*permission denied"):
                config.watch("/jobs/")
            root.put("/config/w/1", "a")
            root.put("/config/w/2", "b")
            assert [e.key for e in reader.until("/config/w/2")] == ["/config/w/1", "/config/w/2"]
        finally:
            reader.close()


# -- tokens ---------------------------------------------------------------------------------


class _TokenProbes:
    """Tokens fetched right after a store's own, to learn without using the store's token
    (each use resets its time to live) when it has expired: each probe is used once, and
    a probe fetched later than the store's token expires no earlier than it."""

    def __init__(self, server: EtcdServer, count: int) -> None:
        tls = _tls(server)
        creds = grpc.ssl_channel_credentials(
            tls.ca_cert.read_bytes(), tls.client_key.read_bytes(), tls.client_cert.read_bytes()
        )
        self._channel = grpc.secure_channel(server.endpoints.split("://", 1)[1], creds)
        auth = etcdrpc.AuthStub(self._channel)
        rq = etcdrpc.AuthenticateRequest(name=CONFIG_USER.name, password=CONFIG_USER.password)
        self._tokens = [auth.Authenticate(rq, timeout=10).token for _ in range(count)]
        self._kv = etcdrpc.KVStub(self._channel)

    def expired(self) -> bool:
        if not self._tokens:
            raise AssertionError("no probe token left")
        token = self._tokens.pop(0)
        try:
            self._kv.Range(
                etcdrpc.RangeRequest(key=b"/config/probe"),
                timeout=10,
                metadata=(("token", token),),
            )
        except grpc.RpcError as exc:
            if "invalid auth token" in (exc.details() or ""):
                return True
            raise
        return False

    def close(self) -> None:
        self._channel.close()


def _wait_token_expired(server: EtcdServer, probes: _TokenProbes) -> None:
    # etcd drops unused tokens once a second: gone within TOKEN_TTL + 1 s.
    eventually(probes.expired, timeout=TOKEN_TTL * 4, interval=0.25, what="token expiry")


def test_long_lived_store_authenticates_again_after_its_token_expired(
    secure_server: EtcdServer, caplog: pytest.LogCaptureFixture
) -> None:
    with _config_store(secure_server) as config, secure_server.client() as root:
        config.put("/config/long-lived", "1")
        reader = WatchReader(config.watch("/config/long-lived"))
        probes = _TokenProbes(secure_server, count=TOKEN_TTL * 16)
        try:
            _wait_token_expired(secure_server, probes)
            with caplog.at_level(logging.INFO, logger="nornir_esi.store.etcd"):
                entry = config.get("/config/long-lived")
                assert entry is not None and entry.value == "1"
                # A new watch needs the new token on its stream too.
                later = WatchReader(config.watch("/config/later"))
            assert "invalid auth token, authenticating again" in caplog.text
            try:
                rev = config.put("/config/long-lived", "2")
                root.put("/config/later", "3")
                # The watch open since before the token expired missed nothing.
                (event,) = reader.take(1)
                assert (event.key, event.value, event.mod_revision) == (
                    "/config/long-lived",
                    "2",
                    rev,
                )
                assert [e.value for e in later.take(1)] == ["3"]
            finally:
                later.close()
        finally:
            probes.close()
            reader.close()


def test_store_and_watch_carry_on_after_etcd_restarts() -> None:
    """A restarted etcd knows none of the tokens it gave out."""
    with (
        EtcdServer("restart", tls=True, root_password=ROOT_PASSWORD, users=[CONFIG_USER]) as server,
        _config_store(server, timeout=5.0) as config,
    ):
        config.put("/config/before", "1")
        reader = WatchReader(config.watch("/config/"))
        try:
            server.restart()
            rev = retry(lambda: config.put("/config/after", "2"))
            events = reader.until("/config/after")
            assert [(e.key, e.mod_revision) for e in events] == [("/config/after", rev)]
            entry = config.get("/config/before")
            assert entry is not None and entry.value == "1"
        finally:
            reader.close()


def test_authentication_over_plaintext() -> None:
    """gRPC refuses call credentials on a plaintext channel (pyetcd's way of sending the
    token): the store sends it as metadata, which works either way."""
    with (
        EtcdServer("plain-auth", root_password=ROOT_PASSWORD, users=[CONFIG_USER]) as server,
        _config_store(server) as config,
    ):
        assert server.endpoints.startswith("http://")
        config.put("/config/plain", "1")
        entry = config.get("/config/plain")
        assert entry is not None and entry.value == "1"
        with pytest.raises(StoreError, match="permission denied"):
            config.put("/jobs/plain", "1")


# -- from the environment -----------------------------------------------------------------


def test_from_env_connects_with_tls_and_a_user(secure_server: EtcdServer) -> None:
    env = secure_server.env(CONFIG_USER.name)
    assert set(env) == {
        "ESI_ETCD_ENDPOINTS",
        "ESI_ETCD_CA",
        "ESI_ETCD_CERT",
        "ESI_ETCD_KEY",
        "ESI_ETCD_USER",
        "ESI_ETCD_PASSWORD",
    }
    with EtcdStore.from_env(env) as store:
        rev = store.put("/config/from-env", "1")
        entry = store.get("/config/from-env")
        assert entry is not None and entry.mod_revision == rev
        with pytest.raises(StoreError, match="permission denied"):
            store.put("/jobs/from-env", "1")


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ESI_ETCD_")}
    return subprocess.run(
        [sys.executable, "-m", "nornir_esi.cli", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_get_with_tls_and_a_user(secure_server: EtcdServer) -> None:
    with secure_server.client() as root:
        root.put("/config/cli/a", json.dumps({"x": 1}))
        root.put("/config/cli/b", "text")
    done = _cli(secure_server.env(CONFIG_USER.name), "get", "/config/cli/")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"/config/cli/a": {"x": 1}, "/config/cli/b": "text"}


def test_cli_wrong_password_is_a_clear_error(secure_server: EtcdServer) -> None:
    env = {**secure_server.env(CONFIG_USER.name), "ESI_ETCD_PASSWORD": "wrong"}
    done = _cli(env, "get", "/config/cli/")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.startswith(
        f"nornir-esi: etcd: authenticate as {CONFIG_USER.name} at {secure_server.endpoints}:"
    )
    assert "invalid user ID or password" in done.stderr
    assert "Traceback" not in done.stderr
