"""The :class:`~nornir_esi.store.base.Store` on etcd v3, through ``pyetcd``.

``pyetcd`` (python-etcd3's API) gives the channels, endpoint failover, leases and the
watch stream. Key-value calls go to its gRPC stubs directly because its helpers drop the
response header (the revision a ``txn`` or ``delete`` happened at) and compute a wrong
range end for the empty prefix. Authentication is done here: pyetcd fetches one token at
construction, never renews it, and sends it in a way gRPC refuses over plaintext. gRPC
and pyetcd errors become :class:`~nornir_esi.exceptions.StoreError` subclasses here and
nowhere else.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import queue
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import grpc  # type: ignore[import-untyped]
import pyetcd  # type: ignore[import-untyped]
from pyetcd import etcdrpc
from pyetcd import events as etcd_events
from pyetcd import exceptions as etcd_exc
from pyetcd import watch as etcd_watch

from nornir_esi.exceptions import (
    LeaseExpiredError,
    StoreCompactedError,
    StoreError,
    StoreUnavailableError,
    ValidationError,
)
from nornir_esi.store.base import MAX_TXN_OPS, Compare, Entry, Event, Op, Txn, TxnResult

__all__ = ["EtcdLease", "EtcdStore", "EtcdWatch"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# pyetcd skips an endpoint for this long after a failure, and only fails over when the
# endpoint in use is marked failed. With one endpoint there is nothing to fail over to, so
# it must never be marked (pyetcd would refuse to use it for that long); with several, a
# short window lets a restarted member come back into the rotation soon.
_SINGLE_RETRY_AFTER = 0.0
_MULTI_RETRY_AFTER = 2.0

# A watch stream is otherwise silent while nothing changes: without keepalive pings a
# half-open TCP connection (a peer that vanished without a FIN) would hang it forever.
# etcd rejects pings more often than every 5 s (--grpc-keepalive-min-time).
# gRPC's default reconnect backoff grows to 2 minutes: after an outage that long, a
# client would keep failing fast long after etcd is back. Capped at 1 s instead.
_GRPC_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1_000),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    # A range read of every queued job (each carries its params) outgrows gRPC's 4 MB
    # default under a backlog; etcd itself answers ranges of any size.
    ("grpc.max_receive_message_length", 256 * 1024 * 1024),
]

_UNAVAILABLE_CODES = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.INTERNAL}
)
_UNAVAILABLE_EXC = (
    etcd_exc.ConnectionFailedError,
    etcd_exc.ConnectionTimeoutError,
    etcd_exc.InternalServerError,
    etcd_exc.NoServerAvailableError,
    etcd_exc.WatchTimedOut,
)

_COMPARE_TARGETS = {
    "value": etcdrpc.Compare.VALUE,
    "version": etcdrpc.Compare.VERSION,
    "mod_revision": etcdrpc.Compare.MOD,
    "create_revision": etcdrpc.Compare.CREATE,
}
_COMPARE_OPS = {
    "==": etcdrpc.Compare.EQUAL,
    "!=": etcdrpc.Compare.NOT_EQUAL,
    "<": etcdrpc.Compare.LESS,
    ">": etcdrpc.Compare.GREATER,
}

# Like clientv3.WithRequireLeader: a member cut off from its cluster fails requests and
# ends watch streams at once (UNAVAILABLE, "no leader"), so the client moves to another
# member instead of reading stale data or waiting on a watch that never sees an event.
_REQUIRE_LEADER = ("hasleader", "true")

# etcd refuses a token it no longer knows (a simple token unused for --auth-token-ttl,
# 5 minutes by default, or any token after etcd restarted) or one issued before the
# users or roles changed. Nothing was applied: fetch a new token and send it again.
_STALE_TOKEN_DETAILS = (
    "etcdserver: invalid auth token",
    "etcdserver: revision of auth store is old",
)

# Watch reconnect backoff, seconds: quick first retries (an etcd restart takes ~0.3 s),
# capped so a long outage is not hammered.
_BACKOFF_FIRST = 0.05
_BACKOFF_MAX = 1.0


def _b(text: str) -> bytes:
    return text.encode("utf-8")


def _range(prefix: str) -> tuple[bytes, bytes]:
    r"""``(key, range_end)`` of every key starting with ``prefix``.

    etcd's conventions: ``range_end`` is the prefix with its last byte below 0xff
    incremented; ``\0`` means "to the end of the keyspace", and ``key=\0`` with it is
    the whole keyspace (an empty key is rejected).
    """
    key = _b(prefix)
    if not key:
        return b"\0", b"\0"
    end = bytearray(key)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return key, bytes(end)
        end.pop()
    return key, b"\0"


def _width(txn: Txn) -> int:
    return max(len(txn.compare), len(txn.success), len(txn.failure))


def _nestable(txns: Sequence[Txn]) -> Iterator[Sequence[Txn]]:
    """``txns`` in runs etcd takes as one request.

    The count of a run plus the widest of it (compares or ops, the larger) stays within
    MAX_TXN_OPS, as etcd counts nested ones.
    """
    start, widest = 0, 0
    for end, txn in enumerate(txns):
        widest = max(widest, _width(txn))
        if end > start and (end - start + 1) + widest > MAX_TXN_OPS:
            yield txns[start:end]
            start, widest = end, _width(txn)
    if start < len(txns):
        yield txns[start:]


def _txn_result(rs: Any, revision: int) -> TxnResult:
    gets = tuple(
        tuple(_entry(kv) for kv in r.response_range.kvs)
        for r in rs.responses
        if r.WhichOneof("response") == "response_range"
    )
    return TxnResult(succeeded=bool(rs.succeeded), gets=gets, revision=revision)


def _entry(kv: Any) -> Entry:
    return Entry(
        key=kv.key.decode("utf-8"),
        value=kv.value.decode("utf-8"),
        mod_revision=kv.mod_revision,
        create_revision=kv.create_revision,
        version=kv.version,
        lease=kv.lease,
    )


# What etcd answers (with status UNKNOWN) while it has no quorum or is electing a leader:
# the request may well succeed a moment later.
_TRANSIENT_DETAILS = (
    "context deadline exceeded",
    "etcdserver: request timed out",
    "etcdserver: leader changed",
    "etcdserver: no leader",
    "etcdserver: too many requests",
)


def _rpc_error(exc: grpc.RpcError, what: str) -> StoreError:
    code = exc.code()
    details = exc.details() or code.name
    if _tls_failure(exc):
        return StoreError(f"etcd: {what}: {_TLS_HINT}: {details}")
    if code in _UNAVAILABLE_CODES or any(t in details for t in _TRANSIENT_DETAILS):
        return StoreUnavailableError(f"etcd: {what}: {details}", delay=1.0)
    if code == grpc.StatusCode.NOT_FOUND and "lease" in details:
        return LeaseExpiredError(f"etcd: {what}: {details}")
    return StoreError(f"etcd: {what}: {code.name}: {details}")


_TLS_HINT = "TLS handshake failed (check ca_cert, and the client certificate if etcd wants one)"


def _tls_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a TLS handshake that failed on a certificate.

    ``exc`` is the gRPC error, or the pyetcd error that replaced it. A failed certificate
    is a wrong CA, or a missing or unknown client certificate: retrying does not fix that,
    unlike a handshake cut short by a restarting server.
    """
    cause = exc if isinstance(exc, grpc.RpcError) else exc.__context__
    if not isinstance(cause, grpc.RpcError) or cause.code() != grpc.StatusCode.UNAVAILABLE:
        return False
    details = (cause.details() or "").lower()
    return "handshake failed" in details and ("certificate" in details or "unknown_ca" in details)


def _stale_token(exc: BaseException) -> str | None:
    """Why etcd refused the token a request carried, if it did."""
    if isinstance(exc, _WatchRefusedError):
        # etcd answers a watch whose stream carries an unknown token like one the user
        # may not read: "permission denied". Worth one attempt with a new token.
        return exc.reason if "permission denied" in exc.reason else None
    if isinstance(exc, grpc.RpcError):
        details = exc.details() or ""
        return details if any(t in details for t in _STALE_TOKEN_DETAILS) else None
    return None


def _details(exc: BaseException) -> str:
    """The text of a pyetcd exception, plus the gRPC status it replaced (its ``__context__``)."""
    cause = exc.__context__
    if isinstance(cause, grpc.RpcError):
        return f"{exc}: {cause.code().name}: {cause.details()}"
    return str(exc) or type(exc).__name__


def _not_sent(exc: BaseException) -> bool:
    """Whether a failed request surely never reached etcd, so even a write may be retried.

    gRPC fails a call fast with this text when it has no connection to send it on.
    """
    if isinstance(exc, etcd_exc.NoServerAvailableError):
        return True
    cause = exc.__context__
    return (
        isinstance(cause, grpc.RpcError)
        and cause.code() == grpc.StatusCode.UNAVAILABLE
        and "failed to connect to all addresses" in (cause.details() or "")
    )


def _parse_endpoint(url: str) -> tuple[str, int, bool]:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("etcd endpoint", url, "is not an http(s)://host:port URL")
    return parts.hostname, parts.port or 2379, parts.scheme == "https"


class EtcdStore:
    """A :class:`~nornir_esi.store.base.Store` on one etcd cluster.

    ``endpoints`` are client URLs (``http://127.0.0.1:2379``; a comma-separated string or a
    list). With several, requests go to one of them and move to another after it fails:
    the failing request itself raises :class:`StoreUnavailableError` (reads are retried on the
    next endpoint; writes are not, their outcome may be unknown). TLS is used when
    ``ca_cert`` is given (plus ``cert_key``/``cert_cert`` for client certificates); a
    failed TLS handshake is a :class:`StoreError`, not worth retrying. With
    ``user``/``password`` the store authenticates at construction (a wrong password is a
    :class:`StoreError` there) and again whenever etcd no longer accepts its token (expired
    while idle, or etcd restarted); the request that found out is sent again.
    ``timeout`` bounds each request, in seconds.

    Requests fail fast while there is no connection (etcd down, or just restarted and
    gRPC not yet reconnected, at most about a second): callers retry
    :class:`StoreUnavailableError` like any :class:`TemporaryError`. Watches reconnect on
    their own.
    """

    def __init__(
        self,
        endpoints: str | list[str],
        *,
        ca_cert: str | None = None,
        cert_key: str | None = None,
        cert_cert: str | None = None,
        user: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        urls = (
            [u.strip() for u in endpoints.split(",")] if isinstance(endpoints, str) else endpoints
        )
        urls = [u for u in urls if u]
        if not urls:
            raise ValidationError("etcd", "endpoints", "is empty")
        if (cert_key is None) != (cert_cert is None):
            raise ValidationError("etcd", "cert_key", "and cert_cert go together")
        if (user is None) != (password is None):
            raise ValidationError("etcd", "user", "and password go together")
        parsed = [_parse_endpoint(u) for u in urls]
        if any(secure for _, _, secure in parsed) and ca_cert is None:
            raise ValidationError("etcd", "ca_cert", "is required for https endpoints")
        creds = None
        if ca_cert is not None:
            try:
                creds = pyetcd.MultiEndpointEtcd3Client.get_secure_creds(
                    ca_cert, cert_key, cert_cert
                )
            except OSError as exc:
                raise ValidationError("etcd", "ca_cert", f"or a client cert: {exc}") from exc
        retry_after = _SINGLE_RETRY_AFTER if len(parsed) == 1 else _MULTI_RETRY_AFTER
        self.endpoints = urls
        self.timeout = timeout
        eps = [
            pyetcd.Endpoint(
                host,
                port,
                secure=creds is not None,
                creds=creds,
                time_retry=retry_after,
                opts=_GRPC_OPTIONS,
            )
            for host, port, _ in parsed
        ]
        self._urls = {ep.netloc: url for ep, url in zip(eps, urls, strict=True)}
        # No user for pyetcd: it would authenticate once, on a random endpoint, and send
        # the token as call credentials, which gRPC refuses on a plaintext channel.
        self._client = _Client(endpoints=eps, timeout=timeout, failover=True)
        self._client.metadata = (_REQUIRE_LEADER,)
        self._user = user
        self._password = password
        self._token: str | None = None
        self._auth_lock = threading.Lock()
        self._watches: weakref.WeakSet[EtcdWatch] = weakref.WeakSet()
        self._closed = False
        if user is not None:
            try:
                self._authenticate(None)
            except BaseException:
                self._client.close()
                raise

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EtcdStore:
        """A store configured from the environment (``environ``: the process's).

        The variables are ``ESI_ETCD_ENDPOINTS`` (comma-separated URLs), ``ESI_ETCD_CA``,
        ``ESI_ETCD_CERT``, ``ESI_ETCD_KEY``, ``ESI_ETCD_USER`` and ``ESI_ETCD_PASSWORD``.
        """
        env = os.environ if environ is None else environ
        endpoints = env.get("ESI_ETCD_ENDPOINTS", "")
        if not endpoints.strip():
            raise ValidationError("environment", "ESI_ETCD_ENDPOINTS", "is not set")
        return cls(
            endpoints,
            ca_cert=env.get("ESI_ETCD_CA") or None,
            cert_cert=env.get("ESI_ETCD_CERT") or None,
            cert_key=env.get("ESI_ETCD_KEY") or None,
            user=env.get("ESI_ETCD_USER") or None,
            password=env.get("ESI_ETCD_PASSWORD") or None,
        )

    def __repr__(self) -> str:
        return f"EtcdStore({','.join(self.endpoints)!r})"

    # -- plumbing -----------------------------------------------------------------------

    def _at(self, what: str) -> str:
        """``what`` and the URL of the endpoint pyetcd sends to.

        After a failure that is the one that just failed: pyetcd only moves on at the next
        request.
        """
        label: str | None = self._client._current_endpoint_label
        where = ",".join(self.endpoints) if label is None else self._urls.get(label, label)
        return f"{what} at {where}"

    def _authenticate(self, stale: str | None) -> None:
        """Fetch a token, unless another thread replaced ``stale`` meanwhile."""
        with self._auth_lock:
            if self._token != stale:
                return
            rq = etcdrpc.AuthenticateRequest(name=self._user, password=self._password)
            c = self._client
            rs = self._call(
                f"authenticate as {self._user}",
                lambda: c.authstub.Authenticate(rq, self.timeout, metadata=(_REQUIRE_LEADER,)),
                idempotent=True,
                authenticating=True,
            )
            self._token = str(rs.token)
            c.metadata = (("token", self._token), _REQUIRE_LEADER)
            # A watch stream keeps the token it was opened with, and etcd checks it at
            # each new watch on it: later watches must go on a new stream. The old one
            # is ended, and its watches resume on the new one (from where they were).
            old = c._stubs.get("watcher")
            if old is not None:
                c._clear_old_stubs()
                old.retire()

    def _call(
        self,
        what: str,
        fn: Callable[[], T],
        *,
        idempotent: bool = False,
        authenticating: bool = False,
    ) -> T:
        """Run one request and map its errors.

        With several endpoints a failed request moves pyetcd to the next one; it is
        retried there when it is a read, or when it was never sent (no connection). A
        request refused for its token is sent once more with a new token.
        """
        attempts = len(self.endpoints)
        attempt = 0
        renewed = authenticating or self._user is None
        while True:
            token = self._token
            try:
                try:
                    return fn()
                except grpc.RpcError as exc:
                    # pyetcd's own bookkeeping: marks the endpoint failed (so the next
                    # request fails over) and drops stubs bound to its channel. It
                    # re-raises, as one of its exceptions or the RpcError itself.
                    self._client._manage_grpc_errors(exc)
                    raise
            except (grpc.RpcError, _WatchRefusedError) as exc:
                stale = None if renewed else _stale_token(exc)
                if stale is not None:
                    renewed = True
                    log.info("etcd: %s: %s, authenticating again", self._at(what), stale)
                    self._authenticate(token)
                    continue
                if isinstance(exc, _WatchRefusedError):
                    raise StoreError(f"etcd: {self._at(what)}: {exc.reason}") from exc
                raise _rpc_error(exc, self._at(what)) from exc
            except _UNAVAILABLE_EXC as exc:
                if _tls_failure(exc):
                    raise _rpc_error(exc.__context__, self._at(what)) from exc
                attempt += 1
                if (idempotent or _not_sent(exc)) and attempt < attempts:
                    continue
                message = f"etcd: {self._at(what)}: {_details(exc)}"
                raise StoreUnavailableError(message, delay=1.0) from exc
            except etcd_exc.Etcd3Exception as exc:
                raise StoreError(f"etcd: {self._at(what)}: {_details(exc)}") from exc

    def _unary(self, stub: str, method: str, request: Any) -> Any:
        c = self._client
        rpc = getattr(getattr(c, stub), method)
        return rpc(request, self.timeout, credentials=c.call_credentials, metadata=c.metadata)

    def _range_request(self, key: str, *, prefix: bool) -> Any:
        rq = etcdrpc.RangeRequest()
        if prefix:
            rq.key, rq.range_end = _range(key)
            rq.sort_order = etcdrpc.RangeRequest.ASCEND
            rq.sort_target = etcdrpc.RangeRequest.KEY
        else:
            rq.key = _b(key)
        return rq

    def _delete_request(self, key: str, *, prefix: bool) -> Any:
        rq = etcdrpc.DeleteRangeRequest()
        if prefix:
            rq.key, rq.range_end = _range(key)
        else:
            rq.key = _b(key)
        return rq

    @staticmethod
    def _put_request(key: str, value: str, lease: int) -> Any:
        return etcdrpc.PutRequest(key=_b(key), value=_b(value), lease=lease)

    # -- Store --------------------------------------------------------------------------

    def get(self, key: str) -> Entry | None:
        """The entry of ``key``, None when it is absent; retried on the next endpoint."""
        rs = self._call(
            f"get {key}",
            lambda: self._unary("kvstub", "Range", self._range_request(key, prefix=False)),
            idempotent=True,
        )
        return _entry(rs.kvs[0]) if rs.kvs else None

    def get_prefix(self, prefix: str, *, after: str = "", limit: int = 0) -> list[Entry]:
        """Every key under ``prefix``, sorted by key, in one range read.

        Only those after the key ``after``, when given, and the first ``limit`` (0: all):
        a page, read and parsed alone, however many keys follow.
        """
        rq = self._range_request(prefix, prefix=True)
        if after:
            rq.key = _b(after) + b"\0"  # the next key after it
        rq.limit = limit
        rs = self._call(
            f"get prefix {prefix}",
            lambda: self._unary("kvstub", "Range", rq),
            idempotent=True,
        )
        return [_entry(kv) for kv in rs.kvs]

    def put(self, key: str, value: str, *, lease: int = 0) -> int:
        """Write a key; returns the revision after the write. Not retried if it fails."""
        rs = self._call(
            f"put {key}",
            lambda: self._unary("kvstub", "Put", self._put_request(key, value, lease)),
        )
        return int(rs.header.revision)

    def delete(self, key: str, *, prefix: bool = False) -> int:
        """Delete a key (or a prefix); returns how many keys were deleted."""
        rs = self._call(
            f"delete {key}",
            lambda: self._unary("kvstub", "DeleteRange", self._delete_request(key, prefix=prefix)),
        )
        return int(rs.deleted)

    def txn(
        self, compare: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op] = ()
    ) -> TxnResult:
        """Run ``success`` when every ``compare`` holds, else ``failure``, atomically."""
        rq = self._txn_request(Txn(compare, success, failure))
        rs = self._call("txn", lambda: self._unary("kvstub", "Txn", rq))
        return _txn_result(rs, int(rs.header.revision))

    def txns(self, txns: Sequence[Txn]) -> list[TxnResult]:
        """Independent transactions, as many per request as etcd takes nested in one."""
        # etcd's nested transactions: an outer one with no compares, each of ours inside it
        # with its own.
        results: list[TxnResult] = []
        for chunk in _nestable(txns):
            rq = etcdrpc.TxnRequest(
                success=[etcdrpc.RequestOp(request_txn=self._txn_request(t)) for t in chunk]
            )
            rs = self._call(
                f"{len(chunk)} txns", functools.partial(self._unary, "kvstub", "Txn", rq)
            )
            revision = int(rs.header.revision)
            results += [_txn_result(r.response_txn, revision) for r in rs.responses]
        return results

    def _txn_request(self, txn: Txn) -> Any:
        return etcdrpc.TxnRequest(
            compare=[self._compare(c) for c in txn.compare],
            success=[self._op(op) for op in txn.success],
            failure=[self._op(op) for op in txn.failure],
        )

    def _compare(self, c: Compare) -> Any:
        target = _COMPARE_TARGETS.get(c.target)
        result = _COMPARE_OPS.get(c.op)
        if target is None or result is None:
            raise ValidationError(f"compare {c.key}", c.target, f"{c.op} is not supported")
        msg = etcdrpc.Compare(key=_b(c.key), target=target, result=result)
        if c.prefix:
            msg.key, msg.range_end = _range(c.key)
        if c.target == "value":
            if not isinstance(c.operand, str):
                raise ValidationError(f"compare {c.key}", "value", "operand must be a str")
            msg.value = _b(c.operand)
        else:
            if isinstance(c.operand, bool) or not isinstance(c.operand, int):
                raise ValidationError(f"compare {c.key}", c.target, "operand must be an int")
            setattr(msg, c.target, c.operand)
        return msg

    def _op(self, op: Op) -> Any:
        if op.kind == "put":
            return etcdrpc.RequestOp(request_put=self._put_request(op.key, op.value, op.lease))
        if op.kind == "delete":
            rq = self._delete_request(op.key, prefix=op.prefix)
            return etcdrpc.RequestOp(request_delete_range=rq)
        if op.kind == "get":
            rq = self._range_request(op.key, prefix=op.prefix)
            return etcdrpc.RequestOp(request_range=rq)
        raise ValidationError(f"txn op {op.key}", "kind", f"{op.kind!r} is not supported")

    def lease(self, ttl: int) -> EtcdLease:
        """Grant a lease of ``ttl`` seconds.

        etcd may raise ``ttl`` to its minimum (about 1.5 election timeouts), which
        :attr:`EtcdLease.ttl` reports.
        """
        if ttl <= 0:
            raise ValidationError("lease", "ttl", f"{ttl} must be positive")
        granted = self._call(f"grant lease ttl={ttl}", lambda: self._client.lease(ttl))
        return EtcdLease(self, int(granted.id), int(granted.ttl))

    def watch(self, prefix: str, *, start_revision: int = 0) -> EtcdWatch:
        """Changes under ``prefix`` from ``start_revision`` (0: from now) on, in order."""
        if start_revision <= 0:
            # Pin "from now" to a revision, so a reconnect before the first event
            # still resumes exactly where this watch began.
            start_revision = self.revision() + 1
        w = EtcdWatch(self, prefix, start_revision)
        self._watches.add(w)
        try:
            w._register()
        except BaseException:
            w.cancel()
            raise
        return w

    def revision(self) -> int:
        """The store's current revision (a linearizable read)."""
        # An empty txn: a linearizable read that touches no key, so that any user may do
        # it (with authentication, even a count of one key needs read permission on it).
        # Only its header matters.
        rq = etcdrpc.TxnRequest()
        rs = self._call("revision", lambda: self._unary("kvstub", "Txn", rq), idempotent=True)
        return int(rs.header.revision)

    def close(self) -> None:
        """Cancel the open watches and close the client's channels; again is a no-op."""
        if self._closed:
            return
        self._closed = True
        for w in list(self._watches):
            w.cancel()
        self._client.close()

    def __enter__(self) -> EtcdStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EtcdLease:
    """A granted lease (see :class:`~nornir_esi.store.base.Lease`)."""

    def __init__(self, store: EtcdStore, lease_id: int, ttl: int) -> None:
        self._store = store
        self._id = lease_id
        self._ttl = ttl

    @property
    def id(self) -> int:
        """The lease's etcd ID."""
        return self._id

    @property
    def ttl(self) -> int:
        """The TTL etcd granted, in seconds (may be more than asked for)."""
        return self._ttl

    def refresh(self) -> int:
        """Keep the lease alive; returns the remaining TTL, 0 when it has expired."""
        client = self._store._client
        responses = self._store._call(
            f"refresh lease {self._id:x}", lambda: list(client.refresh_lease(self._id))
        )
        # etcd answers an expired or unknown lease with TTL <= 0 rather than an error.
        return max(0, int(responses[-1].TTL)) if responses else 0

    def revoke(self) -> None:
        """End the lease now, deleting its keys; one already gone is no error."""
        # Already gone is fine: its keys are deleted either way.
        with contextlib.suppress(LeaseExpiredError):
            self._store._call(
                f"revoke lease {self._id:x}", lambda: self._store._client.revoke_lease(self._id)
            )

    def __repr__(self) -> str:
        return f"EtcdLease(id={self._id:x}, ttl={self._ttl})"


class _WatchRefusedError(Exception):
    """etcd created a watch and cancelled it at once (``cancel_reason``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Watcher(etcd_watch.Watcher):  # type: ignore[misc]
    """pyetcd's watch stream, plus etcd's refusals and a way to end the stream.

    etcd refuses a watch (a prefix the user may not read, or a stream opened with a
    token etcd no longer knows) by answering its creation with ``created`` and
    ``canceled`` together, under the id the request asked for: 0, as pyetcd asks for
    none. pyetcd took that for success (and filed the callback under id 0, which may be
    a live watch's). Here the creation fails instead. etcd 3.5 also stops sending the
    events of a live watch 0 on that stream (it forgets having announced id 0): that
    watch is cancelled and told, so that it resumes under another id. A live watch etcd
    cancels later with a reason gets it as an error too, and resumes.

    pyetcd's ``close`` only half-closes the stream, which etcd keeps serving;
    :meth:`retire` cancels it, so its watches see the stream end and resume elsewhere.
    """

    def __init__(self, watchstub: Any, **kwargs: Any) -> None:
        super().__init__(watchstub, **kwargs)
        self._stream: Any = None
        self._retired = False

        def open_stream(*args: Any, **kw: Any) -> Any:
            stream = watchstub.Watch(*args, **kw)
            with self._lock:
                self._stream = stream
                retired = self._retired
            if retired:
                stream.cancel()
            return stream

        self._watch_stub = _StreamOpener(open_stream)

    def retire(self) -> None:
        """End the stream (its callbacks get a CANCELLED error) and any later one."""
        with self._lock:
            self._retired = True
            stream = self._stream
        if stream is not None:
            stream.cancel()

    def _handle_response(self, rs: Any) -> None:
        refused = rs.canceled and not rs.compact_revision and (rs.created or rs.cancel_reason)
        if not refused:
            super()._handle_response(rs)
            return
        error = _WatchRefusedError(str(rs.cancel_reason or "etcd cancelled the watch"))
        with self._lock:
            if rs.created and self._new_watch is not None:
                self._new_watch.err = error
                self._new_watch_cond.notify_all()
            callback = self._callbacks.pop(rs.watch_id, None)
            if callback is not None and rs.created:
                self._cancel_no_lock(rs.watch_id)
        if callback is not None:
            etcd_watch._safe_callback(callback, error)


class _StreamOpener:
    def __init__(self, watch: Callable[..., Any]) -> None:
        self.Watch = watch


class _Client(pyetcd.MultiEndpointEtcd3Client):  # type: ignore[misc]
    def get_watcher(self) -> _Watcher:
        return _Watcher(
            etcdrpc.WatchStub(self.channel),
            timeout=self.timeout,
            call_credentials=self.call_credentials,
            metadata=self.metadata,
        )


# What the watch callback hands the iterating thread: a batch of events, or why the
# registration ended (an exception, or None when pyetcd closed its stream cleanly).
_Item = tuple[int, Any]
_CANCELLED: Literal["cancelled"] = "cancelled"


class EtcdWatch:
    """An open watch on a prefix (see :class:`~nornir_esi.store.base.Watch`).

    pyetcd multiplexes all watches of a client on one gRPC stream and reports a broken
    stream by calling every callback with the ``grpc.RpcError`` (or ``None`` when it
    closed the stream itself, e.g. after failing over). Its callbacks run on that
    stream's thread, so they only queue; re-registering happens in the iterating thread.

    Resuming: events of one revision arrive in one response, so after delivering events
    up to revision R the watch is re-created from R+1; anything at or below R that shows
    up anyway (a registration that was being replaced) is dropped. A compacted start
    revision raises :class:`StoreCompactedError`.
    """

    def __init__(self, store: EtcdStore, prefix: str, start_revision: int) -> None:
        self._store = store
        self.prefix = prefix
        self._next_revision = start_revision
        self._queue: queue.Queue[_Item | Literal["cancelled"]] = queue.Queue()
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self._generation = 0
        self._registration: tuple[Any, int] | None = None
        self._iterating = False

    def _register(self) -> None:
        """Create the etcd watch from ``_next_revision``; raises StoreError subclasses."""
        with self._lock:
            self._generation += 1
            generation = self._generation

        def callback(response: Any) -> None:
            self._queue.put((generation, response))

        key, range_end = _range(self.prefix)
        client = self._store._client

        def add() -> tuple[Any, int]:
            # The watcher (stream) is kept with the id: pyetcd replaces the client's
            # watcher after any failed request, but the stream of the old one goes on
            # delivering, so cancelling must go to the watcher that holds the id.
            watcher = client.watcher
            return watcher, watcher.add_callback(
                key, callback, range_end=range_end, start_revision=self._next_revision
            )

        registration = self._store._call(f"watch {self.prefix} from {self._next_revision}", add)
        with self._lock:
            if self._cancelled.is_set():
                self._cancel_registration(registration)
            else:
                self._registration = registration

    def _cancel_registration(self, registration: tuple[Any, int] | None) -> None:
        if registration is None:
            return
        watcher, watch_id = registration
        try:
            watcher.cancel(watch_id)
        except Exception as exc:  # the stream is gone: nothing is left to cancel
            log.debug("watch %s: cancel %s: %s", self.prefix, watch_id, exc)

    def _reconnect(self) -> bool:
        """Register again until it works; False when cancelled meanwhile."""
        delay = _BACKOFF_FIRST
        failures = 0
        while not self._cancelled.is_set():
            try:
                self._register()
                if failures:
                    log.info("watch %s: resumed at %d", self.prefix, self._next_revision)
                return True
            except StoreUnavailableError as exc:
                failures += 1
                # Once per outage at warning level; the retries every second are debug.
                log.log(
                    logging.WARNING if failures == 1 else logging.DEBUG,
                    "watch %s: cannot resume at %d yet (%s), retrying",
                    self.prefix,
                    self._next_revision,
                    exc,
                )
            if self._cancelled.wait(delay):
                break
            delay = min(delay * 2, _BACKOFF_MAX)
        return False

    def __iter__(self) -> Iterator[Event]:
        with self._lock:
            if self._iterating:
                raise StoreError(f"watch {self.prefix}: already being iterated")
            self._iterating = True
        while True:
            item = self._queue.get()
            if item == _CANCELLED or self._cancelled.is_set():
                return
            generation, response = item
            if generation != self._generation:
                continue  # a registration that was replaced
            if isinstance(response, etcd_exc.RevisionCompactedError):
                self.cancel()
                raise StoreCompactedError(
                    f"watch {self.prefix}: revision {self._next_revision} is compacted"
                    f" (compacted up to {response.compacted_revision})",
                    compact_revision=int(response.compacted_revision),
                ) from response
            if response is None or isinstance(response, Exception):
                if isinstance(response, grpc.RpcError) and (
                    response.code() not in _UNAVAILABLE_CODES
                    and response.code() != grpc.StatusCode.CANCELLED
                ):
                    self.cancel()
                    raise _rpc_error(response, f"watch {self.prefix}") from response
                log.info(
                    "watch %s: stream ended (%s), resuming at %d",
                    self.prefix,
                    response.code().name
                    if isinstance(response, grpc.RpcError)
                    else (response or "closed"),
                    self._next_revision,
                )
                with self._lock:
                    self._registration = None
                if not self._reconnect():
                    return
                continue
            for ev in response.events:
                rev = int(ev.mod_revision)
                if rev < self._next_revision:
                    continue
                kind: Literal["put", "delete"] = (
                    "delete" if isinstance(ev, etcd_events.DeleteEvent) else "put"
                )
                value = ev.value.decode("utf-8") if kind == "put" else ""
                # Advance before yielding: a consumer that stops here has seen it.
                self._next_revision = rev
                yield Event(kind, ev.key.decode("utf-8"), value, rev)
                if self._cancelled.is_set():
                    return
            # Only now is the whole revision delivered (a response never splits one).
            if response.events:
                self._next_revision = int(response.events[-1].mod_revision) + 1

    def cancel(self) -> None:
        """End the iteration (from any thread) and the etcd watch."""
        with self._lock:
            if self._cancelled.is_set():
                return
            self._cancelled.set()
            registration, self._registration = self._registration, None
        self._queue.put(_CANCELLED)
        self._cancel_registration(registration)

    def __enter__(self) -> EtcdWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()

    def __repr__(self) -> str:
        return f"EtcdWatch({self.prefix!r}, next_revision={self._next_revision})"
