"""A real OpenStack Heat on loopback, started by the project for the tests, the demo and the lab.

Heat (PyPI ``openstack-heat``, pinned to :data:`HEAT_VERSION`) lives in a virtualenv of its
own under the cache directory (``$ESI_CACHE`` or ``~/.cache/nornir-esi``), made once with
the Python 3.12+ that :func:`~nornir_esi.testing.base.find_python` finds: 30-60 s of pip
(357 MB).

Since release 25 Heat ships no ``heat-all``; the supported layout is ``heat-engine`` and
the API (``heat-wsgi-api``) talking over RabbitMQ, which is how each :class:`HeatServer`
runs it, everything on free 127.0.0.1 ports with its data in a temporary directory:

- a private RabbitMQ node (Debian's ``rabbitmq-server``, run from ``/usr/lib/rabbitmq/bin``
  as the current user rather than as the packaged service) with its own node name,
  Erlang cookie and epmd, so it meets no other node (3-5 s to boot, while the database
  is made);
- Heat's database in a private PostgreSQL cluster (the one NetBox's tests use, Debian's
  server binaries), made by ``heat-manage db_sync``: 2-3 s with ``initdb``;
- ``heat-engine`` (one worker) and Heat's API application (what ``heat-wsgi-api`` serves)
  under wsgiref with a thread per request: about 2 s until both answer.

Not SQLite, although ``db_sync`` supports it: SQLite reuses the highest row id once that
row is deleted, and Heat 27 deletes a resource's cached attributes by an id it keeps after
the row is gone (``Resource.clear_stored_attributes``). After an in-place update the stale
id is the new properties row's, which is deleted: every later read of the stack (outputs,
resources) fails with ``ResourcePropertiesData with id 2 not found``. PostgreSQL and MySQL,
which Heat is run on, never reuse ids.

There is no Keystone: the API runs the ``noauth`` paste flavour, which makes every request
user ``admin`` with role ``admin`` in project ``admin``, or in the project named by an
``X-Auth-Project`` header (the project in the URL is not used: an admin's own project
wins). The engine defers authentication with the request's password
(``deferred_auth_method = password``) and so needs no trusts. Heat's new RBAC defaults and
scope checks are off; with them, every call fails with ``You are not authorized to use
stacks:index``. python-heatclient reaches :meth:`HeatServer.endpoint` through
keystoneauth1's ``noauth.NoAuth`` plugin (with ``endpoint_override``).

The server counts as ready once the engine's ``engine`` queue exists on the node (before
that, the first API call waits out the 60 s RPC timeout) and a stack listing answers:
about 5 s from start with the virtualenv in place; stopping takes 2-3 s. Creating,
updating (PATCH) and deleting an ``OS::Heat::Value`` stack then takes about 0.5 s in all,
50 such round trips at once 12 s (2 cores). The processes use about 570 MB resident: the
engine (a parent and its worker) 290 MB, the API 100 MB, RabbitMQ 150 MB, PostgreSQL 30 MB.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from nornir_esi.exceptions import SetupError
from nornir_esi.testing.base import (
    Postgres,
    Stopwatch,
    cache_dir,
    ensure_venv,
    find_python,
    free_port,
    halt,
    json_call,
    run,
    spawn,
    tail,
)

__all__ = [
    "HEAT_VERSION",
    "PROJECT",
    "HeatServer",
    "HeatServerError",
    "ensure_heat",
    "heat_venv",
]

HEAT_VERSION = "27.0.1"
PROJECT = "admin"
"""The project (tenant) of a request without an ``X-Auth-Project`` header."""

# What the virtualenv holds: Heat, and the PostgreSQL driver of its database.
_REQUIREMENTS = ("openstack-heat=={version}", "psycopg2-binary>=2.9,<3")
# Heat encrypts the credentials it stores with it; for a loopback test instance only.
_AUTH_ENCRYPTION_KEY = "nornir-esi-loopback-heat-key-32c"
_RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
_EPMD = Path("/usr/lib/erlang/bin/epmd")
_READY_TIMEOUT = 120.0

Popen = subprocess.Popen[bytes]

_SERVERS: set[HeatServer] = set()


@atexit.register
def _kill_leftovers() -> None:
    """Servers never stopped are killed outright.

    :mod:`nornir_esi.testing.netbox`'s own hook, which runs after this one, kills only the
    processes it spawned, not their children, nor PostgreSQL.
    """
    for server in list(_SERVERS):
        server.stop(fast=True)


class HeatServerError(SetupError):
    """The local Heat (or its RabbitMQ, database or virtualenv) could not be set up."""


def _stop(proc: Popen | None, *, fast: bool = False) -> None:
    """SIGTERM (SIGKILL when ``fast``), SIGKILL after 15 s, then SIGKILL to the rest of its group.

    The rest of its process group (``_spawn`` starts each process in a session of its own):
    ``rabbitmq-server`` is a shell script with the Erlang VM under it, ``heat-engine`` a
    parent with its worker.
    """
    if proc is None:
        return
    if fast and proc.poll() is None:
        proc.kill()
    halt(proc)
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)


# -- the Heat virtualenv ---------------------------------------------------------------------


def heat_venv(version: str = HEAT_VERSION) -> Path:
    """Where the virtualenv of Heat ``version`` is (complete once it holds ``installed``)."""
    return cache_dir() / f"heat-{version}"


def ensure_heat(version: str = HEAT_VERSION) -> Path:
    """The virtualenv with ``openstack-heat==version`` installed, made on first use.

    Making it takes 25-60 s of pip, depending on its cache.
    """
    requirements = [r.format(version=version) for r in _REQUIREMENTS]
    return ensure_venv(f"heat-{version}", requirements, lambda: find_python("Heat"))


# -- RabbitMQ --------------------------------------------------------------------------------

_RABBIT_CONF = """\
# Written by nornir_esi.testing.heat: a private node for one HeatServer.
# guest/guest may connect from loopback only (RabbitMQ's default, stated here).
loopback_users.guest = true
"""

# Erlang distribution (node <-> rabbitmqctl) on loopback only.
_DIST_LOOPBACK = "-kernel inet_dist_use_interface {127,0,0,1}"


class _Rabbit:
    """A private RabbitMQ node: its own name, cookie, ports and epmd, all on 127.0.0.1.

    ``rabbitmq-server`` is run directly: ``/usr/sbin/rabbitmq-server`` would switch to the
    ``rabbitmq`` user and its environment. Its epmd listens on a port of its own (started
    by the node, detached), so the node meets no other and :meth:`stop` can end it too.
    """

    def __init__(self, base: Path) -> None:
        self.dir = base / "rabbitmq"
        self.node = f"esi-{secrets.token_hex(4)}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.epmd_port = free_port()
        self.log = base / "rabbitmq.log"
        self.proc: Popen | None = None

    @property
    def transport_url(self) -> str:
        return f"rabbit://guest:guest@127.0.0.1:{self.port}/"

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update(
            HOME=str(self.dir),  # the Erlang cookie, shared with rabbitmqctl
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_CONF_ENV_FILE=str(self.dir / "rabbitmq-env.conf"),
            RABBITMQ_CONFIG_FILE=str(self.dir / "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(self.dir / "advanced.config"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.dir / "enabled_plugins"),
            RABBITMQ_MNESIA_BASE=str(self.dir / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.dir / "log"),
            RABBITMQ_PID_FILE=str(self.dir / "rabbitmq.pid"),
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=_DIST_LOOPBACK,
            RABBITMQ_CTL_ERL_ARGS=_DIST_LOOPBACK,
            ERL_EPMD_ADDRESS="127.0.0.1",
            ERL_EPMD_PORT=str(self.epmd_port),
            # Lets `epmd -kill` end our epmd even while the node is still registered.
            ERL_EPMD_RELAXED_COMMAND_CHECK="1",
        )
        return env

    def ctl(self, *args: str, timeout: float = 60.0) -> str:
        """``rabbitmqctl`` against this node (each call starts an Erlang VM: ~0.3 s)."""
        return run(
            [str(_RABBIT_BIN / "rabbitmqctl"), "-n", self.node, *args],
            f"rabbitmqctl {args[0]}",
            env=self._env(),
            timeout=timeout,
        )

    def queues(self) -> set[str]:
        out = self.ctl("-q", "--no-table-headers", "list_queues", "name")
        return {line.strip() for line in out.splitlines() if line.strip()}

    def spawn(self) -> None:
        server = _RABBIT_BIN / "rabbitmq-server"
        if not os.access(server, os.X_OK):
            raise HeatServerError(
                f"{server} not found (install Debian's rabbitmq-server package:"
                " scripts/system-packages)"
            )
        self.dir.mkdir()
        (self.dir / "rabbitmq-env.conf").write_text("")  # not /etc/rabbitmq's
        (self.dir / "rabbitmq.conf").write_text(_RABBIT_CONF)
        (self.dir / "enabled_plugins").write_text("[].\n")
        self.proc = spawn([str(server)], self.log, env=self._env())

    def wait(self, timeout: float = 60.0) -> None:
        """Wait until the node has booted.

        ``rabbitmqctl`` fails at once while the node has not registered with epmd yet, so
        it is asked again.
        """
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise HeatServerError(f"RabbitMQ exited:\n{self.log_tail()}")
            try:
                self.ctl("await_startup", "--timeout", "10", timeout=30)
                return
            except (SetupError, subprocess.TimeoutExpired):
                if time.monotonic() > deadline:
                    raise HeatServerError(
                        f"RabbitMQ did not start in {timeout:.0f} s:\n{self.log_tail()}"
                    ) from None
            time.sleep(0.3)

    def log_tail(self, lines: int = 30) -> str:
        return tail(self.log, lines)

    def stop(self, *, fast: bool = False) -> None:
        if self.proc is not None:
            if not fast and self.proc.poll() is None:
                with contextlib.suppress(SetupError, subprocess.TimeoutExpired):
                    self.ctl("stop", timeout=30)
            _stop(self.proc, fast=fast)
            self.proc = None
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                [str(_EPMD), "-port", str(self.epmd_port), "-kill"],
                capture_output=True,
                timeout=10,
                check=False,
                env=self._env(),
            )


# -- Heat ------------------------------------------------------------------------------------

_HEAT_CONF = """\
# Written by nornir_esi.testing.heat for a loopback test instance.
[DEFAULT]
host = {host}
transport_url = {transport_url}
auth_encryption_key = {auth_key}
deferred_auth_method = password
num_engine_workers = {workers}
graceful_shutdown_timeout = 2
debug = false

[database]
connection = {database}

[paste_deploy]
flavor = noauth
api_paste_config = {paste}

[oslo_policy]
enforce_new_defaults = false
enforce_scope = false

[oslo_concurrency]
lock_path = {locks}
"""

# Heat's API application (what pbr's ``heat-wsgi-api`` script serves) under wsgiref, as
# that script runs it, but a thread per request and a listen backlog of 128: the script's
# server answers one request at a time with a backlog of 5, and resets connections when
# a few dozen clients poll at once.
_API_SERVER = """\
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128

class Handler(WSGIRequestHandler):
    def log_message(self, *args):  # no access log: Heat logs what matters
        pass

port, config = sys.argv[1:3]
sys.argv[1:] = ["--config-file", config]
from heat.api.openstack.wsgi import init_application

make_server("127.0.0.1", int(port), init_application(), Server, Handler).serve_forever()
"""


class HeatServer:
    """RabbitMQ, PostgreSQL, ``heat-engine`` and Heat's API on free loopback ports.

    :meth:`endpoint` is the orchestration endpoint for python-heatclient (no Keystone:
    keystoneauth1's ``noauth.NoAuth``, or any token).
    """

    def __init__(
        self, name: str = "heat", *, version: str = HEAT_VERSION, engine_workers: int = 1
    ) -> None:
        self.name = name
        self.version = version
        self.engine_workers = engine_workers
        self.port = free_port()
        self.base: Path | None = None
        self._venv: Path | None = None
        self._rabbit: _Rabbit | None = None
        self._postgres: Postgres | None = None
        self._engine: Popen | None = None
        self._api: Popen | None = None
        self._clock = Stopwatch()
        self.timings = self._clock.timings

    @property
    def url(self) -> str:
        """The base URL of Heat's API."""
        return f"http://127.0.0.1:{self.port}"

    def endpoint(self, project: str = PROJECT) -> str:
        """The orchestration endpoint of ``project``.

        For a project other than :data:`PROJECT`, send an ``X-Auth-Project: <project>``
        header too: the URL alone does not choose it.
        """
        return f"{self.url}/v1/{project}"

    @property
    def config(self) -> Path:
        """The server's ``heat.conf``, in its directory (once started)."""
        assert self.base is not None
        return self.base / "heat.conf"

    def start(self) -> HeatServer:
        """Install Heat if needed, start RabbitMQ, PostgreSQL and Heat; wait until it answers.

        Each phase's time goes into :attr:`timings`; a failure stops what was started.
        """
        self._clock.restart()
        self._venv = ensure_heat(self.version)
        self._clock.lap("install")
        self.base = Path(tempfile.mkdtemp(prefix=f"esi-heat-{self.name}-"))
        _SERVERS.add(self)
        try:
            # RabbitMQ boots (3.5-5 s) while the database is made.
            self._rabbit = _Rabbit(self.base)
            self._rabbit.spawn()
            self._postgres = Postgres(self.base, "heat")
            self._postgres.start()
            self._write_config()
            self.manage("db_sync")
            self._clock.lap("database")
            self._rabbit.wait()
            self._clock.lap("rabbitmq")
            self._start_heat()
            self._clock.lap("heat")
        except BaseException:
            self.stop()
            raise
        return self

    def _write_config(self) -> None:
        assert self.base is not None and self._venv is not None
        assert self._rabbit is not None and self._postgres is not None
        (self.base / "locks").mkdir()
        self.config.write_text(
            _HEAT_CONF.format(
                host=f"esi-{self.name}-{secrets.token_hex(3)}",
                transport_url=self._rabbit.transport_url,
                auth_key=_AUTH_ENCRYPTION_KEY,
                workers=self.engine_workers,
                database=f"postgresql+psycopg2://postgres@127.0.0.1:{self._postgres.port}/heat",
                paste=self._venv / "etc" / "heat" / "api-paste.ini",
                locks=self.base / "locks",
            )
        )

    def manage(self, *args: str) -> str:
        """``heat-manage`` with this server's configuration."""
        assert self._venv is not None
        return run(
            [str(self._venv / "bin" / "heat-manage"), "--config-file", str(self.config), *args],
            f"heat-manage {args[0]}",
        )

    def _start_heat(self) -> None:
        assert self.base is not None and self._venv is not None and self._rabbit is not None
        bin_ = self._venv / "bin"
        self._engine = spawn(
            [str(bin_ / "heat-engine"), "--config-file", str(self.config)],
            self.base / "heat-engine.log",
        )
        self._api = spawn(
            [str(bin_ / "python"), "-c", _API_SERVER, str(self.port), str(self.config)],
            self.base / "heat-api.log",
        )
        deadline = time.monotonic() + _READY_TIMEOUT
        engine_listening = False
        while True:
            for proc, log in ((self._engine, "heat-engine.log"), (self._api, "heat-api.log")):
                if proc.poll() is not None:
                    raise HeatServerError(f"{log[:-4]} exited:\n{self.log_tail(log)}")
            if self._rabbit.proc is None or self._rabbit.proc.poll() is not None:
                raise HeatServerError(f"RabbitMQ exited:\n{self._rabbit.log_tail()}")
            if not engine_listening:
                with contextlib.suppress(SetupError, subprocess.TimeoutExpired):
                    engine_listening = "engine" in self._rabbit.queues()
            if engine_listening:
                with contextlib.suppress(OSError, ValueError):
                    if "stacks" in self.api("stacks"):
                        return
            if time.monotonic() > deadline:
                raise HeatServerError(
                    f"Heat was not ready in {_READY_TIMEOUT:.0f} s (the engine queue"
                    f" {'exists' if engine_listening else 'does not exist'}):\n"
                    f"heat-engine.log:\n{self.log_tail('heat-engine.log')}\n"
                    f"heat-api.log:\n{self.log_tail('heat-api.log')}"
                )
            time.sleep(0.2)

    def api(self, path: str, body: Any = None, method: str | None = None) -> Any:
        """One REST call to the orchestration API of :data:`PROJECT`.

        ``path`` is relative to ``/v1/admin/``.
        """
        return json_call(f"{self.endpoint()}/{path}", body, method, timeout=90)

    def pids(self) -> dict[str, int]:
        """The process (group) ids of the engine, the API and RabbitMQ that are running."""
        procs = {
            "heat-engine": self._engine,
            "heat-api": self._api,
            "rabbitmq": self._rabbit.proc if self._rabbit else None,
        }
        return {name: proc.pid for name, proc in procs.items() if proc and proc.poll() is None}

    def log_tail(self, name: str = "heat-engine.log", lines: int = 30) -> str:
        """The last ``lines`` of the server's log ``name`` ("" when there is none)."""
        return tail(self.base / name if self.base else None, lines)

    def stop(self, *, fast: bool = False) -> None:
        """Stop everything and remove the directory; ``fast`` kills without asking."""
        for proc in (self._api, self._engine):
            if proc is not None and proc.poll() is None:
                proc.terminate()  # the engine takes its graceful 2 s while RabbitMQ stops
        if self._rabbit is not None:
            self._rabbit.stop(fast=fast)
            self._rabbit = None
        _stop(self._api, fast=fast)
        _stop(self._engine, fast=fast)
        self._api = self._engine = None
        if self._postgres is not None:
            self._postgres.stop()
            self._postgres = None
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None
        _SERVERS.discard(self)

    def __enter__(self) -> HeatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"HeatServer({self.url!r}, version={self.version!r})"


if __name__ == "__main__":  # python -m nornir_esi.testing.heat: start one, print, wait
    # SIGTERM ends the wait like ^C, so the server is stopped either way.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with HeatServer("manual") as heat:
        print(json.dumps({"endpoint": heat.endpoint(), **heat.timings}))
        sys.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
