"""The HTTP front door (FastAPI, so the OpenAPI description comes with it).

With ``auth`` (a token file's principals, or a Keystone) it carries the northbound API,
``/v2.0/<plural>[/<id>]`` for every resource type in the original's shape, for the holders
of a token (:mod:`nornir_esi.doors.northbound`); without, it has none. With a
:class:`NetBoxDoor` it carries NetBox's doors: the event-rule webhook
(``POST /netbox/webhook``), the outcome of the syncs it triggers (``GET /netbox/sync``),
and the gateway requests of NetBox's custom scripts
(``POST /netbox/gateways``). Both POSTs must be signed with the shared secret
(``X-Hook-Signature``, HMAC-SHA512 of the body, as NetBox signs webhooks); the token auth
of the northbound API does not apply to them.

:class:`ApiServer` runs the app under uvicorn in a thread (for ``nornir-esi serve``, the
demo and the tests), over TLS when given a certificate.

Every refusal of the app, an unknown route or method included, has the one error body
(:mod:`nornir_esi.doors.errors`); every request body is bounded
(:mod:`nornir_esi.doors.limits`), before any route reads it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from nornir_esi.doors import northbound
from nornir_esi.doors.errors import error_body, refusal_body
from nornir_esi.doors.identity import Authenticator, TokenFile
from nornir_esi.doors.limits import DEFAULT_LIMIT, BodyLimit
from nornir_esi.exceptions import EsiError, TemporaryError, ValidationError
from nornir_esi.netbox import gateways, webhook
from nornir_esi.netbox.sync import SyncOptions, sync
from nornir_esi.netbox.writeback import WritebackLoop
from nornir_esi.store.base import Store

__all__ = ["ApiServer", "NetBoxDoor", "create_app"]

log = logging.getLogger(__name__)


@dataclass
class NetBoxDoor:
    """What the NetBox routes need.

    That is the API client, the shared secret (webhooks and the custom scripts sign with
    it), sync options, and the routers (for dry runs).
    """

    nb: Any
    secret: str
    options: SyncOptions
    devices: Any = None
    jobs_timeout: float = 5.0


def _error(status: int, exc: EsiError) -> JSONResponse:
    if isinstance(exc, ValidationError):
        return JSONResponse(refusal_body(exc), status_code=status)
    return JSONResponse(error_body("server", "", str(exc)), status_code=status)


def create_app(
    store: Store,
    netbox: NetBoxDoor | None = None,
    tokens: Mapping[str, Any] | None = None,
    *,
    auth: Authenticator | None = None,
    max_body: int = DEFAULT_LIMIT,
) -> FastAPI:
    """The app on ``store``.

    It carries the northbound API for the principals of ``auth``, or of ``tokens`` (a token
    file's map, :class:`~nornir_esi.doors.identity.TokenFile`; even an empty one: then
    every request is refused), and NetBox's routes with ``netbox``. Request bodies over
    ``max_body`` bytes are refused with 413.
    """
    if auth is None and tokens is not None:
        auth = TokenFile(tokens)
    loop: webhook.SyncLoop | None = None
    writeback: WritebackLoop | None = None
    if netbox is not None:
        door = netbox
        loop = webhook.SyncLoop(
            lambda who: sync(door.nb, store, door.options, requested_by=who).as_dict()
        )
        writeback = WritebackLoop(door.nb, store)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if loop is not None and writeback is not None:
            loop.start()
            writeback.start()
        try:
            yield
        finally:
            if loop is not None and writeback is not None:
                loop.stop()
                writeback.stop()

    app = FastAPI(title="nornir-esi", version="0.1.0", lifespan=lifespan)
    app.state.sync_loop = loop
    app.state.writeback = writeback
    app.add_middleware(BodyLimit, limit=max_body)

    @app.exception_handler(HTTPException)
    async def no_route(request: Request, exc: HTTPException) -> JSONResponse:
        """An unknown route (404) or method (405), in the one error body."""
        reason = {404: "is no route of this API", 405: "is not a method of this route"}.get(
            exc.status_code, str(exc.detail)
        )
        obj = f"{request.method} {request.url.path}"
        return JSONResponse(
            error_body(obj, "", reason), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
        """A request FastAPI could not read (outside the northbound routes, which say more)."""
        errors = exc.errors()
        where = ".".join(str(p) for p in errors[0].get("loc", ())) if errors else ""
        reason = str(errors[0].get("msg", "is not valid")) if errors else "is not valid"
        return JSONResponse(error_body("request", where, reason), status_code=422)

    if auth is not None:
        app.include_router(northbound.router(store, auth))
    if netbox is not None:

        async def signed(request: Request) -> dict[str, Any] | JSONResponse:
            """The request's JSON payload when signed with the shared secret; else the refusal.

            The refusal is a 401 for the signature, a 400 for a body that is no JSON object.
            """
            try:
                return webhook.verify(
                    door.secret,
                    await request.body(),
                    request.headers.get(webhook.SIGNATURE_HEADER),
                )
            except ValidationError as exc:
                log.warning("%s %s refused: %s", request.method, request.url.path, exc)
                return _error(400 if exc.field == "body" else 401, exc)

        @app.post("/netbox/webhook", status_code=202)
        async def netbox_webhook(request: Request) -> Any:
            """An event of a NetBox event rule: verified, then a sync is queued."""
            payload = await signed(request)
            if isinstance(payload, JSONResponse):
                return payload
            object_type = webhook.relevant(payload)
            if object_type is None:
                ignored = payload.get("object_type") or payload.get("model")
                return JSONResponse({"ignored": ignored}, status_code=200)
            assert loop is not None
            loop.poke(webhook.requester(payload))
            return {"queued": True, "object_type": object_type, "event": payload.get("event")}

        @app.post("/netbox/gateways")
        async def netbox_gateways(request: Request) -> Any:
            """A custom script's gateway request, signed like a webhook.

            The body: ``{"action": "create"|"update"|"delete", "dry_run": bool, "gateway": {...}}``.
            """
            payload = await signed(request)
            if isinstance(payload, JSONResponse):
                return payload
            try:
                gateway = payload.get("gateway")
                if not isinstance(gateway, dict):
                    raise ValidationError("gateway request", "gateway", "is not an object")
                return await run_in_threadpool(
                    gateways.handle,
                    store,
                    door.devices,
                    payload.get("action"),  # type: ignore[arg-type]
                    gateway,
                    dry_run=bool(payload.get("dry_run", True)),
                    jobs_timeout=door.jobs_timeout,
                    requested_by=webhook.requester(payload),
                )
            except ValidationError as exc:
                return _error(422, exc)
            except TemporaryError as exc:
                return _error(503, exc)
            except EsiError as exc:
                return _error(409, exc)

        @app.get("/netbox/sync")
        def netbox_sync_status() -> Any:
            """How the webhook-driven syncs went: how many ran, the last outcome or error."""
            assert loop is not None
            return {"runs": loop.runs, "last_error": loop.last_error, "last": loop.last_report}

    return app


class ApiServer:
    """The app under uvicorn on ``host:port`` (0: a free port), in a thread.

    It serves over TLS when given ``certfile`` (PEM, with the key in it or in ``keyfile``).
    """

    def __init__(
        self,
        app: FastAPI,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        certfile: str | None = None,
        keyfile: str | None = None,
    ) -> None:
        self.app = app
        self._scheme = "https" if certfile else "http"
        self._server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_level="warning",
                lifespan="on",
                ssl_certfile=certfile,
                ssl_keyfile=keyfile,
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL the server listens on (``http(s)://host:port``), once started."""
        sockets = [s for server in self._server.servers for s in server.sockets]
        host, port = sockets[0].getsockname()[:2]
        return f"{self._scheme}://{host}:{port}"

    def start(self, timeout: float = 30.0) -> ApiServer:
        """Serve in a thread; returns once listening, EsiError if not up within ``timeout`` s."""
        self._thread = threading.Thread(target=self._server.run, name="api", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise EsiError("the HTTP API did not start")
            threading.Event().wait(0.02)
        return self

    def stop(self) -> None:
        """Ask uvicorn to shut down and wait (30 s at most) for its thread."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
