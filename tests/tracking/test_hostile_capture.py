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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.tracking.sanitize import MAX_DEPTH, TOO_DEEP
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


def one(extra: bytes = b"", properties: bytes = b"{}") -> bytes:
    """A batch of one event named ``hostile`` with ``extra`` top-level fields."""
    return batch(b'{"event":"hostile","distinct_id":"d-1","properties":' + properties + extra + b"}")


def near_now(moment: datetime) -> bool:
    return abs(moment - datetime.now(UTC)) < timedelta(minutes=2)


def stored_at(expected: datetime) -> Check:
    def check(events: list[dict[str, Any]], pages: list[dict[str, Any]]) -> None:
        assert events[0]["timestamp"] == expected

    return check


def at_server_time(events: list[dict[str, Any]], pages: list[dict[str, Any]]) -> None:
    assert near_now(events[0]["timestamp"]), events[0]["timestamp"]


def properties_are(expected: dict[str, Any]) -> Check:
    def check(events: list[dict[str, Any]], pages: list[dict[str, Any]]) -> None:
        assert events[0]["properties"] == expected

    return check


def nul_replaced(events: list[dict[str, Any]], pages: list[dict[str, Any]]) -> None:
    (event,) = events
    assert event["event_name"] == "sign\ufffdup" and event["distinct_id"] == "d\ufffd"
    assert event["properties"] == {
        "k\ufffd": "v\ufffd",
        "deep": {"list": ["\ufffd", {"x\ufffdy": 1}]},
        "$set": {"name": "a\ufffd"},
    }


def nul_in_page(events: list[dict[str, Any]], pages: list[dict[str, Any]]) -> None:
    assert [(p["page_url"], p["page_title"], p["referrer"]) for p in pages] == [
        ("https://a.example/\ufffd", "T\ufffd", "https://r.example/\ufffd")
    ]


def surrogates_replaced(events: list[dict[str, Any]], pages: list[dict[str, Any]]) -> None:
    (event,) = events
    assert event["event_name"] == "\ufffd" and event["distinct_id"] == "d\ufffd\ufffd"
    assert event["properties"] == {"\ufffd": "x\ufffdy", "pair": "\U0001f600", "n": "\ufffd\u0041"}


def deep_cut(events: list[dict[str, Any]], pages: list[dict[str, Any]]) -> None:
    node: Any = events[0]["properties"]["deep"]
    levels = 0
    while isinstance(node, list):
        node = node[0]
        levels += 1
    # The row is [ {properties: {deep: ...}} ]: three levels above "deep".
    assert node == TOO_DEEP and levels == MAX_DEPTH - 3, levels
    assert events[0]["properties"]["shallow"] == 1


def nested(levels: int) -> bytes:
    return b"[" * levels + b"0" + b"]" * levels


MANY = 5001  # one more than SAASKIT_TRACKING_MAX_EVENTS_PER_REQUEST's default
TINY = b'{"event":"e","distinct_id":"d"}'
# 25 KB of gzip holding 330,506 events (10 MB of JSON: under the decompressed-size limit; the
# report behind this test saw 57 KB of gzip become 330,506 events).
EVENT_FLOOD = gzip.compress(batch(b",".join([TINY] * 330_506)), 9)


@dataclass(frozen=True)
class Hostile:
    name: str
    send: Send
    status: int
    stored: int
    check: Check | None = None


CASES = [
    # 1. NUL anywhere: kept, replaced by U+FFFD (PostHog does the same).
    Hostile(
        "nul in name, distinct_id, keys and nested values",
        post(
            "/batch",
            batch(
                b'{"event":"sign\\u0000up","distinct_id":"d\\u0000","properties":'
                b'{"k\\u0000":"v\\u0000","deep":{"list":["\\u0000",{"x\\u0000y":1}]},'
                b'"$set":{"name":"a\\u0000"}}}'
            ),
        ),
        200,
        1,
        nul_replaced,
    ),
    Hostile(
        "nul in $identify ids and e-mail",
        post(
            "/batch",
            batch(
                b'{"event":"$identify","distinct_id":"u\\u0000","properties":'
                b'{"$anon_distinct_id":"anon\\u0000","$set":{"email":"who\\u0000@example.com"}}}'
            ),
        ),
        200,
        1,
    ),
    Hostile(
        "nul in a $pageview's url, title and referrer",
        post(
            "/e/",
            batch(
                b'{"event":"$pageview","distinct_id":"d","properties":{"$current_url":'
                b'"https://a.example/\\u0000","title":"T\\u0000","$referrer":"https://r.example/\\u0000"}}'
            ),
        ),
        200,
        1,
        nul_in_page,
    ),
    Hostile(
        "nul in a gzip-compressed body",
        post(
            "/batch",
            one(properties=b'{"k":"\\u0000"}'),
            headers={"Content-Encoding": "gzip"},
        ),
        200,
        1,
        properties_are({"k": "\ufffd"}),
    ),
    # Lone surrogates: orjson and PostgreSQL refuse them; PostHog replaces them by U+FFFD.
    Hostile(
        "lone surrogates in name, distinct_id, keys and values",
        post(
            "/batch",
            batch(
                b'{"event":"\\ud800","distinct_id":"d\\udc00\\udbff","properties":'
                b'{"\\udbff":"x\\udc00y","pair":"\\ud83d\\ude00","n":"\\ud800\\u0041"}}'
            ),
        ),
        200,
        1,
        surrogates_replaced,
    ),
    Hostile(
        "lone surrogate and NUL in a single event (/e)",
        post("/e", b'{"api_key":"KEY","event":"x\\ud800\\u0000","distinct_id":"d"}'),
        200,
        1,
    ),
    # 2. Numbers beyond 64 bits: kept (as doubles; beyond the double range as strings).
    # (rounded to a double: PostgreSQL shows the double's shortest decimal, 1.8446744073709552e19)
    Hostile(
        "integer 2^64",
        post("/batch", one(properties=b'{"n":18446744073709551616}')),
        200,
        1,
        properties_are({"n": 18446744073709552000}),
    ),
    Hostile(
        "integer -2^63-1",
        post("/batch", one(properties=b'{"n":-9223372036854775809,"list":[-9223372036854775809]}')),
        200,
        1,
        properties_are({"n": -9223372036854776000, "list": [-9223372036854776000]}),
    ),
    Hostile(
        "integer 2^64 with a lone surrogate (the standard library's parser)",
        post("/batch", one(properties=b'{"n":18446744073709551616,"s":"\\udfff"}')),
        200,
        1,
        properties_are({"n": 18446744073709552000, "s": "\ufffd"}),
    ),
    Hostile(
        "largest 64-bit integers stay exact",
        post("/batch", one(properties=b'{"u":18446744073709551615,"i":-9223372036854775808}')),
        200,
        1,
        properties_are({"u": 2**64 - 1, "i": -(2**63)}),
    ),
    Hostile(
        "integer of 400 digits",
        post("/batch", one(properties=b'{"n":1' + b"0" * 400 + b"}")),
        200,
        1,
        properties_are({"n": "1" + "0" * 400}),
    ),
    Hostile(
        "number beyond the double range",
        post("/batch", one(properties=b'{"n":1e400,"m":-2.5E+999}')),
        200,
        1,
        properties_are({"n": "1e400", "m": "-2.5E+999"}),
    ),
    Hostile(
        "integer of 400 digits as distinct_id",
        post("/batch", batch(b'{"event":"e","distinct_id":1' + b"0" * 400 + b"}")),
        200,
        1,
    ),
    # JSON nested deeper than the encoder's limit: kept, the deep part cut.
    Hostile(
        "properties nested 300 levels",
        post("/batch", one(properties=b'{"shallow":1,"deep":' + nested(300) + b"}")),
        200,
        1,
        deep_cut,
    ),
    Hostile(
        "nested 300 levels with a lone surrogate",
        post("/batch", one(properties=b'{"shallow":1,"s":"\\ud800","deep":' + nested(300) + b"}")),
        200,
        1,
        deep_cut,
    ),
    Hostile(
        "distinct_id nested 300 levels",
        post("/batch", batch(b'{"event":"e","distinct_id":' + nested(300) + b"}")),
        200,
        1,
    ),
    Hostile(
        "$identify e-mail nested 1,000 levels",
        post(
            "/batch",
            batch(
                b'{"event":"$identify","distinct_id":"d","properties":{"$set":{"email":'
                + nested(1000)
                + b"}}}"
            ),
        ),
        200,
        1,
    ),
    Hostile(
        "nested deeper than any JSON parser here allows",
        post("/batch", one(properties=nested(5000))),
        400,
        0,
    ),
    # Fields of the wrong type where PostHog expects an object or a string.
    Hostile(
        "api_key an object", post("/capture", b'[{"event":"e","distinct_id":"d","api_key":{"a":1}}]'), 401, 0
    ),
    Hostile(
        "api_key objects in a bare array",
        post(
            "/capture", b'[{"event":"e","distinct_id":"d","api_key":["KEY"]},{"event":"f","distinct_id":"d"}]'
        ),
        401,
        0,
    ),
    Hostile(
        "$set beside a properties.$set that is not an object",
        post("/batch", one(b',"$set":{"a":1}', b'{"$set":"oops"}')),
        200,
        1,
        properties_are({"$set": {"a": 1}}),
    ),
    Hostile(
        "$identify whose $set is a list",
        post("/batch", batch(b'{"event":"$identify","distinct_id":"d","properties":{"$set":[1]}}')),
        200,
        1,
    ),
    Hostile("uuid a number", post("/batch", one(b',"uuid":12345')), 400, 0),
    Hostile("uuid nested 1,000 levels", post("/batch", one(b',"uuid":' + nested(1000))), 400, 0),
    # 3. Times out of range: PostHog's rules (clamp, fall back to the server's time).
    Hostile(
        "sent_at year 1, timestamp year 9999",
        post(
            "/batch",
            b'{"api_key":"KEY","sent_at":"0001-01-01T00:00:00Z","batch":[{"event":"e","distinct_id":"d",'
            b'"timestamp":"9999-12-31T23:59:59Z"}]}',
        ),
        200,
        1,
        at_server_time,
    ),
    Hostile(
        "sent_at year 9999, timestamp year 1",
        post(
            "/batch",
            b'{"api_key":"KEY","sent_at":"9999-12-31T23:59:59Z","batch":[{"event":"e","distinct_id":"d",'
            b'"timestamp":"0001-01-01T00:00:00Z"}]}',
        ),
        200,
        1,
        at_server_time,
    ),
    Hostile("offset 1e20", post("/batch", one(b',"offset":1e20')), 200, 1, at_server_time),
    Hostile("offset -1e20", post("/batch", one(b',"offset":-1e20')), 200, 1, at_server_time),
    Hostile("offset of 400 digits", post("/batch", one(b',"offset":1' + b"0" * 400)), 200, 1, at_server_time),
    Hostile(
        "?_=9999999999999999 (posthog-js cache buster out of range)",
        post("/e/", one(b',"timestamp":"2026-01-01T00:00:00Z"'), params={"_": "9999999999999999"}),
        200,
        1,
        stored_at(FIXED),
    ),
    Hostile(
        "?_= with 30 digits",
        post("/e/", one(b',"timestamp":"2026-01-01T00:00:00Z"'), params={"_": "9" * 30}),
        200,
        1,
        stored_at(FIXED),
    ),
    Hostile(
        "?_= with non-ASCII digits",
        post("/e/", one(b',"timestamp":"2026-01-01T00:00:00Z"'), params={"_": "\u0663\u0663"}),
        200,
        1,
        stored_at(FIXED),
    ),
    Hostile(
        "timestamp at UTC+20:00",
        post("/batch", one(b',"timestamp":"2026-01-01T20:00:00+20:00"')),
        200,
        1,
        stored_at(FIXED),
    ),
    Hostile(
        "timestamp at UTC-15:30",
        post("/batch", one(b',"timestamp":"2025-12-31T08:30:00-15:30"')),
        200,
        1,
        stored_at(FIXED),
    ),
    Hostile(
        "timestamp whose UTC time is past year 9999",
        post("/batch", one(b',"timestamp":"9999-12-31T23:00:00-05:00"')),
        200,
        1,
        at_server_time,
    ),
    Hostile(
        "timestamp whose UTC time is before year 1",
        post("/batch", one(b',"timestamp":"0001-01-01T00:00:00+01:00"')),
        200,
        1,
        at_server_time,
    ),
    Hostile(
        "timestamp year 10000",
        post("/batch", one(b',"timestamp":"10000-01-01T00:00:00Z"')),
        200,
        1,
        at_server_time,
    ),
    Hostile("timestamp not a time", post("/batch", one(b',"timestamp":"yesterday"')), 200, 1, at_server_time),
    Hostile(
        "sent_at not a time (ignored)",
        post(
            "/batch",
            b'{"api_key":"KEY","sent_at":"soon","batch":[{"event":"e","distinct_id":"d",'
            b'"timestamp":"2026-01-01T00:00:00Z"}]}',
        ),
        200,
        1,
        stored_at(FIXED),
    ),
    # 5. Too many events in one request: 413, nothing stored.
    Hostile("one event more than allowed", post("/batch", batch(b",".join([TINY] * MANY))), 413, 0),
    Hostile(
        "25 KB of gzip holding 330,506 events",
        post("/batch", EVENT_FLOOD, headers={"Content-Type": "text/plain"}),
        413,
        0,
    ),
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
