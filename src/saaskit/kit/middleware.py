"""The edge of every request: one pure ASGI middleware (no per-request task or body copy, as
BaseHTTPMiddleware would make) that refuses oversized bodies and times the request.

One layer rather than one per concern: on the hot paths each ASGI layer is a measurable share of
a request's cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from saaskit.kit.errors import error_body

# (method, route template or "(unmatched)", duration in ms, status)
RequestObserver = Callable[[str, str, float, int], None]


class Edge:
    def __init__(self, app: ASGIApp, max_bytes: int, observe: RequestObserver | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
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
        received = 0
        refused = False
        status = 500

        async def limited_receive() -> Message:
            # Over the limit mid-stream: answer 413 ourselves and tell the app the client left,
            # then drop whatever the app still tries to send.
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    if status == 500:
                        await self._refuse_too_large(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal status
            if refused:
                return
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        finally:
            if self.observe is not None:
                route = getattr(scope.get("route"), "path", None) or "(unmatched)"
                self.observe(
                    scope["method"], route, (time.perf_counter() - started) * 1000, 413 if refused else status
                )

    async def _refuse_too_large(self, send: Send) -> None:
        await self._refuse(send, 413, "payload_too_large", f"the request body exceeds {self.max_bytes} bytes")

    @staticmethod
    async def _refuse(send: Send, status: int, code: str, message: str) -> None:
        body = orjson.dumps(error_body(code, message))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
