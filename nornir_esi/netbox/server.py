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

import atexit
import contextlib
import fcntl
import gzip
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from nornir_esi.exceptions import EsiError

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
_POSTGRES_BIN = Path("/usr/lib/postgresql")
_HERE = Path(__file__).parent

_LIVE: set[subprocess.Popen[bytes]] = set()


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_LIVE):
        with contextlib.suppress(OSError):
            proc.kill()


class NetBoxError(EsiError):
    """The local NetBox (or its PostgreSQL, Redis or virtualenv) could not be set up."""


def cache_dir() -> Path:
    return Path(os.environ.get("ESI_CACHE") or Path.home() / ".cache" / "nornir-esi")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(argv: Sequence[str], what: str, **kwargs: Any) -> str:
    """Run a set-up command; its output becomes the error when it fails."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, check=False, **kwargs)
    except OSError as exc:
        raise NetBoxError(f"{what}: {argv[0]}: {exc}") from exc
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip().splitlines()[-25:]
        raise NetBoxError(f"{what} failed (exit {done.returncode}):\n" + "\n".join(output))
    return str(done.stdout)


# -- the NetBox virtualenv -------------------------------------------------------------------


def find_python() -> str:
    """A Python 3.12+ interpreter for NetBox: ``$ESI_NETBOX_PYTHON``, then ``python3.13``
    and ``python3.12`` on PATH, then pyenv's installed versions."""
    candidates = [os.environ.get("ESI_NETBOX_PYTHON", "")]
    candidates += [shutil.which(name) or "" for name in ("python3.13", "python3.12")]
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    candidates += sorted((str(p) for p in pyenv.glob("3.1[2-9]*/bin/python3")), reverse=True)
    for candidate in filter(None, candidates):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info >= (3, 12))"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            if done.returncode == 0 and done.stdout.strip() == "True":
                return candidate
    raise NetBoxError(
        "NetBox needs Python 3.12 or newer: none found (tried $ESI_NETBOX_PYTHON, python3.13,"
        f" python3.12 and {pyenv}/3.12+)"
    )


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialises set-up between processes (two test runs installing at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_netbox(version: str = NETBOX_VERSION) -> Path:
    """The virtualenv with NetBox ``version`` installed, made on first use (70-90 s: it
    compiles psycopg's C module, so gcc and libpq-dev must be there)."""
    venv = cache_dir() / f"netbox-{version}"
    marker = venv / "installed"
    if marker.is_file():
        return venv
    with _file_lock(cache_dir() / f"netbox-{version}.lock"):
        if marker.is_file():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        _run([find_python(), "-m", "venv", str(venv)], "creating NetBox's virtualenv")
        _run(
            [str(venv / "bin" / "pip"), "install", "--quiet", f"netbox=={version}"],
            f"installing netbox=={version}",
        )
        marker.write_text(version + "\n")
    return venv


# -- PostgreSQL and Redis --------------------------------------------------------------------


def _postgres_bin() -> Path:
    versions = sorted(
        (p for p in _POSTGRES_BIN.glob("*/bin") if (p / "postgres").is_file()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not versions:
        raise NetBoxError(
            f"PostgreSQL server binaries not found under {_POSTGRES_BIN}"
            " (install Debian's postgresql package)"
        )
    return versions[-1]


class _Postgres:
    """A private PostgreSQL cluster: trust authentication on 127.0.0.1 only.

    The server refuses to run as root; under root the cluster belongs to ``postgres``.
    """

    def __init__(self, base: Path) -> None:
        self.bin = _postgres_bin()
        self.data = base / "postgres"
        self.port = _free_port()
        self.log = base / "postgres.log"
        self._user = "postgres" if os.geteuid() == 0 else None

    @property
    def major(self) -> str:
        return self.bin.parent.name

    def _as_owner(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", self._user, "--", *argv] if self._user else argv

    def start(self) -> None:
        self.data.mkdir(parents=True)
        if self._user:
            entry = pwd.getpwnam(self._user)
            for path in (self.data, self.data.parent):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            self.log.touch()
            os.chown(self.log, entry.pw_uid, entry.pw_gid)
        _run(
            self._as_owner(
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-sync",
                ]
            ),
            "initdb",
        )
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        _run(
            self._as_owner(
                [
                    str(self.bin / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            "starting PostgreSQL",
        )
        self.psql(["-c", f"CREATE DATABASE {_DB}"], database="postgres")

    def psql(self, args: list[str], *, database: str = _DB, stdin: bytes | None = None) -> None:
        argv = [
            str(self.bin / "psql"),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            database,
            *args,
        ]
        try:
            done = subprocess.run(argv, input=stdin, capture_output=True, check=False)
        except OSError as exc:
            raise NetBoxError(f"psql: {exc}") from exc
        if done.returncode != 0:
            raise NetBoxError(f"psql {' '.join(args[:2])} failed: {done.stderr.decode()[-2000:]}")

    def dump(self, target: Path) -> None:
        argv = [
            str(self.bin / "pg_dump"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "--no-owner",
            "--no-privileges",
            _DB,
        ]
        with (
            tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp,
            gzip.GzipFile(fileobj=tmp, mode="wb", mtime=0) as out,
        ):
            out.write(_run(argv, "pg_dump").encode())
        os.replace(tmp.name, target)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(NetBoxError):
                _run(
                    self._as_owner(
                        [
                            str(self.bin / "pg_ctl"),
                            "-D",
                            str(self.data),
                            "-m",
                            "immediate",
                            "-w",
                            "stop",
                        ]
                    ),
                    "stopping PostgreSQL",
                )


def _spawn(
    argv: list[str], log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=env,
            start_new_session=True,
        )
    _LIVE.add(proc)
    return proc


def _halt(proc: subprocess.Popen[bytes] | None, timeout: float = 15.0) -> None:
    if proc is None:
        return
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    _LIVE.discard(proc)


# -- NetBox ----------------------------------------------------------------------------------

_CONFIGURATION = """\
# Written by nornir_esi.netbox.server for a loopback test instance.
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
        self.port = _free_port()
        self.base: Path | None = None
        self._postgres: _Postgres | None = None
        self._redis: subprocess.Popen[bytes] | None = None
        self._web: subprocess.Popen[bytes] | None = None
        self._rq: subprocess.Popen[bytes] | None = None
        self._venv: Path | None = None
        self.timings: dict[str, float] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def scripts(self) -> Path:
        assert self.base is not None
        return self.base / "scripts"

    def _env(self) -> dict[str, str]:
        assert self.base is not None
        return {**os.environ, "NETBOX_ROOT": str(self.base), "PYTHONDONTWRITEBYTECODE": "1"}

    def manage(self, *args: str, what: str = "") -> str:
        """A NetBox management command (each takes 6-10 s to start)."""
        assert self._venv is not None
        return _run(
            [str(self._venv / "bin" / "netbox"), *args],
            what or f"netbox {args[0]}",
            env=self._env(),
        )

    def _timed(self, step: str, began: float) -> float:
        now = time.monotonic()
        self.timings[step] = round(now - began, 2)
        return now

    def start(self) -> NetBoxServer:
        began = time.monotonic()
        self._venv = ensure_netbox(self.version)
        began = self._timed("install", began)
        self.base = Path(tempfile.mkdtemp(prefix=f"esi-netbox-{self.name}-"))
        try:
            self._start_backends()
            began = self._timed("postgres+redis", began)
            self._load_schema()
            began = self._timed("schema", began)
            self._start_netbox()
            self._timed("netbox", began)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_backends(self) -> None:
        assert self.base is not None
        self.scripts.mkdir()
        self._postgres = _Postgres(self.base)
        self._postgres.start()
        redis = shutil.which("redis-server")
        if redis is None:
            raise NetBoxError("redis-server not found (install Debian's redis-server package)")
        redis_port = _free_port()
        self._redis = _spawn(
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
        self._web = _spawn(
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
        self._rq = _spawn(
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
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/api/{path}",
            data=data,
            method=method or ("POST" if data is not None else "GET"),
            headers={
                "Authorization": f"Token {self.token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
        return json.loads(text) if text else None

    def log_tail(self, name: str = "gunicorn.log", lines: int = 30) -> str:
        if self.base is None:
            return ""
        try:
            text = (self.base / name).read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        _halt(self._rq)
        _halt(self._web)
        _halt(self._redis)
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


if __name__ == "__main__":  # python -m nornir_esi.netbox.server: start one, print, wait
    with NetBoxServer("manual") as server:
        print(json.dumps({"url": server.url, "token": server.token, **server.timings}))
        sys.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
