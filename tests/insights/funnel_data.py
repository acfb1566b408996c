"""Product events of a few thousand people for the funnel and retention tests.

Deterministic for a seed. People start near the instants that break naive date handling (UTC
and Paris midnights, month starts, the 2026-03-29 daylight-saving change, one microsecond either
side) and go on with gaps from nothing (equal timestamps) to weeks, so conversion windows end
on both sides of a step. Names follow the funnel's order often enough to convert, with other
events in between (strict-mode interruptions), repeated steps, property values as strings,
numbers and booleans, and events attributed to another organization than the person's.

``CRAFTED`` people exercise one edge each; the tests assert their progress by name.
"""

from __future__ import annotations

import random
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.db import SERVICE, set_context
from tests.factories import insert_rows

PARIS = ZoneInfo("Europe/Paris")
SPAN_START = datetime(2026, 1, 20, tzinfo=UTC)
SPAN_END = datetime(2026, 5, 10, tzinfo=UTC)
FUNNEL = ("visit", "signup", "activate", "purchase")
OTHER = ("open", "noise")
US = timedelta(microseconds=1)


@dataclass(frozen=True)
class Row:
    id: uuid.UUID
    timestamp: datetime
    user_id: uuid.UUID | None
    distinct_id: str | None
    organization_id: uuid.UUID | None
    event_name: str
    properties: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "timestamp": self.timestamp.isoformat(),
            "user_id": str(self.user_id) if self.user_id else None,
            "distinct_id": self.distinct_id,
            "organization_id": str(self.organization_id) if self.organization_id else None,
            "event_name": self.event_name,
            "properties": self.properties,
        }


@dataclass
class FunnelData:
    rows: list[Row]
    users: list[uuid.UUID]
    organizations: list[uuid.UUID]


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), zone).astimezone(UTC)


def edges() -> list[datetime]:
    """Every UTC and Paris midnight of the span, and the moment Paris moves its clocks."""
    found = [datetime(2026, 3, 29, 1, tzinfo=UTC)]
    day = SPAN_START.date()
    while day < SPAN_END.date():
        found += [local_midnight(day, ZoneInfo("UTC")), local_midnight(day, PARIS)]
        day += timedelta(days=1)
    return found


def _gap(rng: random.Random) -> timedelta:
    kind = rng.random()
    if kind < 0.08:
        return timedelta(0)
    if kind < 0.12:
        return US
    if kind < 0.40:
        return timedelta(seconds=rng.randint(1, 3600), microseconds=rng.randrange(1_000_000))
    if kind < 0.70:
        return timedelta(hours=rng.uniform(1, 30))
    if kind < 0.80:
        return rng.choice([timedelta(days=1), timedelta(days=3), timedelta(days=14)]) + rng.choice(
            [-US, 0 * US, US]
        )
    return timedelta(days=rng.uniform(1, 20))


def _properties(rng: random.Random) -> dict[str, Any]:
    props: dict[str, Any] = {}
    if rng.random() < 0.85:
        props["plan"] = rng.choice(["free", "pro", "team"])
    if rng.random() < 0.7:
        props["n"] = rng.choice([1, 2, 3, "2"])  # "2" matches the filter n=2 too (text comparison)
    if rng.random() < 0.5:
        props["beta"] = rng.choice([True, False, "true"])
    return props


def _next_name(rng: random.Random, stage: int) -> tuple[str, int]:
    roll = rng.random()
    if roll < 0.55 and stage + 1 < len(FUNNEL):
        return FUNNEL[stage + 1], stage + 1
    if roll < 0.72:
        return rng.choice(OTHER), stage
    if roll < 0.82:
        return "visit", 0
    name = rng.choice(FUNNEL + OTHER)
    return name, FUNNEL.index(name) if name in FUNNEL else stage


def generate(seed: int = 4, people: int = 3000) -> FunnelData:
    rng = random.Random(seed)
    users = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(people // 2)]
    organizations = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(2)]
    instants = edges()
    rows: list[Row] = []
    for p in range(people):
        user = users[p] if p < len(users) else None
        distinct = f"anon-{p}" if user is None or rng.random() < 0.5 else None
        home = rng.choice([*organizations, None])
        if rng.random() < 0.4:
            at = rng.choice(instants) + rng.choice([-US, 0 * US, 0 * US, US])
        else:
            at = SPAN_START + (SPAN_END - SPAN_START) * rng.random()
        name, stage = ("visit", 0) if rng.random() < 0.8 else (rng.choice(FUNNEL + OTHER), 0)
        for _ in range(rng.randint(1, 14)):
            org = home if rng.random() < 0.9 else rng.choice([*organizations, None])
            rows.append(
                Row(uuid.UUID(int=rng.getrandbits(128)), at, user, distinct, org, name, _properties(rng))
            )
            at += _gap(rng)
            name, stage = _next_name(rng, stage)
    rows += crafted()
    return FunnelData(rows=rows, users=users, organizations=organizations)


T0 = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _person(who: str, *events: tuple[timedelta, str, int] | tuple[timedelta, str]) -> list[Row]:
    """Anonymous person ``crafted-<who>``: (offset from T0, event name[, id as a number])."""
    out = []
    for i, event in enumerate(events):
        offset, name = event[0], event[1]
        number = event[2] if len(event) == 3 else zlib.crc32(who.encode()) * 1000 + i + 10**30
        out.append(
            Row(uuid.UUID(int=number), T0 + offset, None, f"crafted-{who}", None, name, {"plan": "pro"})
        )
    return out


def crafted() -> list[Row]:
    return [
        # Signup exactly one window (14 days) after the visit: too late; a microsecond earlier: in.
        *_person("window-out", (0 * DAY, "visit"), (14 * DAY, "signup")),
        *_person("window-in", (0 * DAY, "visit"), (14 * DAY - US, "signup")),
        # Strict: another event between visit and signup ends the attempt; ordered does not care.
        *_person("strict-broken", (0 * DAY, "visit"), (DAY, "open"), (2 * DAY, "signup")),
        *_person("strict-ok", (0 * DAY, "visit"), (DAY, "signup"), (2 * DAY, "open"), (3 * DAY, "activate")),
        # Equal timestamps: the event id orders them. Signup first (smaller id): not after the visit.
        *_person("tie-before", (0 * DAY, "visit", 2 * 10**30), (0 * DAY, "signup", 1 * 10**30)),
        *_person("tie-after", (0 * DAY, "visit", 3 * 10**30), (0 * DAY, "signup", 4 * 10**30)),
        # Any order: purchase, then signup, then visit, activate two weeks later (outside 14 days).
        *_person(
            "any-order", (0 * DAY, "purchase"), (DAY, "signup"), (2 * DAY, "visit"), (14 * DAY, "activate")
        ),
        # Entering exactly at Paris midnight of 2026-03-01 (2026-02-28 23:00 UTC), and exactly at
        # Paris midnight of 2026-04-01: in and out of [2026-03-01, 2026-04-01) in Paris.
        *[
            Row(
                uuid.UUID(int=7 * 10**30),
                local_midnight(date(2026, 3, 1), PARIS),
                None,
                "crafted-mar-1",
                None,
                "visit",
                {},
            ),
            Row(
                uuid.UUID(int=8 * 10**30),
                local_midnight(date(2026, 4, 1), PARIS),
                None,
                "crafted-apr-1",
                None,
                "visit",
                {},
            ),
        ],
    ]


async def insert(session: AsyncSession, data: FunnelData) -> None:
    await set_context(session, SERVICE)
    users = [{"id": str(u), "email": f"funnel-{u}@example.com"} for u in data.users]
    await insert_rows(session, "users", "id uuid, email text", users)
    organizations = [
        {"id": str(o), "name": f"Funnel org {i}", "slug": f"funnel-org-{o}"}
        for i, o in enumerate(data.organizations)
    ]
    await insert_rows(session, "organizations", "id uuid, name text, slug text", organizations)
    for offset in range(0, len(data.rows), 20_000):
        await insert_rows(
            session,
            "events",
            "id uuid, timestamp timestamptz, user_id uuid, distinct_id text, organization_id uuid, "
            "event_name text, properties jsonb",
            [row.as_json() for row in data.rows[offset : offset + 20_000]],
        )
