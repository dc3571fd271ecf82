"""What the launchers of NetBox and Heat share: throwaway servers on loopback.

Those servers are for the tests, the demo and the lab; etcd has its own launcher,
:mod:`nornir_esi.testing.etcd`.

- :func:`cache_dir`: where virtualenvs and schema dumps are kept between runs
  (``$ESI_CACHE``, else ``~/.cache/nornir-esi``);
- :func:`find_python`: a Python 3.12+ for servers that need one (NetBox, Heat) while
  nornir-esi itself stays on 3.11+;
- :func:`run`, :func:`spawn`, :func:`halt`: set-up commands whose output becomes the
  error, and background processes (each in a session of its own, killed at exit if
  nobody stopped them);
- :class:`Postgres`: a private PostgreSQL cluster (Debian's server binaries) on a free
  port, trust authentication on 127.0.0.1 only.

Every failure is a :class:`~nornir_esi.exceptions.SetupError` naming what failed, with
the tail of its output.
"""

from __future__ import annotations

import atexit
import contextlib
import gzip
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from nornir_esi.exceptions import SetupError
from nornir_esi.locking import file_lock

__all__ = [
    "Postgres",
    "Stopwatch",
    "cache_dir",
    "ensure_venv",
    "find_python",
    "forget",
    "free_port",
    "halt",
    "json_call",
    "register",
    "run",
    "spawn",
    "tail",
]

_POSTGRES_BIN = Path("/usr/lib/postgresql")

_LIVE: set[subprocess.Popen[bytes]] = set()


@atexit.register
def _kill_leftovers() -> None:
    # A test run that dies without stopping its servers must not leave them behind.
    for proc in list(_LIVE):
        with contextlib.suppress(OSError):
            proc.kill()


def register(proc: subprocess.Popen[bytes]) -> None:
    """Kill ``proc`` at exit unless :func:`forget` was told it ended."""
    _LIVE.add(proc)


def forget(proc: subprocess.Popen[bytes]) -> None:
    """``proc`` ended: it is not killed at exit (see :func:`register`)."""
    _LIVE.discard(proc)


def tail(path: Path | None, lines: int = 30) -> str:
    """The last ``lines`` of a log file ("" when there is none): for error messages."""
    if path is None:
        return ""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def json_call(
    url: str,
    body: Any = None,
    method: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> Any:
    """One JSON request (POST when there is a body); the decoded answer, None when empty."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method=method or ("POST" if data is not None else "GET"),
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            **(headers or {}),
        },
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        text = response.read()
    return json.loads(text) if text else None


class Stopwatch:
    """How long each set-up step took, in seconds: ``lap(step)`` ends a step."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.monotonic()

    def restart(self) -> None:
        """Start timing the next step now: the time since the last lap is not counted."""
        self._last = time.monotonic()

    def lap(self, step: str) -> None:
        """End ``step``: its time since the last lap (or restart) goes into ``timings``."""
        now = time.monotonic()
        self.timings[step] = round(now - self._last, 2)
        self._last = now


def cache_dir() -> Path:
    """Where virtualenvs and schema dumps are kept between runs.

    ``$ESI_CACHE``, else ``~/.cache/nornir-esi``.
    """
    return Path(os.environ.get("ESI_CACHE") or Path.home() / ".cache" / "nornir-esi")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 a moment ago (the system's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(argv: Sequence[str], what: str, **kwargs: Any) -> str:
    """Run a set-up command; its output becomes the error when it fails."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, check=False, **kwargs)
    except OSError as exc:
        raise SetupError(f"{what}: {argv[0]}: {exc}") from exc
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip().splitlines()[-25:]
        raise SetupError(f"{what} failed (exit {done.returncode}):\n" + "\n".join(output))
    return str(done.stdout)


def ensure_venv(
    name: str,
    requirements: Sequence[str],
    python: Callable[[], str],
    *,
    prepare: Callable[[Path], None] | None = None,
) -> Path:
    """The virtualenv ``cache_dir()/name`` with ``requirements`` installed, made on first use.

    Made with the interpreter ``python()`` returns, under a lock (one process makes it, the
    others wait), ``prepare(venv)`` run before pip when given. It is complete once its
    ``installed`` marker lists exactly ``requirements``: one made for other requirements,
    or left half made, is made again.
    """
    venv = cache_dir() / name
    marker = venv / "installed"
    wanted = "\n".join(requirements) + "\n"

    def complete() -> bool:
        with contextlib.suppress(OSError):
            return marker.read_text() == wanted
        return False

    if complete():
        return venv
    with file_lock(cache_dir() / f"{name}.lock"):
        if complete():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        run([python(), "-m", "venv", str(venv)], f"creating the virtualenv {name}")
        if prepare is not None:
            prepare(venv)
        run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *requirements],
            f"installing {' '.join(requirements)}",
        )
        marker.write_text(wanted)
    return venv


def find_python(what: str = "this server") -> str:
    """A Python 3.12+ interpreter, the first candidate that runs and is recent enough.

    The candidates: ``$ESI_SERVER_PYTHON`` (or ``$ESI_NETBOX_PYTHON``), then ``python3.13``
    and ``python3.12`` on PATH, then pyenv's installed versions. None found is a SetupError
    saying ``what`` needs one.
    """
    candidates = [os.environ.get("ESI_SERVER_PYTHON", ""), os.environ.get("ESI_NETBOX_PYTHON", "")]
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
    raise SetupError(
        f"{what} needs Python 3.12 or newer: none found (tried $ESI_SERVER_PYTHON,"
        f" python3.13, python3.12 and {pyenv}/3.12+)"
    )


def _postgres_bin() -> Path:
    versions = sorted(
        (p for p in _POSTGRES_BIN.glob("*/bin") if (p / "postgres").is_file()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not versions:
        raise SetupError(
            f"PostgreSQL server binaries not found under {_POSTGRES_BIN}"
            " (install Debian's postgresql package)"
        )
    return versions[-1]


class Postgres:
    """A private PostgreSQL cluster: trust authentication on 127.0.0.1 only.

    The server refuses to run as root; under root the cluster belongs to ``postgres``.
    """

    def __init__(self, base: Path, database: str) -> None:
        self.database = database
        self.bin = _postgres_bin()
        self.data = base / "postgres"
        self.port = free_port()
        self.log = base / "postgres.log"
        self._user = "postgres" if os.geteuid() == 0 else None

    @property
    def major(self) -> str:
        """The major version of the server binaries (``15``)."""
        return self.bin.parent.name

    def _as_owner(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", self._user, "--", *argv] if self._user else argv

    def start(self) -> None:
        """Create the cluster, start its server on :attr:`port` and create the database."""
        self.data.mkdir(parents=True)
        if self._user:
            entry = pwd.getpwnam(self._user)
            for path in (self.data, self.data.parent):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            self.log.touch()
            os.chown(self.log, entry.pw_uid, entry.pw_gid)
        run(
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
        run(
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
        self.psql(["-c", f"CREATE DATABASE {self.database}"], database="postgres")

    def _connection(self) -> tuple[str, ...]:
        return ("-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres")

    def psql(
        self, args: list[str], *, database: str | None = None, stdin: bytes | None = None
    ) -> None:
        """Run ``psql`` with ``args`` on ``database`` (default: the cluster's), fed ``stdin``.

        A failure is a SetupError with psql's error output.
        """
        argv = [
            str(self.bin / "psql"),
            *("-X", "-q", "-v", "ON_ERROR_STOP=1"),
            *self._connection(),
            *("-d", database or self.database),
            *args,
        ]
        try:
            done = subprocess.run(argv, input=stdin, capture_output=True, check=False)
        except OSError as exc:
            raise SetupError(f"psql: {exc}") from exc
        if done.returncode != 0:
            raise SetupError(f"psql {' '.join(args[:2])} failed: {done.stderr.decode()[-2000:]}")

    def dump(self, target: Path) -> None:
        """A gzipped SQL dump of the database, without owners or privileges, into ``target``.

        Written beside it and moved into place once complete.
        """
        argv = [
            str(self.bin / "pg_dump"),
            *self._connection(),
            *("--no-owner", "--no-privileges", self.database),
        ]
        with (
            tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp,
            gzip.GzipFile(fileobj=tmp, mode="wb", mtime=0) as out,
        ):
            out.write(run(argv, "pg_dump").encode())
        os.replace(tmp.name, target)

    def stop(self) -> None:
        """Stop the server at once (``-m immediate``) if it runs; a failed stop is ignored."""
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(SetupError):
                run(
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


def spawn(argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a session of its own, its output appended to ``log``.

    It is killed at exit unless :func:`halt` (or :func:`forget`) saw it end.
    """
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=env,
            start_new_session=True,
        )
    register(proc)
    return proc


def halt(
    proc: subprocess.Popen[bytes] | None, timeout: float = 15.0, *, kill: bool = False
) -> None:
    """End ``proc``: SIGTERM (SIGKILL with ``kill``), SIGKILL after ``timeout``."""
    if proc is None:
        return
    if proc.poll() is None:
        if kill:
            proc.kill()
        else:
            proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    forget(proc)
