"""NetBox event rules -> ``/config``: a webhook receiver that verifies, then syncs.

NetBox signs a webhook's body with the webhook's secret: ``X-Hook-Signature`` is the hex
HMAC-SHA512 of the raw body. A request without it, or with a wrong one, is refused (401)
and changes nothing.

The receiver does not trust the payload to describe the change: any event on a model the
mapping uses marks the inventory dirty, and a :class:`SyncLoop` runs a full
:func:`~nornir_esi.netbox.sync.sync` soon after, from what NetBox holds then. Retries,
duplicates and bursts (NetBox sends one request per object) fold into one sync, and a
sync writes only what changed, so the outcome is the same however often an event arrives.
The NetBox users and request ids of the events a sync folds (:func:`requester`) are
handed to it, for the audit trail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from nornir_esi.contract.desired import Requester
from nornir_esi.exceptions import EsiError, ValidationError
from nornir_esi.netbox.schema import OBJECT_TYPES

__all__ = ["SyncLoop", "folded", "relevant", "requester", "sign", "verify"]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hook-Signature"


def relevant(payload: dict[str, Any]) -> str | None:
    """The payload's object type when the mapping reads it, else None.

    NetBox 4 sends ``object_type`` (``dcim.device``); older releases sent ``model``
    (``device``).
    """
    object_type = str(payload.get("object_type") or "")
    if object_type:
        return object_type if object_type in OBJECT_TYPES else None
    model = str(payload.get("model") or "")
    matches = [t for t in OBJECT_TYPES if t.split(".")[1] == model]
    return matches[0] if matches else None


def requester(payload: dict[str, Any]) -> Requester:
    """Who asked, as a signed NetBox payload says: NetBox's user and request id.

    NetBox 4.7 sends them as ``request.user`` and ``request.id``; earlier releases (and our
    custom scripts) as ``username`` and ``request_id``.
    """
    request = payload.get("request")
    request = request if isinstance(request, dict) else {}
    user = payload.get("username") or request.get("user") or ""
    request_id = payload.get("request_id") or request.get("id") or ""
    return Requester("netbox", str(user), str(request_id))


def folded(requesters: Sequence[Requester]) -> Requester | None:
    """One requester for a sync that folds several events: each user and request id once."""
    if not requesters:
        return None

    def unique(values: list[str]) -> str:
        return ", ".join(dict.fromkeys(v for v in values if v))

    return Requester(
        "netbox",
        unique([r.principal for r in requesters]),
        unique([r.request_id for r in requesters]),
    )


def sign(secret: str, body: bytes) -> str:
    """``body``'s signature with ``secret`` as NetBox makes it: the hex HMAC-SHA512."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha512).hexdigest()


def verify(secret: str, body: bytes, signature: str | None) -> dict[str, Any]:
    """The webhook's payload, once its signature is right; ValidationError otherwise."""
    if not signature:
        raise ValidationError("NetBox webhook", SIGNATURE_HEADER, "is missing: request unsigned")
    if not hmac.compare_digest(sign(secret, body), signature.strip().lower()):
        raise ValidationError(
            "NetBox webhook", SIGNATURE_HEADER, "does not match the body (wrong secret?)"
        )
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise ValidationError("NetBox webhook", "body", f"is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise ValidationError("NetBox webhook", "body", "is not a JSON object")
    return payload


class SyncLoop:
    """Runs ``run_sync`` in a thread whenever :meth:`poke` was called since the last run.

    It passes the requesters of the pokes it folds (:func:`folded`; None when no poke named
    one).
    """

    def __init__(
        self, run_sync: Callable[[Requester | None], Any], *, retry_after: float = 2.0
    ) -> None:
        self._run_sync = run_sync
        self._requesters: list[Requester] = []
        self._guard = threading.Lock()
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.retry_after = retry_after
        self.runs = 0
        self.last_error = ""
        self.last_report: Any = None

    def poke(self, requested_by: Requester | None = None) -> None:
        """Ask for a sync; ``requested_by`` joins the requesters of the next run."""
        if requested_by is not None:
            with self._guard:
                self._requesters.append(requested_by)
        self._dirty.set()

    def start(self) -> SyncLoop:
        """Start the thread; returns the loop."""
        self._thread = threading.Thread(target=self._loop, name="netbox sync", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """End the loop after the run in progress, if any; waits up to 30 s for the thread."""
        self._stop.set()
        self._dirty.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._dirty.wait()
            if self._stop.is_set():
                return
            self._dirty.clear()
            with self._guard:
                requesters, self._requesters = self._requesters, []
            try:
                self.last_report = self._run_sync(folded(requesters))
                self.last_error = ""
                requesters = []
            except EsiError as exc:
                # Bad data in NetBox, or etcd away: said, and tried again on the next
                # event (or soon, for a temporary error).
                self.last_error = str(exc)
                log.warning("netbox sync failed: %s", exc)
                if getattr(exc, "delay", None) is not None:
                    self._stop.wait(self.retry_after)
                    self._dirty.set()
            except Exception as exc:  # NetBox unreachable, or answering errors
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("netbox sync failed: %s", self.last_error)
                self._stop.wait(self.retry_after)
                self._dirty.set()
            finally:
                self.runs += 1
                if requesters:  # not synced: the next run is theirs too
                    with self._guard:
                        self._requesters[:0] = requesters
