"""A real NetBox on loopback, started by the project for the tests, the demo and the lab.

NetBox (PyPI ``netbox``, published by its maintainers) needs Python 3.12+, so it lives in
a virtualenv of its own under the cache directory (``$ESI_CACHE`` or
``~/.cache/nornir-esi``), made once with the first ``python3.13``/``python3.12`` found.
Each :class:`NetBoxServer` runs its own PostgreSQL cluster (Debian's server binaries) and
Redis on free 127.0.0.1 ports with data in a temporary directory, then NetBox under
gunicorn and its RQ worker (which delivers event-rule webhooks and runs scripts).

A full migration of an empty database takes 5-6 minutes of CPU. The schema is therefore
kept as a dump of a migrated database, with the admin user and the API token, per NetBox
version (``netbox-<version>.sql.gz`` beside this module, else in the cache); a server
restores it in a few seconds. Without one, the server migrates and writes the dump to the
cache. The user and the token are for a loopback test instance only: the token is fixed
(a version-1 token, created in the NetBox shell, since the REST API accepts no
client-chosen token).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from nornir_esi.exceptions import SetupError
from nornir_esi.locking import file_lock
from nornir_esi.testing.base import (
    Postgres,
    Stopwatch,
    cache_dir,
    find_python,
    free_port,
    halt,
    json_call,
    run,
    spawn,
    tail,
)

__all__ = [
    "ADMIN_PASSWORD",
    "ADMIN_USER",
    "NETBOX_VERSION",
    "TOKEN",
    "NetBoxError",
    "NetBoxServer",
    "ensure_netbox",
]

NETBOX_VERSION = "4.7.3"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "nornir-esi-admin"
TOKEN = "0123456789abcdef0123456789abcdef01234567"
_SECRET_KEY = "nornir-esi-loopback-test-instance-only-" + "x" * 24
_DB = "netbox"
_HERE = Path(__file__).parent


class NetBoxError(SetupError):
    """The local NetBox (or its PostgreSQL, Redis or virtualenv) could not be set up."""


def ensure_netbox(version: str = NETBOX_VERSION) -> Path:
    """The virtualenv with NetBox ``version`` installed, made on first use.

    Making it takes 70-90 s: it compiles psycopg's C module, so gcc and libpq-dev must be
    there.
    """
    venv = cache_dir() / f"netbox-{version}"
    marker = venv / "installed"
    if marker.is_file():
        return venv
    with file_lock(cache_dir() / f"netbox-{version}.lock"):
        if marker.is_file():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        run([find_python("NetBox"), "-m", "venv", str(venv)], "creating NetBox's virtualenv")
        run(
            [str(venv / "bin" / "pip"), "install", "--quiet", f"netbox=={version}"],
            f"installing netbox=={version}",
        )
        marker.write_text(version + "\n")
    return venv


# -- PostgreSQL and Redis --------------------------------------------------------------------

# -- NetBox ----------------------------------------------------------------------------------

_CONFIGURATION = """\
# Written by nornir_esi.testing.netbox for a loopback test instance.
ALLOWED_HOSTS = ["*"]
DATABASES = {{"default": {{
    "ENGINE": "django.db.backends.postgresql", "NAME": "{db}", "USER": "postgres",
    "PASSWORD": "", "HOST": "127.0.0.1", "PORT": {pg_port}, "CONN_MAX_AGE": 300,
}}}}
REDIS = {{
    "tasks": {{"HOST": "127.0.0.1", "PORT": {redis_port}, "DATABASE": 0, "SSL": False}},
    "caching": {{"HOST": "127.0.0.1", "PORT": {redis_port}, "DATABASE": 1, "SSL": False}},
}}
SECRET_KEY = "{secret}"
API_TOKEN_PEPPERS = {{1: "{secret}"}}
SCRIPTS_ROOT = "{scripts}"
CENSUS_REPORTING_ENABLED = False
RELEASE_CHECK_URL = None
ISOLATED_DEPLOYMENT = True
LOGGING = {{"version": 1, "disable_existing_loggers": False}}
"""

_ADMIN_SETUP = f"""
from users.models import Token, User
user = User.objects.filter(username={ADMIN_USER!r}).first()
if user is None:
    user = User.objects.create_superuser(
        {ADMIN_USER!r}, "admin@example.invalid", {ADMIN_PASSWORD!r}
    )
if not Token.objects.filter(user=user, plaintext={TOKEN!r}).exists():
    Token(user=user, version=1, token={TOKEN!r}, write_enabled=True).save()
"""


class NetBoxServer:
    """PostgreSQL, Redis, NetBox (gunicorn) and its RQ worker on free loopback ports.

    ``url`` and ``token`` are for pynetbox; ``scripts`` is NetBox's ``SCRIPTS_ROOT``.
    """

    def __init__(self, name: str = "netbox", *, version: str = NETBOX_VERSION, workers: int = 2):
        self.name = name
        self.version = version
        self.workers = workers
        self.token = TOKEN
        self.port = free_port()
        self.base: Path | None = None
        self._postgres: Postgres | None = None
        self._redis: subprocess.Popen[bytes] | None = None
        self._web: subprocess.Popen[bytes] | None = None
        self._rq: subprocess.Popen[bytes] | None = None
        self._venv: Path | None = None
        self._clock = Stopwatch()
        self.timings = self._clock.timings

    @property
    def url(self) -> str:
        """NetBox's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def scripts(self) -> Path:
        """NetBox's ``SCRIPTS_ROOT``, in the server's directory (once started)."""
        assert self.base is not None
        return self.base / "scripts"

    def _env(self) -> dict[str, str]:
        assert self.base is not None
        return {**os.environ, "NETBOX_ROOT": str(self.base), "PYTHONDONTWRITEBYTECODE": "1"}

    def manage(self, *args: str, what: str = "") -> str:
        """A NetBox management command (each takes 6-10 s to start)."""
        assert self._venv is not None
        return run(
            [str(self._venv / "bin" / "netbox"), *args],
            what or f"netbox {args[0]}",
            env=self._env(),
        )

    def start(self) -> NetBoxServer:
        """Install NetBox if needed, start its backends, load the schema, start NetBox.

        Waits until NetBox answers. Each phase's time goes into :attr:`timings`; a failure
        stops what was started.
        """
        self._clock.restart()
        self._venv = ensure_netbox(self.version)
        self._clock.lap("install")
        self.base = Path(tempfile.mkdtemp(prefix=f"esi-netbox-{self.name}-"))
        try:
            self._start_backends()
            self._clock.lap("postgres+redis")
            self._load_schema()
            self._clock.lap("schema")
            self._start_netbox()
            self._clock.lap("netbox")
        except BaseException:
            self.stop()
            raise
        return self

    def _start_backends(self) -> None:
        assert self.base is not None
        self.scripts.mkdir()
        self._postgres = Postgres(self.base, _DB)
        self._postgres.start()
        redis = shutil.which("redis-server")
        if redis is None:
            raise NetBoxError("redis-server not found (install Debian's redis-server package)")
        redis_port = free_port()
        self._redis = spawn(
            [
                redis,
                "--port",
                str(redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.base),
            ],
            self.base / "redis.log",
        )
        conf = self.base / "conf"
        conf.mkdir()
        (conf / "__init__.py").write_text("")
        (conf / "configuration.py").write_text(
            _CONFIGURATION.format(
                db=_DB,
                pg_port=self._postgres.port,
                redis_port=redis_port,
                secret=_SECRET_KEY,
                scripts=self.scripts,
            )
        )

    def _dump_paths(self) -> list[Path]:
        assert self._postgres is not None
        name = f"netbox-{self.version}-pg{self._postgres.major}.sql.gz"
        return [_HERE / name, cache_dir() / name]

    def _load_schema(self) -> None:
        """Restore the migrated schema, or migrate and keep a dump for next time."""
        assert self._postgres is not None
        for dump in self._dump_paths():
            if dump.is_file():
                self._postgres.psql(["-f", "-"], stdin=gzip.decompress(dump.read_bytes()))
                return
        self.manage("migrate", "--no-input", what="netbox migrate (5-6 min on 2 cores)")
        self.manage("nbshell", "--command", _ADMIN_SETUP, what="creating the admin and token")
        target = self._dump_paths()[-1]
        target.parent.mkdir(parents=True, exist_ok=True)
        self._postgres.dump(target)

    def _start_netbox(self) -> None:
        assert self.base is not None and self._venv is not None
        bin_ = self._venv / "bin"
        self._web = spawn(
            [
                str(bin_ / "gunicorn"),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--timeout",
                "300",
                "--graceful-timeout",
                "5",
                # One control socket per user by default: two servers would share it.
                "--no-control-socket",
                "netbox.wsgi",
            ],
            self.base / "gunicorn.log",
            env=self._env(),
        )
        self._rq = spawn(
            [str(bin_ / "netbox"), "rqworker", "high", "default", "low"],
            self.base / "rqworker.log",
            env=self._env(),
        )
        deadline = time.monotonic() + 120
        while True:
            for proc, log in ((self._web, "gunicorn.log"), (self._rq, "rqworker.log")):
                if proc.poll() is not None:
                    raise NetBoxError(f"NetBox {log[:-4]} exited:\n{self.log_tail(log)}")
            with contextlib.suppress(OSError, ValueError):
                if self.api("status/").get("netbox-version"):
                    return
            if time.monotonic() > deadline:
                raise NetBoxError(f"NetBox did not answer in 120 s:\n{self.log_tail()}")
            time.sleep(0.2)

    def api(self, path: str, body: Any = None, method: str | None = None) -> Any:
        """One REST call with the admin token (``path`` relative to ``/api/``)."""
        return json_call(
            f"{self.url}/api/{path}",
            body,
            method,
            headers={"Authorization": f"Token {self.token}"},
        )

    def log_tail(self, name: str = "gunicorn.log", lines: int = 30) -> str:
        """The last ``lines`` of the server's log ``name`` ("" when there is none)."""
        return tail(self.base / name if self.base else None, lines)

    def stop(self) -> None:
        """Stop the RQ worker, NetBox, Redis and PostgreSQL, and remove the directory."""
        halt(self._rq)
        halt(self._web)
        halt(self._redis)
        self._rq = self._web = self._redis = None
        if self._postgres is not None:
            self._postgres.stop()
            self._postgres = None
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None

    def __enter__(self) -> NetBoxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"NetBoxServer({self.url!r}, version={self.version!r})"


if __name__ == "__main__":  # python -m nornir_esi.testing.netbox: start one, print, wait
    with NetBoxServer("manual") as server:
        print(json.dumps({"url": server.url, "token": server.token, **server.timings}))
        sys.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
