"""posthog-js's files at /static/: the vendored copy is byte for byte the npm package's (checked
against the package's own SHA-384 list), served as JavaScript with ETag, caching, gzip and CORS;
anything else, traversal attempts included, is a JSON 404 that names no file of the server."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json

import httpx

from saaskit.flags.assets import ASSETS, FOLDER, VERSION
from tests.tracking.conftest import make_project

ORIGIN = {"Origin": "https://shop.example.com"}


def _sri(body: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()


async def test_every_vendored_file_is_the_npm_packages_and_served_as_javascript(
    client: httpx.AsyncClient,
) -> None:
    integrity = json.loads((FOLDER / "integrity.json").read_text())
    assert integrity["version"] == VERSION
    # What posthog-js 1.449 loads from /static/: the snippet's array.js and its lazy parts.
    needed = {
        "array.js",
        "array.full.js",
        "surveys.js",
        "web-vitals.js",
        "dead-clicks-autocapture.js",
        "exception-autocapture.js",
        "lazy-recorder.js",
        "tracing-headers.js",
        "product-tours.js",
        "conversations.js",
        "logs.js",
    }
    assert needed <= set(ASSETS), needed - set(ASSETS)
    assert (FOLDER / "LICENSE").read_text().count("Apache License") >= 1
    for name in sorted(ASSETS):
        response = await client.get(
            f"/static/{name}?v={VERSION}", headers={**ORIGIN, "Accept-Encoding": "identity"}
        )
        assert response.status_code == 200, name
        assert _sri(response.content) == integrity["files"][name], f"{name} differs from npm's"
        assert response.headers["content-type"] == "application/javascript; charset=utf-8"
        assert response.headers["cache-control"] == "public, max-age=3600"
        assert response.headers["access-control-allow-origin"] == ORIGIN["Origin"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "content-encoding" not in response.headers


async def test_etag_gzip_head_and_the_versioned_path(client: httpx.AsyncClient) -> None:
    plain = (FOLDER / "array.js").read_bytes()
    first = await client.get("/static/array.js", headers={"Accept-Encoding": "gzip, br"})
    assert first.status_code == 200
    assert first.headers["content-encoding"] == "gzip"
    assert first.content == plain  # httpx undoes the gzip
    assert int(first.headers["content-length"]) < len(plain) / 3
    etag = first.headers["etag"]
    again = await client.get("/static/array.js", headers={"If-None-Match": etag, **ORIGIN})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["access-control-allow-origin"] == ORIGIN["Origin"]
    other = await client.get("/static/array.js", headers={"If-None-Match": '"something else"'})
    assert other.status_code == 200
    refused = await client.get("/static/array.js", headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers and refused.content == plain
    head = await client.head("/static/surveys.js", headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == (FOLDER / "surveys.js").stat().st_size
    versioned = await client.get(f"/static/{VERSION}/web-vitals.js")
    assert versioned.status_code == 200 and versioned.content == (FOLDER / "web-vitals.js").read_bytes()
    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
    older = await client.get("/static/1.0.0/web-vitals.js", headers=ORIGIN)
    assert older.status_code == 404 and older.json()["error"]["code"] == "not_found"
    preflight = await client.options(
        "/static/array.js", headers={**ORIGIN, "Access-Control-Request-Method": "GET"}
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN["Origin"]


async def test_unknown_files_and_traversal_are_json_404s(client: httpx.AsyncClient) -> None:
    secret_bits = (b"[project]", b"import ", b"Apache License", b"SAASKIT_")
    for path in (
        "/static/toolbar.js",  # served by PostHog's app, not in the npm package
        "/static/array.js.map",
        "/static/module.js",  # an ES module: not a browser bundle
        "/static/LICENSE",
        "/static/VERSION",
        "/static/README.md",
        "/static/integrity.json",
        "/static/",
        "/static/a/b/c.js",
        "/static/%2e%2e/%2e%2e/%2e%2e/pyproject.toml",
        "/static/..%2F..%2F..%2Fpyproject.toml",
        "/static/..%2Fassets.py",
        "/static/..%5Cassets.py",
        f"/static/{VERSION}/..%2F..%2Fassets.py",
        "/static/%2Fetc%2Fpasswd",
    ):
        response = await client.get(path, headers=ORIGIN)
        assert response.status_code == 404, (path, response.status_code)
        assert response.headers["content-type"].startswith("application/json"), path
        assert response.json()["error"]["code"] == "not_found", path
        assert response.headers["access-control-allow-origin"] == ORIGIN["Origin"], path
        assert not any(bit in response.content for bit in secret_bits), path
    # A NUL in the path never gets this far: the edge refuses it for every path (kit/inputs.py).
    nul = await client.get("/static/array.js%00.txt")
    assert nul.status_code == 422 and b"Apache" not in nul.content
    # A long name is cut in the message, not echoed whole.
    long = await client.get("/static/" + "a" * 5000 + ".js")
    assert long.status_code == 404 and len(long.content) < 600
    # The gzip of a file is made once and kept.
    assert ASSETS["array.js"].gzipped() is ASSETS["array.js"].gzipped()
    assert gzip.decompress(ASSETS["array.js"].gzipped()) == (FOLDER / "array.js").read_bytes()


async def test_array_js_with_the_remote_config_for_the_newer_snippet(client: httpx.AsyncClient) -> None:
    project = await make_project(client)
    bundle = await client.get(f"/array/{project.key}/array.js", headers=ORIGIN)
    assert bundle.status_code == 200
    assert bundle.headers["content-type"] == "application/javascript; charset=utf-8"
    assert bundle.headers["access-control-allow-origin"] == ORIGIN["Origin"]
    assert bundle.headers["cache-control"] == "public, max-age=60"
    config, _, library = bundle.content.partition(b"\n")
    assert (
        config.startswith(b"(function(){window._POSTHOG_REMOTE_CONFIG")
        and b'"sessionRecording":false' in config
    )
    assert project.key.encode() in config
    assert library == (FOLDER / "array.js").read_bytes()
    unknown = await client.get("/array/phc_unknown/array.js", headers=ORIGIN)
    assert unknown.status_code == 404 and unknown.headers["access-control-allow-origin"] == ORIGIN["Origin"]
