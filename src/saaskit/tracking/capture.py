"""The PostHog capture protocol (v0), so official PostHog SDKs send to saaskit unchanged.

Decoding follows PostHog's own capture service (rust/capture, v0): the payload comes from
``?data=`` or the body; a form body carries ``data`` and ``compression``; gzip is recognised by
hint (query, form, Content-Encoding) or by its magic bytes; base64 by hint or by its alphabet;
then one JSON document: a bare array, ``{"api_key"|"token", "batch": [...]}`` or one event.
lz64 (lz-string), used by posthog-js releases from before 2021 only, is refused with a 400.

Hostile input is repaired where PostHog repairs it and refused where it refuses it: NUL and lone
surrogates become U+FFFD (``sanitize``), times out of range fall back to the server's clock,
and every decompression stops at ``limit`` bytes (a compression bomb costs at most that much
memory before its 413).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import orjson

from saaskit.flags import persons
from saaskit.tracking.privacy import hash_ip_properties
from saaskit.tracking.sanitize import clean_strings, loads_leniently, may_hold_nul, storable

GZIP_MAGIC = b"\x1f\x8b\x08"
FORM = "application/x-www-form-urlencoded"
_B64 = re.compile(rb"^[A-Za-z0-9+/=]*$")
_B64_LOOSE = re.compile(rb"^[A-Za-z0-9+/= ]*$")
FUTURE_LIMIT = timedelta(hours=23)
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


class CaptureError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class CaptureRequest:
    token: str
    events: list[dict[str, Any]]  # normalised, ready for ingest.store_events
    received: int


def _compression(value: str | None) -> str | None:
    return {
        "gzip": "gzip",
        "x-gzip": "gzip",
        "gzip-js": "gzip",
        "lz64": "lz64",
        "lz-string": "lz64",
        "base64": "base64",
        "b64": "base64",
    }.get((value or "").strip().lower())


# Content-Encodings that compress but that saaskit does not decode: refused rather than parsed
# as if they were plain JSON. Any other value is ignored, as PostHog's capture ignores it.
UNSUPPORTED_ENCODINGS = frozenset({"br", "zstd", "compress", "x-compress"})


def _looks_like_form(raw: bytes) -> bool:
    head = raw[:128]
    return any(head.startswith(t) or (b"&" + t) in head for t in (b"data=", b"_=", b"ip=", b"compression="))


def _looks_like_b64(raw: bytes, *, loose: bool = False) -> bool:
    return bool(raw) and bool((_B64_LOOSE if loose else _B64).match(raw[:128])) and len(raw) % 4 == 0


def _inflate(payload: bytes, limit: int, *, wbits: int, name: str) -> bytes:
    """Decompress at most ``limit`` bytes: the output is never materialised past the cap, so a
    compression bomb costs ``limit`` bytes of memory, not what it would expand to."""
    decompressor = zlib.decompressobj(wbits=wbits)
    try:
        out = decompressor.decompress(payload, limit + 1)
    except zlib.error as exc:
        raise CaptureError(400, f"failed to decode request: invalid {name} data") from exc
    if len(out) > limit or decompressor.unconsumed_tail:
        raise CaptureError(413, f"the decompressed request exceeds {limit} bytes")
    if not decompressor.eof:
        raise CaptureError(400, f"failed to decode request: truncated {name} data")
    return out


def decode_payload(
    *, path: str, query: dict[str, str], content_type: str, content_encoding: str, body: bytes, limit: int
) -> Any:
    """The JSON document a PostHog SDK sent, whatever its encoding."""
    encoding = content_encoding.strip().lower()
    if encoding in UNSUPPORTED_ENCODINGS:
        raise CaptureError(415, f"Content-Encoding {encoding!r} is not supported: send gzip, deflate or none")
    raw = query["data"].encode() if query.get("data") else body
    if not raw:
        raise CaptureError(400, "request missing data payload")
    if not _looks_like_form(raw) and _looks_like_b64(raw):
        with contextlib.suppress(binascii.Error, ValueError):
            raw = base64.b64decode(raw, validate=True)
    form: dict[str, str] = {}
    if content_type == FORM:
        if not _looks_like_form(raw):
            raise CaptureError(400, "expected form data (data=...) in the request body")
        form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items()}
        if form.get("data") and _looks_like_b64(form["data"].encode(), loose=True):
            form["data"] = form["data"].replace(" ", "+")  # '+' became ' ' in URL decoding
    hint = (
        _compression(query.get("compression"))
        or _compression(form.get("compression"))
        or _compression(encoding)
    )
    payload = form["data"].encode() if form.get("data") is not None else raw
    if hint == "lz64":
        raise CaptureError(400, "lz64 compression (posthog-js before 2021) is not supported: update the SDK")
    if hint == "gzip" or payload.startswith(GZIP_MAGIC):
        payload = _inflate(payload, limit, wbits=31, name="gzip")
    elif encoding == "deflate":
        payload = _inflate(payload, limit, wbits=15, name="deflate")
    if len(payload) > limit:
        raise CaptureError(413, f"the request exceeds {limit} bytes")
    legacy = path.rstrip("/") in ("/e", "/capture", "/engage", "/track", "/i/v0/e")
    if (legacy or hint == "base64") and _looks_like_b64(payload):
        with contextlib.suppress(binascii.Error, ValueError):
            payload = base64.b64decode(payload, validate=True)
    return loads(payload)


def loads(payload: bytes) -> Any:
    """Parse with orjson; NUL characters (and, through the standard library, lone surrogates and
    numbers beyond the double range, which orjson refuses) are repaired as PostHog repairs them
    (``sanitize``)."""
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        reason = str(exc)
        if "surrogate in string" not in reason and "number is infinity" not in reason:
            raise CaptureError(400, f"failed to parse request: {reason}") from exc
        try:
            return loads_leniently(payload)
        except ValueError:
            raise CaptureError(400, f"failed to parse request: {reason}") from exc
    if b"\\" in payload and may_hold_nul(payload):  # the first test is a memchr: the hot path
        document = clean_strings(document)
    return document


def _parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time as UTC, or None when it is absent or is not one that PostgreSQL can
    store (PostHog ignores an unparseable time too, and falls back to the next rule)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        # +20:00 is valid ISO 8601 but out of PostgreSQL's range for an offset: store UTC.
        return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # not ISO 8601; or its UTC time is before year 1 / after 9999
        return None


def _query_sent_at(query: dict[str, str]) -> datetime | None:
    """posthog-js's cache buster ``?_=<milliseconds>`` (or ``sent_at``), when it is a plausible
    time (after 2020, like PostHog's capture: an earlier one is probably in seconds)."""
    raw = query.get("_") or query.get("sent_at") or ""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 15:  # 15 digits: year 33658
        return None
    try:
        moment = datetime.fromtimestamp(int(raw) / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return moment if moment.year > 2020 else None


def event_time(event: dict[str, Any], sent_at: datetime | None, now: datetime) -> datetime:
    """PostHog's rule: the client's timestamp corrected by the skew between its clock (sent_at)
    and ours, else now minus ``offset`` milliseconds, else now; never more than 23 hours in the
    future. A time out of range (year 1-9999, as both PostHog and PostgreSQL's ``timestamptz``
    inputs go) falls back to now."""
    timestamp = _parse_time(event.get("timestamp"))
    raw_properties = event.get("properties")
    properties: dict[str, Any] = raw_properties if isinstance(raw_properties, dict) else {}
    if properties.get("$ignore_sent_at") is True:
        sent_at = None
    try:
        if timestamp is not None:
            moment = now + (timestamp - sent_at) if sent_at is not None else timestamp
        else:
            offset = event.get("offset")
            if not isinstance(offset, int | float) or isinstance(offset, bool):
                return now
            moment = now - timedelta(milliseconds=offset)
    except (OverflowError, ValueError):  # beyond datetime's range (years 1-9999)
        return now
    return now if moment - now > FUTURE_LIMIT else moment


def _token_of(event: dict[str, Any]) -> Any:
    token = event.get("token", event.get("$token", event.get("api_key")))
    properties = event.get("properties")
    if token is None and isinstance(properties, dict):
        token = properties.get("token", properties.get("$token"))
    return token


def token_in(document: Any) -> tuple[str | None, int]:
    """A rejected request's key and event count, best effort (the junk-ingestion tally, docs/trust.md):
    the batch's token or the first event's, and how many events it held (1 if not a list)."""
    events: Any = document
    token: Any = None
    if isinstance(document, dict):
        events = document.get("batch", [document])
        token = document.get("token", document.get("api_key"))
    if not isinstance(events, list):
        events = [events]
    if token is None:
        token = next((_token_of(e) for e in events[:10] if isinstance(e, dict) and _token_of(e)), None)
    if not isinstance(token, str) or not token.strip() or len(token.strip()) > 64:
        return None, len(events)
    return token.strip(), max(1, len(events))


_CANONICAL_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _uuid_or_none(value: Any) -> str | None:
    if not value:
        return None
    if not isinstance(value, str):
        raise CaptureError(400, f"invalid uuid: a {type(value).__name__}, not a string")
    if _CANONICAL_UUID.match(value):
        return value  # what every SDK sends: no need to build a UUID object per event
    try:
        return str(uuid.UUID(value))
    except ValueError as exc:
        raise CaptureError(400, f"invalid uuid {value[:40]!r}") from exc


def parse(
    document: Any,
    *,
    path: str,
    query: dict[str, str],
    max_events: int,
    secret: str,
    now: datetime | None = None,
) -> CaptureRequest:
    """Validate the decoded document and normalise its events (PostHog's rules: one bad event
    fails the whole request with 400). More than ``max_events`` events: 413, before any work
    per event. ``secret`` keys the hash of the ``$ip`` / ``ip`` properties (never stored raw)."""
    now = now or datetime.now(UTC)
    batch_token: Any = None
    sent_at: datetime | None = None
    if isinstance(document, list):
        raw_events = document
    elif isinstance(document, dict) and "batch" in document:
        batch_token = document.get("token", document.get("api_key"))
        raw_events = document["batch"]
        sent_at = _parse_time(document.get("sent_at"))
    elif isinstance(document, dict) and "event" in document:
        raw_events = [document]
        sent_at = _parse_time(document.get("sent_at"))
    elif isinstance(document, dict) and path.startswith("/engage"):
        raw_events = [dict(document, event="$identify")]
    else:
        raise CaptureError(400, "failed to hydrate events from request")
    if not isinstance(raw_events, list) or not raw_events:
        raise CaptureError(400, "request holds no event")
    if len(raw_events) > max_events:
        raise CaptureError(
            413,
            f"the request holds {len(raw_events)} events, more than {max_events}: "
            "send them in several requests",
        )
    if not all(isinstance(e, dict) for e in raw_events):
        raise CaptureError(400, "every event must be a JSON object")
    raw_events = [e for e in raw_events if e.get("event") != "$performance_event"]
    if sent_at is None and query:
        sent_at = _query_sent_at(query)
    token = batch_token
    if token is None:
        tokens = {t if isinstance(t, str) else "" for t in map(_token_of, raw_events) if t is not None}
        if len(tokens) > 1:
            raise CaptureError(401, "batch submitted with inconsistent api_key values")
        token = tokens.pop() if tokens else None
    if not isinstance(token, str) or not token.strip() or len(token.strip()) > 64:
        raise CaptureError(401, "event submitted without a valid api_key")
    events = [normalise(e, sent_at, now, secret) for e in raw_events]
    return CaptureRequest(token=token.strip(), events=events, received=len(raw_events))


def _as_distinct_id(value: Any) -> str:
    """PostHog's rule: a string as is, anything else as its JSON text; at most 200 characters."""
    if isinstance(value, str):
        return value[:200]
    try:
        text = orjson.dumps(value)
    except orjson.JSONEncodeError:  # beyond 64 bits, or nested past the encoder's limit
        text = orjson.dumps(storable(value))
    return text.decode()[:200]


def normalise(event: dict[str, Any], sent_at: datetime | None, now: datetime, secret: str) -> dict[str, Any]:
    name = event.get("event")
    if not isinstance(name, str) or not name:
        raise CaptureError(400, "event submitted with an empty event name")
    raw_properties = event.get("properties")
    properties: dict[str, Any] = dict(raw_properties) if isinstance(raw_properties, dict) else {}
    distinct: Any = event.get("distinct_id", event.get("$distinct_id"))
    if distinct is None:
        distinct = properties.get("distinct_id")
    if distinct is None or distinct == "":
        raise CaptureError(400, "event submitted without a distinct_id")
    distinct_id = distinct[:200] if isinstance(distinct, str) else _as_distinct_id(distinct)
    for key in ("$set", "$set_once"):
        if isinstance(event.get(key), dict):
            earlier = properties.get(key)
            properties[key] = {**earlier, **event[key]} if isinstance(earlier, dict) else event[key]
    if "$ip" in properties or "ip" in properties:  # IP_PROPERTIES, spelled out: the hot path
        hash_ip_properties(properties, secret)
    normalised: dict[str, Any] = {
        "id": _uuid_or_none(event.get("uuid")),
        "timestamp": event_time(event, sent_at, now),
        "event_name": name[:200],
        "distinct_id": distinct_id,
        "session_id": _short(properties.get("$session_id")),
        "properties": properties,
    }
    for key in UTM_KEYS:
        value = properties.get(key)
        if value:
            normalised[key] = _short(value)
    if name == "$pageview" and isinstance(properties.get("$current_url"), str):
        normalised["page"] = {
            "url": properties["$current_url"],
            "title": _short(properties.get("title")),
            "referrer": _short(properties.get("$referrer")),
        }
    if name in ("$identify", "$create_alias", "$set"):
        normalised["identify"] = _identify_link(name, distinct_id, properties)
    if name in persons.EVENTS or "$set" in properties or "$set_once" in properties or "$unset" in properties:
        change = persons.person_update(name, distinct_id, properties)
        if change is not None:
            # Person properties are stored as events' are: repaired where PostHog repairs them.
            for part in ("set", "set_once"):
                if part in change:
                    change[part] = storable(change[part])
        normalised["person"] = change
    return normalised


def _short(value: Any, limit: int = 2000) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _identify_link(
    name: str, distinct_id: str, properties: dict[str, Any]
) -> tuple[list[str], dict[str, Any]]:
    """(distinct ids to link, hints naming the user): the ids of this person and how to find them.
    Hints are strings only: anything else cannot name a user."""
    ids = [distinct_id]
    for key in ("$anon_distinct_id", "alias"):
        if isinstance(properties.get(key), str) and properties[key]:
            ids.append(properties[key][:200])
    set_once, set_ = properties.get("$set_once"), properties.get("$set")
    person = {**(set_once if isinstance(set_once, dict) else {}), **(set_ if isinstance(set_, dict) else {})}
    hints = {
        "email": _text(person.get("email")) or _text(properties.get("email")),
        "user_id": _text(person.get("user_id")) or _text(properties.get("$user_id")) or distinct_id,
    }
    return ids, hints
