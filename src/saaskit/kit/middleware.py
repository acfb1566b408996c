"""The edge of every request: one pure ASGI middleware (no per-request task or body copy, as
BaseHTTPMiddleware would make) that refuses oversized bodies, half-sent bodies and input
PostgreSQL cannot store (``kit/inputs.py``), and times the request.

One layer rather than one per concern: on the hot paths each ASGI layer is a measurable share of
a request's cost.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from saaskit.kit.errors import error_body
from saaskit.kit.inputs import Refusal, body_kind, body_refusal, path_refusal, query_refusal

# (method, route template or "(unmatched)", duration in ms, status)
RequestObserver = Callable[[str, str, float, int], None]


class Edge:
    """``max_bytes``: the largest body (413 above). ``body_timeout``: seconds after the headers
    by which the whole body must have arrived; a client still sending then (a half-sent
    request, whether slow or abandoned) is answered 408 and disconnected, so it cannot hold a
    connection and a task forever. ``repairs_text``: paths whose endpoints repair unstorable
    text themselves (ingestion), so the edge lets it through to them."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        observe: RequestObserver | None = None,
        body_timeout: float | None = None,
        repairs_text: Collection[str] = (),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.observe = observe
        self.body_timeout = body_timeout
        self.repairs_text = frozenset(repairs_text)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        body_expected = False
        kind = None
        checks_input = scope["path"] not in self.repairs_text
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._refuse(send, 400, error_body("bad_request", "Content-Length is not a number"))
                    return
                if declared > self.max_bytes:
                    await self._refuse_too_large(send)
                    return
                body_expected = declared > 0
            elif name == b"transfer-encoding":
                body_expected = True
            elif name == b"content-type" and checks_input:
                kind = body_kind(value)
        if checks_input:
            refusal = query_refusal(scope.get("query_string", b"")) or path_refusal(scope["path"])
            if refusal is not None:
                await self._refuse_input(send, refusal)
                self._observed(scope, started, 422)
                return
        received = 0
        refused_with = 0  # answered here (413, 408 or 422): what the app sends is dropped
        status = 500
        response_started = False
        # The body's deadline, while some of it is still to come (no timer for bodiless requests).
        deadline = (
            asyncio.get_running_loop().time() + self.body_timeout
            if body_expected and self.body_timeout
            else None
        )
        # The body as it arrives, kept only when it is one the edge checks (JSON or a form, not
        # on an ingestion path): a single-message body is the same bytes object, not a copy.
        parts: list[bytes] | None = [] if kind is not None else None

        async def limited_receive() -> Message:
            # Over the limit mid-stream, past the body's deadline, or the whole body read and
            # refused: answer ourselves and tell the app the client left, then drop whatever the
            # app still tries to send.
            nonlocal received, refused_with, deadline
            if refused_with:
                return {"type": "http.disconnect"}
            if deadline is None:
                message = await receive()
            else:
                try:
                    async with asyncio.timeout_at(deadline):
                        message = await receive()
                except TimeoutError:
                    refused_with = 408
                    if not response_started:
                        timeout = f"the request body did not arrive within {self.body_timeout:g} s"
                        await self._refuse(send, 408, error_body("request_timeout", timeout), close=True)
                    return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received += len(chunk)
                if not message.get("more_body", False):
                    deadline = None  # the body is complete: later receives wait for a disconnect
                if received > self.max_bytes:
                    refused_with = 413
                    if not response_started:
                        await self._refuse_too_large(send)
                    return {"type": "http.disconnect"}
                if parts is not None and kind is not None:
                    parts.append(chunk)
                    if not message.get("more_body", False):
                        refusal = body_refusal(kind, parts[0] if len(parts) == 1 else b"".join(parts))
                        parts.clear()
                        if refusal is not None:
                            refused_with = 422
                            if not response_started:
                                await self._refuse_input(send, refusal)
                            return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal status, response_started
            if refused_with:
                return
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        finally:
            self._observed(scope, started, refused_with or status)

    def _observed(self, scope: Scope, started: float, status: int) -> None:
        if self.observe is not None:
            route = getattr(scope.get("route"), "path", None) or "(unmatched)"
            self.observe(scope["method"], route, (time.perf_counter() - started) * 1000, status)

    async def _refuse_too_large(self, send: Send) -> None:
        body = error_body("payload_too_large", f"the request body exceeds {self.max_bytes} bytes")
        await self._refuse(send, 413, body)

    async def _refuse_input(self, send: Send, refusal: Refusal) -> None:
        await self._refuse(send, 422, refusal.body())

    @staticmethod
    async def _refuse(send: Send, status: int, error: dict[str, Any], *, close: bool = False) -> None:
        body = orjson.dumps(error)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if close:  # the server closes the connection once the answer is sent
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
