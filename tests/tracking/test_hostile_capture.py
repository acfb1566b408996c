"""Hostile and malformed PostHog capture inputs, one parametrized list so they stay covered.

Each case is sent to the capture endpoints with a real ingestion key; the answer must be the
expected status (never a 500), and the organization's stored events exactly the expected ones:
the event kept (with PostHog's repairs) where it can be, nothing stored where it cannot.
Compression bombs have a test of their own below: it also watches the process's memory.
"""

from __future__ import annotations

import base64
import gzip
import re
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.tracking.conftest import Project, count

Send = Callable[[httpx.AsyncClient, str], Awaitable[httpx.Response]]
Check = Callable[[list[dict[str, Any]], list[dict[str, Any]]], None]

FIXED = datetime(2026, 1, 1, tzinfo=UTC)


def post(
    path: str,
    body: bytes,
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Send:
    """POST ``body`` with ``KEY`` replaced by the project's ingestion key (then gzipped, with
    ``Content-Encoding: gzip``)."""

    async def send(client: httpx.AsyncClient, key: str) -> httpx.Response:
        content = body.replace(b"KEY", key.encode())
        if (headers or {}).get("Content-Encoding") == "gzip":
            content = gzip.compress(content)
        return await client.post(path, content=content, params=params, headers=headers or {})

    return send


def batch(events: bytes) -> bytes:
    return b'{"api_key":"KEY","batch":[' + events + b"]}"


@dataclass(frozen=True)
class Hostile:
    name: str
    send: Send
    status: int
    stored: int
    check: Check | None = None


CASES = [
    # Encodings saaskit does not accept: refused, never guessed at.
    Hostile(
        "lz64",
        post(
            "/e/?compression=lz64", b"data=abc", headers={"Content-Type": "application/x-www-form-urlencoded"}
        ),
        400,
        0,
    ),
    Hostile("brotli", post("/batch", b"\x8b\x02\x80{}\x03", headers={"Content-Encoding": "br"}), 415, 0),
]


async def _stored(session: AsyncSession, org_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    events = await session.execute(
        text(
            "SELECT event_name, distinct_id, properties, timestamp FROM events "
            "WHERE organization_id = :o ORDER BY created_at"
        ),
        {"o": org_id},
    )
    pages = await session.execute(
        text("SELECT page_url, page_title, referrer FROM page_views WHERE organization_id = :o"),
        {"o": org_id},
    )
    return [dict(r._mapping) for r in events.all()], [dict(r._mapping) for r in pages.all()]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_hostile_capture_input(
    client: httpx.AsyncClient, session: AsyncSession, project: Project, case: Hostile
) -> None:
    response = await case.send(client, project.key)
    assert response.status_code == case.status, response.text
    if case.status == 200:
        assert response.json() == {"status": 1}
    else:
        assert response.json()["error"]["message"] and response.json()["detail"]
    events, pages = await _stored(session, project.org_id)
    assert len(events) == case.stored, events
    if case.check is not None:
        case.check(events, pages)


# -- 4. Compression bombs -------------------------------------------------------------------------

BOMB_BYTES = 256 * 1024 * 1024  # what a bomb in a request body expands to
QUERY_BOMB_BYTES = 40 * 1024 * 1024  # in a URL (?data=): URLs are limited to 64 KB
RSS_GROWTH_LIMIT = 64 * 1024 * 1024  # the decompression cap (20 MB by default) plus room


def _bomb_json(size: int, key: str) -> bytes:
    """``size`` bytes of valid JSON: a batch whose one property is a long run of spaces."""
    head = (
        b'{"api_key":"' + key.encode() + b'","batch":[{"event":"boom","distinct_id":"d","properties":{"p":"'
    )
    tail = b'"}}]}'
    return head + b" " * (size - len(head) - len(tail)) + tail


def _post(
    headers: dict[str, str] | None = None, params: dict[str, str] | None = None
) -> Callable[[bytes], dict[str, Any]]:
    return lambda bomb: {"content": bomb, "headers": headers or {}, "params": params or {}}


# (name, compression, size, how the request carries the compressed bytes)
BOMBS: list[tuple[str, str, int, Callable[[bytes], dict[str, Any]]]] = [
    ("gzip, Content-Encoding", "gzip", BOMB_BYTES, _post({"Content-Encoding": "gzip"})),
    ("gzip, sniffed", "gzip", BOMB_BYTES, _post({"Content-Type": "text/plain"})),
    ("gzip, ?compression=gzip-js", "gzip", BOMB_BYTES, _post(params={"compression": "gzip-js"})),
    ("deflate, Content-Encoding", "deflate", BOMB_BYTES, _post({"Content-Encoding": "deflate"})),
    ("base64 of gzip, body", "gzip", BOMB_BYTES, lambda b: {"content": base64.b64encode(b)}),
    (
        "base64 of gzip, GET ?data=",
        "gzip",
        QUERY_BOMB_BYTES,
        lambda b: {"params": {"data": base64.b64encode(b).decode()}},
    ),
]


def _resident_bytes(field: str) -> int:
    status = Path("/proc/self/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
    assert match, status
    return int(match.group(1)) * 1024


def _reset_peak() -> None:
    """Reset the process's peak RSS (VmHWM) to its current RSS (Linux: clear_refs)."""
    Path("/proc/self/clear_refs").write_text("5")


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc to read peak RSS")
@pytest.mark.parametrize(("name", "kind", "size", "request_of"), BOMBS, ids=[b[0] for b in BOMBS])
async def test_compression_bombs_are_refused_within_bounded_memory(
    client: httpx.AsyncClient,
    session: AsyncSession,
    project: Project,
    name: str,
    kind: str,
    size: int,
    request_of: Callable[[bytes], dict[str, Any]],
) -> None:
    payload = _bomb_json(size, project.key)
    bomb = zlib.compress(payload, 9) if kind == "deflate" else gzip.compress(payload, 9)
    del payload
    assert len(bomb) < 1024 * 1024, "the bomb fits under the request body limit"
    arguments = request_of(bomb)
    before = _resident_bytes("VmRSS")
    _reset_peak()
    if "content" in arguments:
        response = await client.post("/e/", **arguments)
    else:
        response = await client.get("/e/", **arguments)
    peak = _resident_bytes("VmHWM")
    assert response.status_code == 413, response.text
    assert "exceeds" in response.json()["error"]["message"]
    assert peak - before < RSS_GROWTH_LIMIT, f"{name}: the process grew by {(peak - before) >> 20} MB"
    assert (
        await count(session, "SELECT count(*) FROM events WHERE organization_id = :o", o=project.org_id) == 0
    )
