"""The edge of every request: one pure ASGI middleware (no per-request task or body copy, as
BaseHTTPMiddleware would make) that refuses oversized bodies and times the request.

One layer rather than one per concern: on the hot paths each ASGI layer is a measurable share of
a request's cost.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from saaskit.kit.errors import error_body

# (method, route template or "(unmatched)", duration in ms, status)
RequestObserver = Callable[[str, str, float, int], None]


class Edge:
    """``max_bytes``: the largest body (413 above). ``body_timeout``: seconds after the headers
    by which the whole body must have arrived; a client still sending then (a half-sent
    request, whether slow or abandoned) is answered 408 and disconnected, so it cannot hold a
    connection and a task forever."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        observe: RequestObserver | None = None,
        body_timeout: float | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.observe = observe
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        body_expected = False
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._refuse(send, 400, "bad_request", "Content-Length is not a number")
                    return
                if declared > self.max_bytes:
                    await self._refuse_too_large(send)
                    return
                body_expected = declared > 0
            elif name == b"transfer-encoding":
                body_expected = True
        received = 0
        refused = False  # answered here (413 or 408): what the app sends is dropped
        refused_status = 413
        status = 500
        response_started = False
        # The body's deadline, while some of it is still to come (no timer for bodiless requests).
        deadline = (
            asyncio.get_running_loop().time() + self.body_timeout
            if body_expected and self.body_timeout
            else None
        )

        async def limited_receive() -> Message:
            # Over the limit mid-stream: answer 413 ourselves and tell the app the client left,
            # then drop whatever the app still tries to send. Past the body's deadline: 408.
            nonlocal received, refused, refused_status, deadline
            if refused:
                return {"type": "http.disconnect"}
            if deadline is None:
                message = await receive()
            else:
                try:
                    async with asyncio.timeout_at(deadline):
                        message = await receive()
                except TimeoutError:
                    refused, refused_status = True, 408
                    if not response_started:
                        await self._refuse(
                            send,
                            408,
                            "request_timeout",
                            f"the request body did not arrive within {self.body_timeout:g} s",
                            close=True,
                        )
                    return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if not message.get("more_body", False):
                    deadline = None  # the body is complete: later receives wait for a disconnect
                if received > self.max_bytes:
                    refused = True
                    if not response_started:
                        await self._refuse_too_large(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal status, response_started
            if refused:
                return
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        finally:
            if self.observe is not None:
                route = getattr(scope.get("route"), "path", None) or "(unmatched)"
                self.observe(
                    scope["method"],
                    route,
                    (time.perf_counter() - started) * 1000,
                    refused_status if refused else status,
                )

    async def _refuse_too_large(self, send: Send) -> None:
        await self._refuse(send, 413, "payload_too_large", f"the request body exceeds {self.max_bytes} bytes")

    @staticmethod
    async def _refuse(send: Send, status: int, code: str, message: str, *, close: bool = False) -> None:
        body = orjson.dumps(error_body(code, message))
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if close:  # the server closes the connection once the answer is sent
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
