"""posthog-js's own files, served from the vendored copy in ``static/posthog-js/``.

PostHog's copy-paste snippet loads ``<api_host>/static/array.js``; posthog-js then loads its
lazy parts (``surveys.js``, ``web-vitals.js``, ``dead-clicks-autocapture.js`` ...) from
``<api_host>/static/<name>.js?v=<version>``, or from ``/static/<version>/<name>.js`` with
``strict_script_versioning``. Only the files in the folder exist: a name is looked up in a
dictionary built from the folder's listing, so no path from a request ever reaches the file
system (no traversal). Unknown files are a 404 in the JSON error shape, with CORS like every
answer the SDK sees.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from saaskit.kit.errors import error_body
from saaskit.tracking.endpoints.capture import cors_headers

FOLDER = Path(__file__).parent / "static" / "posthog-js"
VERSION = (FOLDER / "VERSION").read_text().strip()
# The unversioned names are what the snippet and posthog-js ask for (with ``?v=`` only as a
# cache buster): an hour, so that a saaskit upgrade reaches pages soon. The versioned path
# never changes content.
SHORT_CACHE = "public, max-age=3600"
IMMUTABLE = "public, max-age=31536000, immutable"
MEDIA_TYPE = "application/javascript; charset=utf-8"


@dataclass
class Asset:
    path: Path
    _body: bytes | None = field(default=None, repr=False)
    _gzipped: bytes | None = field(default=None, repr=False)
    etag: str = ""

    def body(self) -> bytes:
        # Read on first use (5 MB in all; most processes serve one or two of them).
        if self._body is None:
            self._body = self.path.read_bytes()
            self.etag = '"' + hashlib.sha256(self._body).hexdigest()[:32] + '"'
        return self._body

    @property
    def ready(self) -> bool:
        return self._gzipped is not None

    def gzipped(self) -> bytes:
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.body(), compresslevel=9, mtime=0)
        return self._gzipped


ASSETS: dict[str, Asset] = {p.name: Asset(p) for p in sorted(FOLDER.glob("*.js"))}

router = APIRouter(tags=["posthog-js files"])


def _not_found(request: Request, name: str) -> Response:
    return JSONResponse(
        error_body(
            "not_found",
            f"no such posthog-js file: {name[:200]!r} (saaskit serves posthog-js {VERSION}'s bundles)",
        ),
        status_code=404,
        headers=cors_headers(request),
    )


def _accepts_gzip(request: Request) -> bool:
    for part in request.headers.get("accept-encoding", "").lower().split(","):
        coding, *params = (p.strip() for p in part.split(";"))
        if coding == "gzip":
            return not any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params)
    return False


async def _serve(request: Request, name: str, cache: str) -> Response:
    asset = ASSETS.get(name)
    if asset is None:
        return _not_found(request, name)
    if not asset.ready:
        # Reading and compressing a bundle the first time takes up to ~0.2 s (array.full.js,
        # level 9): off the event loop, once per file and process.
        await asyncio.to_thread(asset.gzipped)
    body = asset.body()
    headers = {
        **cors_headers(request),
        "ETag": asset.etag,
        "Cache-Control": cache,
        "Vary": "Origin, Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
    }
    if asset.etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    if _accepts_gzip(request):
        body = asset.gzipped()
        headers["Content-Encoding"] = "gzip"
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return Response(status_code=200, headers=headers, media_type=MEDIA_TYPE)
    return Response(body, headers=headers, media_type=MEDIA_TYPE)


async def static_file(request: Request, name: str) -> Response:
    return await _serve(request, name, SHORT_CACHE)


async def versioned_file(request: Request, version: str, name: str) -> Response:
    if version != VERSION:
        return _not_found(request, f"{version}/{name}")
    return await _serve(request, name, IMMUTABLE)


async def anything_else(request: Request, rest: str) -> Response:
    """Deeper paths (``/static/a/b/c``, ``..`` segments sent encoded): the same JSON 404."""
    return _not_found(request, rest)


async def preflight(request: Request) -> Response:
    return Response(status_code=200, headers=cors_headers(request))


_JS: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/javascript": {}}, "description": "The file, unchanged from npm."}
}
# One route per method (unique operationIds, as capture does); HEAD stays out of the schema.
for _path, _endpoint, _summary in (
    ("/static/{name}", static_file, "A posthog-js browser bundle (array.js, surveys.js ...)"),
    ("/static/{version}/{name}", versioned_file, "A posthog-js bundle of this exact version"),
):
    for _method in ("GET", "HEAD"):
        router.add_api_route(
            _path,
            _endpoint,
            methods=[_method],
            include_in_schema=_method == "GET",
            summary=_summary,
            response_class=Response,
            responses=_JS,
        )
for _method in ("GET", "HEAD"):
    router.add_api_route("/static/{rest:path}", anything_else, methods=[_method], include_in_schema=False)
router.add_api_route("/static/{rest:path}", preflight, methods=["OPTIONS"], include_in_schema=False)
