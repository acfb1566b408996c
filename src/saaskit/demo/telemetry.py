"""Health data: devices' system events (crashes by app version), application errors, and
saaskit's own request latency per route and minute.

Crashes follow the versions' adoption at the time times their crash rate (``devices.VERSIONS``),
so older versions crash more per device; a device's crash counters are computed from these rows
(``finalize.py``). Windows follow retention: system events 90 days, errors 180; latency the last week.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

import orjson

from saaskit.demo.binary import (
    NULL,
    UUID_LEN,
    blocks,
    bool_field,
    float8_field,
    jsonb_field,
    text_field,
    ts_field,
    tuple_bytes,
)
from saaskit.demo.config import DAY_US, HOUR_US, MINUTE_US
from saaskit.demo.devices import VERSIONS, user_agent
from saaskit.demo.plan import Shared
from saaskit.demo.rand import HOURLY, DaySampler, cumulative, rng_for, weighted

# event type, severity, message, weight
SYSTEM_EVENTS = (
    ("crash", "critical", "The app stopped unexpectedly", 30),
    ("widget_error", "error", "A widget failed to render", 25),
    ("api_error", "warning", "A request to saaskit failed and was retried", 20),
    ("heartbeat_gap", "warning", "No heartbeat could be sent for several minutes", 10),
    ("update_installed", "info", "The app updated itself", 15),
)
SYSTEM_TABLE = cumulative([e[3] for e in SYSTEM_EVENTS])
# error type, code, message, weight
ERRORS = (
    ("user_error", "VALIDATION_FAILED", "A field was missing or malformed", 30),
    ("user_error", "PHOTO_TOO_LARGE", "The photo exceeds 20 MB", 12),
    ("user_error", "CALENDAR_AUTH_EXPIRED", "The calendar connection needs to be renewed", 10),
    ("system_error", "WEATHER_API_429", "The weather provider rate-limited us", 18),
    ("system_error", "CALENDAR_SYNC_TIMEOUT", "Calendar sync timed out after 30 s", 14),
    ("system_error", "DB_TIMEOUT", "A database statement timed out", 6),
    ("model_error", "SUMMARY_FAILED", "The news summary could not be generated", 10),
)
ERROR_TABLE = cumulative([e[3] for e in ERRORS])
# method, route, median latency in ms, share of traffic
ROUTES = (
    ("POST", "/api/heartbeat", 12.0, 40),
    ("POST", "/api/events/batch", 25.0, 15),
    ("POST", "/api/track-visit", 8.0, 15),
    ("POST", "/capture/", 20.0, 12),
    ("GET", "/api/dashboards", 15.0, 10),
    ("GET", "/api/version-check", 6.0, 5),
    ("POST", "/api/auth/login", 180.0, 2),
    ("GET", "/api/admin/stats", 18.0, 1),
)
BLOCK_ROWS = 20_000


def _uuid(rng: random.Random) -> bytes:
    raw = bytearray(rng.getrandbits(128).to_bytes(16, "big"))
    raw[6], raw[8] = (raw[6] & 0x0F) | 0x40, (raw[8] & 0x3F) | 0x80
    return UUID_LEN + bytes(raw)


def _normal(rng: random.Random) -> float:
    return math.sqrt(-2.0 * math.log(1.0 - rng.random())) * math.cos(2 * math.pi * rng.random())


def _version(shared: Shared, rng: random.Random, at: int, crashy: bool) -> int:
    """A version running at ``at``: adoption (newest 60%, previous 25%, older 15%), times the
    crash rate when the event is a failure."""
    now = shared.config.now_us
    released = [i for i, (_, days, _) in enumerate(VERSIONS) if now - days * DAY_US <= at] or [0]
    newest = released[-1]
    weights = [0.15 / max(1, newest - 1)] * (newest + 1)
    weights[newest] = 0.6
    if newest:
        weights[newest - 1] = 0.25
    if crashy:
        weights = [w * VERSIONS[i][2] for i, w in enumerate(weights)]
    return weighted(rng, cumulative(weights))


def system_blocks(shared: Shared, days: list[int]) -> Iterator[tuple[bytes, int]]:
    return blocks(_system_rows(shared, days), BLOCK_ROWS)


def _system_rows(shared: Shared, days: list[int]) -> Iterator[bytes]:
    config, devices, people = shared.config, shared.devices, shared.people
    orgs = shared.org_fields()
    for day in days:
        rng = rng_for(config.seed, "system-events", day)
        sampler = DaySampler(shared.day_start(day), config.now_us)
        for t in sorted(sampler.draw(rng) for _ in range(shared.system_counts.get(day, 0))):
            existing = devices.existing(t)
            if not existing:
                continue
            device = int(rng.random() * existing)
            kind, severity, message, _ = SYSTEM_EVENTS[weighted(rng, SYSTEM_TABLE)]
            if kind == "crash" and rng.random() < 0.3:
                severity = "error"
            version = _version(shared, rng, t, kind in ("crash", "widget_error"))
            user = devices.user[device]
            org = shared.tenancy.primary[user]
            details = {"code": f"E{100 + int(rng.random() * 40)}", "build": VERSIONS[version][0]}
            if kind == "crash":
                details["stack"] = "at Dashboard.render (main.js:1042)\nat Scheduler.tick (vendor.js:88)"
            resolved = None
            if severity != "info" and config.now_us - t > 3 * DAY_US and rng.random() < 0.4:
                resolved = min(config.now_us - MINUTE_US, t + HOUR_US + int(rng.random() * 3 * DAY_US))
            fields = (
                _uuid(rng),
                ts_field(t),
                UUID_LEN + people.raw(user),
                orgs[org] if org >= 0 and shared.tenancy.primary_since_us[user] <= t else NULL,
                UUID_LEN + devices.raw(device),
                text_field(kind),
                text_field(severity),
                text_field(message),
                jsonb_field(orjson.dumps(details)),
                text_field(user_agent(devices, device)),
                text_field(VERSIONS[version][0]),
                ts_field(resolved),
            )
            yield tuple_bytes(fields, 12)


def error_blocks(shared: Shared, days: list[int]) -> Iterator[tuple[bytes, int]]:
    return blocks(_error_rows(shared, days), BLOCK_ROWS)


def _error_rows(shared: Shared, days: list[int]) -> Iterator[bytes]:
    config, people = shared.config, shared.people
    orgs = shared.org_fields()
    for day in days:
        rng = rng_for(config.seed, "error-logs", day)
        sampler = DaySampler(shared.day_start(day), config.now_us)
        for t in sorted(sampler.draw(rng) for _ in range(shared.error_counts.get(day, 0))):
            existing = people.existing(t)
            user = int(rng.random() * existing) if existing and rng.random() < 0.8 else -1
            error_type, code, message, _ = ERRORS[weighted(rng, ERROR_TABLE)]
            version = _version(shared, rng, t, error_type == "system_error")
            stack = (
                "Traceback (most recent call last):\n  ...\nTimeoutError"
                if error_type == "system_error"
                else None
            )
            context = {"route": ROUTES[int(rng.random() * len(ROUTES))][1]}
            resolved = config.now_us - t > 2 * DAY_US and rng.random() < 0.3
            resolved_at = min(config.now_us - MINUTE_US, t + HOUR_US + int(rng.random() * 5 * DAY_US))
            if user >= 0:
                org = shared.tenancy.primary[user]
                user_field = UUID_LEN + people.raw(user)
                org_field = orgs[org] if org >= 0 and shared.tenancy.primary_since_us[user] <= t else NULL
            else:
                user_field = org_field = NULL
            fields = (
                _uuid(rng),
                ts_field(t),
                user_field,
                org_field,
                text_field(error_type),
                text_field(code),
                text_field(message),
                text_field(stack),
                text_field(VERSIONS[version][0]),
                jsonb_field(orjson.dumps(context)),
                bool_field(resolved),
                ts_field(resolved_at if resolved else None),
            )
            yield tuple_bytes(fields, 12)


def metric_blocks(shared: Shared, days: list[int]) -> Iterator[tuple[bytes, int]]:
    return blocks(_metric_rows(shared, days), BLOCK_ROWS)


def _metric_rows(shared: Shared, days: list[int]) -> Iterator[bytes]:
    """One row per route and minute with traffic: p95 as the value, the rest in tags (the shape
    ``tracking.latency`` writes)."""
    config = shared.config
    scale = max(0.05, config.users / 1000)
    mean_hourly = sum(HOURLY) / len(HOURLY)
    name, kind, unit = text_field("http_request_duration_ms"), text_field("timer"), text_field("ms")
    for day in days:
        rng = rng_for(config.seed, "metrics", day)
        start = shared.day_start(day)
        minute = start
        while minute < min(start + DAY_US, config.now_us - MINUTE_US):
            hour = (minute - start) // HOUR_US
            for method, route, median, share in ROUTES:
                expected = scale * share * HOURLY[hour] / mean_hourly
                count = int(expected * (0.6 + 0.8 * rng.random()) + rng.random())
                if count == 0:
                    continue
                p50 = median * math.exp(0.15 * _normal(rng))
                p95, p99 = p50 * (2.2 + rng.random()), p50 * (4 + 3 * rng.random())
                errors = int(count * 0.002 + rng.random() * 0.3) if route != "/api/admin/stats" else 0
                tags = {
                    "route": route,
                    "method": method,
                    "count": count,
                    "errors": errors,
                    "p50": round(p50, 2),
                    "p99": round(p99, 2),
                    "max": round(p99 * 1.3, 2),
                    "mean": round(p50 * 1.2, 2),
                }
                fields = (
                    _uuid(rng),
                    ts_field(minute),
                    name,
                    kind,
                    float8_field(round(p95, 2)),
                    unit,
                    jsonb_field(orjson.dumps(tags)),
                )
                yield tuple_bytes(fields, 7)
            minute += MINUTE_US
