"""A real OpenStack Keystone on loopback, started by the project for the tests.

Keystone (PyPI ``keystone``, pinned to :data:`KEYSTONE_VERSION`, the 2026.2 release that
matches Heat's 27.0.1) lives in a virtualenv of its own under the cache directory
(``$ESI_CACHE`` or ``~/.cache/nornir-esi``), ``keystone-<version>``, made once with the
Python 3.12+ that :func:`~nornir_esi.testing.base.find_python` finds (the one Heat gets):
about 18 s of pip (190 MB).

Each :class:`KeystoneServer` has a temporary directory with its ``keystone.conf``, its
SQLite database and its Fernet token and credential keys:

- ``keystone-manage db_sync``, ``fernet_setup`` and ``credential_setup`` (run at once: each
  is 1.5-2 s of imports), then ``bootstrap``: user ``admin`` (a random password,
  :attr:`KeystoneServer.admin_password`) with role ``admin`` on project ``admin`` and on the
  system, the roles ``reader``, ``member``, ``manager``, ``admin`` and ``service``, region
  ``RegionOne`` and the identity endpoint (public, internal, admin) at :attr:`~KeystoneServer.url`;
- Keystone's WSGI application (``keystone.server.wsgi.initialize_public_application``, what
  ``keystone.wsgi.api`` serves) under wsgiref with a thread per request on a free
  127.0.0.1 port. It counts as ready once ``GET /v3`` answers.

Measured on the 2-core machine: start 6.5-7.5 s with the virtualenv in place (5-6 s of
``keystone-manage``, 1.5 s until the API answers), 25 s the first time (with the pip);
stopping is immediate. The server uses about 140 MB resident. With Keystone's cache on
(``dogpile.cache.memory``: one process, so nothing goes stale) an authenticated call takes
10-30 ms instead of 70-110 ms.

Policy: Keystone 30 runs oslo.policy 6, whose defaults are the new ones with scope checks
(``[oslo_policy] enforce_new_defaults = true``, ``enforce_scope = true``: stated in the
configuration, not changed). With them ``GET /v3/auth/tokens`` (``identity:validate_token``,
scope types system, domain and project) is allowed to the token's own user
(``rule:token_subject``: a plain member validating its own token), to role ``admin``
(``rule:admin_required``, any scope: an admin service user validating another user's
token) and to role ``service`` (``rule:service_role``); a member validating someone else's
token gets 403. Creating projects, users, roles, services and endpoints needs role
``admin``, which the bootstrap admin's project-scoped token has.

Passwords are hashed with bcrypt at its minimum cost (``password_hash_rounds = 4``, 1/256 of
the work of Keystone's default 12), for a test instance; tokens live an hour (Keystone's
default).
"""

from __future__ import annotations

import atexit
import contextlib
import grp
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from nornir_esi.exceptions import SetupError
from nornir_esi.testing.base import (
    Stopwatch,
    cache_dir,
    ensure_venv,
    find_python,
    free_port,
    halt,
    run,
    spawn,
    tail,
)

__all__ = [
    "ADMIN_PROJECT",
    "ADMIN_USER",
    "DOMAIN",
    "KEYSTONE_VERSION",
    "REGION",
    "KeystoneApiError",
    "KeystoneServer",
    "KeystoneServerError",
    "ensure_keystone",
    "keystone_venv",
]

KEYSTONE_VERSION = "30.0.0"
ADMIN_USER = "admin"
ADMIN_PROJECT = "admin"
DOMAIN = "default"
"""The domain of every project and user made here (Keystone's own, made by ``db_sync``)."""
REGION = "RegionOne"

_REQUIREMENTS = ("keystone=={version}",)
_READY_TIMEOUT = 60.0
# The admin token is asked for again after this long (tokens live an hour).
_ADMIN_TOKEN_REUSE = 1800.0

_SERVERS: set[KeystoneServer] = set()


@atexit.register
def _kill_leftovers() -> None:
    """Servers never stopped are killed outright and their directories removed."""
    for server in list(_SERVERS):
        server.stop(fast=True)


class KeystoneServerError(SetupError):
    """The local Keystone (or its virtualenv or database) could not be set up."""


class KeystoneApiError(KeystoneServerError):
    """A call to the local Keystone's API was refused: :attr:`status` and Keystone's body."""

    def __init__(self, what: str, status: int, body: str) -> None:
        super().__init__(f"{what}: HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


# -- the Keystone virtualenv -----------------------------------------------------------------


def keystone_venv(version: str = KEYSTONE_VERSION) -> Path:
    """Where the virtualenv of Keystone ``version`` is (complete once it holds ``installed``)."""
    return cache_dir() / f"keystone-{version}"


def ensure_keystone(version: str = KEYSTONE_VERSION) -> Path:
    """The virtualenv with ``keystone==version`` installed, made on first use.

    Making it takes about 18 s of pip (the same with its cache cold).
    """
    requirements = [r.format(version=version) for r in _REQUIREMENTS]
    return ensure_venv(f"keystone-{version}", requirements, lambda: find_python("Keystone"))


# -- Keystone --------------------------------------------------------------------------------

_KEYSTONE_CONF = """\
# Written by nornir_esi.testing.keystone for a loopback test instance.
[DEFAULT]
debug = false

[database]
connection = sqlite:///{database}
sqlite_synchronous = false

[token]
provider = fernet

[fernet_tokens]
key_repository = {fernet_keys}

[fernet_receipts]
key_repository = {fernet_keys}

[credential]
key_repository = {credential_keys}

[cache]
# In the one process that serves: a call 10-30 ms instead of 70-110 ms.
enabled = true
backend = dogpile.cache.memory

[identity]
# bcrypt's minimum cost: a password check in milliseconds (a test instance).
password_hash_rounds = 4

[oslo_policy]
# oslo.policy's defaults, stated: token_subject, admin and service may validate tokens.
enforce_new_defaults = true
enforce_scope = true
"""

# Keystone's application (what ``keystone.wsgi.api`` exposes) under wsgiref, a thread per
# request and a listen backlog of 128; the configuration comes from
# OS_KEYSTONE_CONFIG_FILES, which keystone.server.flask.core reads.
_API_SERVER = """\
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128

class Handler(WSGIRequestHandler):
    def log_message(self, *args):  # no access log: Keystone logs what matters
        pass

port = int(sys.argv[1])
sys.argv[1:] = []
from keystone.server.wsgi import initialize_public_application

make_server("127.0.0.1", port, initialize_public_application(), Server, Handler).serve_forever()
"""


class KeystoneServer:
    """Keystone's API on a free loopback port, its data in a temporary directory.

    :attr:`url` is the ``/v3`` auth URL clients are given; the methods below are the admin
    calls tests need (each as the bootstrap admin, whose token is kept for half an hour).
    """

    def __init__(self, name: str = "keystone", *, version: str = KEYSTONE_VERSION) -> None:
        self.name = name
        self.version = version
        self.port = free_port()
        self.admin_password = secrets.token_urlsafe(16)
        self.base: Path | None = None
        self._venv: Path | None = None
        self._api: subprocess.Popen[bytes] | None = None
        self._admin_token: tuple[str, float] | None = None
        self._clock = Stopwatch()
        self.timings = self._clock.timings

    @property
    def url(self) -> str:
        """The identity v3 auth URL (``http://127.0.0.1:PORT/v3``), also in the catalog."""
        return f"http://127.0.0.1:{self.port}/v3"

    @property
    def config(self) -> Path:
        """The server's ``keystone.conf``, in its directory (once started)."""
        assert self.base is not None
        return self.base / "keystone.conf"

    def start(self) -> KeystoneServer:
        """Install Keystone if needed, make its database and keys, serve it; wait for it.

        Each phase's time goes into :attr:`timings`; a failure stops what was started.
        """
        self._clock.restart()
        self._venv = ensure_keystone(self.version)
        self._clock.lap("install")
        self.base = Path(tempfile.mkdtemp(prefix=f"esi-keystone-{self.name}-"))
        _SERVERS.add(self)
        try:
            self._write_config()
            self._bootstrap()
            self._clock.lap("database")
            self._serve()
            self._clock.lap("keystone")
        except BaseException:
            self.stop()
            raise
        return self

    def _write_config(self) -> None:
        assert self.base is not None
        self.config.write_text(
            _KEYSTONE_CONF.format(
                database=self.base / "keystone.db",
                fernet_keys=self.base / "fernet-keys",
                credential_keys=self.base / "credential-keys",
            )
        )

    def _bootstrap(self) -> None:
        # The key repositories belong to whoever runs the server: this process's user.
        owner = [
            *("--keystone-user", pwd.getpwuid(os.getuid()).pw_name),
            *("--keystone-group", grp.getgrgid(os.getgid()).gr_name),
        ]
        with ThreadPoolExecutor(3) as pool:
            done = [
                pool.submit(self.manage, "db_sync"),
                pool.submit(self.manage, "fernet_setup", *owner),
                pool.submit(self.manage, "credential_setup", *owner),
            ]
            for future in done:
                future.result()
        self.manage(
            "bootstrap",
            *("--bootstrap-username", ADMIN_USER),
            *("--bootstrap-password", self.admin_password),
            *("--bootstrap-project-name", ADMIN_PROJECT),
            *("--bootstrap-role-name", "admin"),
            *("--bootstrap-service-name", "keystone"),
            *("--bootstrap-region-id", REGION),
            *("--bootstrap-admin-url", self.url),
            *("--bootstrap-internal-url", self.url),
            *("--bootstrap-public-url", self.url),
        )

    def manage(self, *args: str) -> str:
        """``keystone-manage`` with this server's configuration."""
        assert self._venv is not None
        return run(
            [str(self._venv / "bin" / "keystone-manage"), "--config-file", str(self.config), *args],
            f"keystone-manage {args[0]}",
            env=self._env(),
        )

    def _env(self) -> dict[str, str]:
        # Eventlet's deprecation notice (imported by oslo.service) would open every log.
        return {
            **os.environ,
            "OS_KEYSTONE_CONFIG_FILES": str(self.config),
            "PYTHONWARNINGS": "ignore",
        }

    def _serve(self) -> None:
        assert self.base is not None and self._venv is not None
        log = self.base / "keystone.log"
        self._api = spawn(
            [str(self._venv / "bin" / "python"), "-c", _API_SERVER, str(self.port)],
            log,
            env=self._env(),
        )
        deadline = time.monotonic() + _READY_TIMEOUT
        while True:
            if self._api.poll() is not None:
                raise KeystoneServerError(f"Keystone exited:\n{self.log_tail()}")
            with contextlib.suppress(OSError, ValueError, KeystoneApiError):
                if "version" in self.call("GET", "", token="")[1]:
                    return
            if time.monotonic() > deadline:
                raise KeystoneServerError(
                    f"Keystone did not answer in {_READY_TIMEOUT:.0f} s:\n{self.log_tail()}"
                )
            time.sleep(0.1)

    # -- the API ---------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> tuple[Mapping[str, str], Any]:
        """One request to ``/v3<path>``: the answer's headers and decoded body.

        ``token`` is sent as ``X-Auth-Token``: None (the default) sends
        :meth:`admin_token`, ``""`` no token. A status of 400 or more is a
        :class:`KeystoneApiError`.
        """
        sent = {"Accept": "application/json", **(headers or {})}
        if token != "":
            sent["X-Auth-Token"] = self.admin_token() if token is None else token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        request = urllib.request.Request(
            f"{self.url}{path}", data=data, method=method, headers=sent
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                text = response.read()
                answer_headers = dict(response.headers.items())
        except urllib.error.HTTPError as exc:
            raise KeystoneApiError(
                f"{method} /v3{path}", exc.code, exc.read().decode(errors="replace")
            ) from exc
        return answer_headers, json.loads(text) if text else None

    def issue_token(
        self, user: str, password: str, project_id: str | None = None, *, project: str = ""
    ) -> str:
        """A token of ``user`` (domain default) scoped to a project, by password.

        The project is ``project_id``, or the one named ``project`` in the default domain.
        ``POST /v3/auth/tokens``; the token is its ``X-Subject-Token``.
        """
        scope: dict[str, Any] = (
            {"id": project_id} if project_id else {"name": project, "domain": {"id": DOMAIN}}
        )
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {"name": user, "domain": {"id": DOMAIN}, "password": password}
                    },
                },
                "scope": {"project": scope},
            }
        }
        headers, _ = self.call("POST", "/auth/tokens", body, token="")
        return headers["X-Subject-Token"]

    def admin_token(self) -> str:
        """A token of the bootstrap admin scoped to project ``admin`` (role admin)."""
        now = time.monotonic()
        if self._admin_token is None or now - self._admin_token[1] > _ADMIN_TOKEN_REUSE:
            token = self.issue_token(ADMIN_USER, self.admin_password, project=ADMIN_PROJECT)
            self._admin_token = (token, now)
        return self._admin_token[0]

    def validate_token(self, subject: str, *, token: str | None = None) -> dict[str, Any]:
        """The ``token`` body of ``GET /v3/auth/tokens`` for ``subject``.

        Asked with ``token`` as ``X-Auth-Token`` (default: the admin's); a token not valid
        is a :class:`KeystoneApiError` with status 404 (401 for a bad asking token).
        """
        _, body = self.call(
            "GET",
            "/auth/tokens",
            token=token,
            headers={"X-Subject-Token": subject},
        )
        return dict(body["token"])

    def create_project(self, name: str) -> str:
        """A new project ``name`` in domain default; its id."""
        _, body = self.call("POST", "/projects", {"project": {"name": name, "domain_id": DOMAIN}})
        return str(body["project"]["id"])

    def role_id(self, name: str) -> str:
        """The id of role ``name``, created when missing.

        The bootstrap made reader, member, manager, admin and service.
        """
        _, body = self.call("GET", f"/roles?name={urllib.parse.quote(name)}")
        if body["roles"]:
            return str(body["roles"][0]["id"])
        _, body = self.call("POST", "/roles", {"role": {"name": name}})
        return str(body["role"]["id"])

    def create_user(self, name: str, password: str, project_id: str, role: str = "member") -> str:
        """A new user ``name`` in domain default with ``role`` on ``project_id``; its id.

        The project is also its default project; the role is created when missing.
        """
        user = {
            "name": name,
            "password": password,
            "domain_id": DOMAIN,
            "default_project_id": project_id,
        }
        _, body = self.call("POST", "/users", {"user": user})
        user_id = str(body["user"]["id"])
        self.call("PUT", f"/projects/{project_id}/users/{user_id}/roles/{self.role_id(role)}")
        return user_id

    def add_endpoint(self, service_type: str, url: str, name: str = "") -> str:
        """Make ``url`` the public endpoint of ``service_type`` in RegionOne; the endpoint's id.

        The service (named ``name``, default ``service_type``) is registered when no
        service of that type exists; an earlier public RegionOne endpoint of it is
        replaced, so that a catalog lookup (``service_type``, interface public) finds
        ``url``, in the tokens issued from now on.
        """
        _, body = self.call("GET", f"/services?type={urllib.parse.quote(service_type)}")
        if body["services"]:
            service_id = str(body["services"][0]["id"])
        else:
            service = {"type": service_type, "name": name or service_type, "enabled": True}
            _, body = self.call("POST", "/services", {"service": service})
            service_id = str(body["service"]["id"])
        _, body = self.call("GET", f"/endpoints?service_id={service_id}&interface=public")
        for old in body["endpoints"]:
            if old.get("region_id") == REGION:
                self.call("DELETE", f"/endpoints/{old['id']}")
        endpoint = {
            "service_id": service_id,
            "interface": "public",
            "region_id": REGION,
            "url": url,
            "enabled": True,
        }
        _, body = self.call("POST", "/endpoints", {"endpoint": endpoint})
        return str(body["endpoint"]["id"])

    # -- the process -----------------------------------------------------------------------

    def pids(self) -> dict[str, int]:
        """The process id of the API, while it runs."""
        proc = self._api
        return {"keystone": proc.pid} if proc is not None and proc.poll() is None else {}

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` of the server's log ("" when there is none)."""
        return tail(self.base / "keystone.log" if self.base else None, lines)

    def stop(self, *, fast: bool = False) -> None:
        """Stop the API and remove the directory; ``fast`` kills without asking."""
        halt(self._api, kill=fast)
        self._api = None
        self._admin_token = None
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None
        _SERVERS.discard(self)

    def __enter__(self) -> KeystoneServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"KeystoneServer({self.url!r}, version={self.version!r})"


if __name__ == "__main__":  # python -m nornir_esi.testing.keystone: start one, print, wait
    # SIGTERM ends the wait like ^C, so the server is stopped either way.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with KeystoneServer("manual") as keystone:
        print(
            json.dumps(
                {"url": keystone.url, "admin_password": keystone.admin_password, **keystone.timings}
            )
        )
        sys.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
