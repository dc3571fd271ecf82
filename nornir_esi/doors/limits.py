"""A bound on request bodies, checked before anything reads them (an ASGI middleware).

A body over the limit is refused with 413 in the API's error body: at once when its
``Content-Length`` says so, else (a chunked body) as soon as the bytes received pass the
limit; nothing of it is parsed, and at most ``limit`` bytes are ever held. The default,
:data:`DEFAULT_LIMIT`, is Neutron's (oslo.middleware's ``max_request_body_size``, 114688
bytes): the largest body a client of this API sends is a few hundred bytes.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nornir_esi.doors.errors import error_body

__all__ = ["DEFAULT_LIMIT", "BodyLimit"]

DEFAULT_LIMIT = 114688
"""Bytes: Neutron's limit of a request body."""


class BodyLimit:
    """``app`` with request bodies of at most ``limit`` bytes."""

    def __init__(self, app: ASGIApp, limit: int = DEFAULT_LIMIT) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, its body read first (up to the limit) unless it has none."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await self._refuse(send, int(length))
            return
        if length is not None and length.isdigit():
            await self.app(scope, receive, send)  # the server stops at Content-Length
            return
        # No length (chunked, or no body): read it here, counting, then hand it on.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(send, None)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, length: int | None) -> None:
        said = f"{length} bytes" if length is not None else "more bytes than that"
        body: dict[str, Any] = error_body(
            "request body", "", f"is over the limit of {self.limit} bytes ({said})"
        )
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
