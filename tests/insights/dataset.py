"""A small analytics dataset for the insights tests, inserted with plain SQL.

Deterministic for a seed, relative to a fixed ``now``. Activity clusters around the instants
that break naive statistics: UTC and local midnights, month starts, daylight-saving changes and
the last minutes before ``now`` (the unrolled tail). Subscriptions cover every state the
definitions distinguish, including live ones whose end has passed (the expiry job has not run)
and users with both an expired and a live subscription.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.db import SERVICE, set_context

EVENT_TYPES = ("login", "signup", "app_open", "action")
PLANS = ("Basic", "Pro", "Team")
ZONES = ("UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu")


@dataclass
class Dataset:
    now: datetime
    users: list[uuid.UUID]
    organizations: list[uuid.UUID]
    first_day: datetime
    members: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)


def _boundaries(now: datetime, days: int) -> list[datetime]:
    """Local midnights and month starts in every test zone, and the DST changes, over the span."""
    found: list[datetime] = []
    for name in ZONES:
        zone = ZoneInfo(name)
        local = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
        for back in range(days):
            day = (local - timedelta(days=back)).replace(tzinfo=None)
            found.append(day.replace(tzinfo=zone).astimezone(UTC))  # month starts are among them
    for instant in ("2026-03-29T01:00:00+00:00", "2026-10-25T01:00:00+00:00", "2026-03-08T07:00:00+00:00"):
        moment = datetime.fromisoformat(instant)
        if now - timedelta(days=days) < moment < now:
            found.append(moment)
    return found


async def build(
    session: AsyncSession,
    *,
    now: datetime,
    seed: int = 7,
    users: int = 600,
    events: int = 12_000,
    days: int = 200,
) -> Dataset:
    rng = random.Random(seed)
    await set_context(session, SERVICE)
    first_day = (now - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)

    def moment_between(lo: datetime, hi: datetime) -> datetime:
        return lo + (hi - lo) * rng.random()

    user_ids = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(users)]
    user_rows = []
    for i, user_id in enumerate(user_ids):
        created = moment_between(now - timedelta(days=days + 60), now - timedelta(minutes=1))
        user_rows.append(
            {
                "id": str(user_id),
                "email": f"insights-{seed}-{i}@example.com",
                "created_at": created.isoformat(),
                "country_code": rng.choice(["FR", "US", "DE", "IN", None]),
                "deleted_at": (now - timedelta(days=rng.randint(1, 30))).isoformat()
                if rng.random() < 0.04
                else None,
                "last_seen_at": moment_between(now - timedelta(days=60), now).isoformat(),
            }
        )
    await _insert(
        session,
        "users",
        "id uuid, email text, created_at timestamptz, country_code text, deleted_at timestamptz, "
        "last_seen_at timestamptz",
        user_rows,
    )

    organizations = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(4)]
    await _insert(
        session,
        "organizations",
        "id uuid, name text, slug text",
        [{"id": str(o), "name": f"Org {i}", "slug": f"org-{seed}-{i}"} for i, o in enumerate(organizations)],
    )
    members: dict[uuid.UUID, list[uuid.UUID]] = {o: [] for o in organizations}
    member_rows = []
    for user_id in user_ids:
        for org in rng.sample(organizations, k=rng.choice([0, 0, 1, 1, 1, 2])):
            active = rng.random() > 0.1
            member_rows.append(
                {
                    "organization_id": str(org),
                    "user_id": str(user_id),
                    "role": rng.choice(["member", "admin", "viewer"]),
                    "is_active": active,
                    "joined_at": moment_between(now - timedelta(days=days), now).isoformat(),
                }
            )
            if active:
                members[org].append(user_id)
    await _insert(
        session,
        "organization_members",
        "organization_id uuid, user_id uuid, role text, is_active boolean, joined_at timestamptz",
        member_rows,
    )

    subscriptions = []
    for user_id in user_ids:
        for kind in rng.choice(
            [
                [],
                [],
                ["active"],
                ["trialing"],
                ["expired"],
                ["cancelled"],
                ["overdue"],
                ["past_due"],
                ["expired", "active"],
                ["expired", "overdue"],
                ["active_open"],
            ]
        ):
            subscriptions.append(_subscription(rng, now, kind, user_id=user_id))
    for org in organizations:
        for kind in rng.sample(["active", "expired", "overdue", "cancelled", "trialing"], k=3):
            subscriptions.append(_subscription(rng, now, kind, organization_id=org))
    await _insert(
        session,
        "subscriptions",
        "user_id uuid, organization_id uuid, plan_name text, tier text, status text, started_at timestamptz, "
        "ends_at timestamptz, trial_start timestamptz, trial_end timestamptz",
        subscriptions,
    )

    heartbeats = []
    for user_id in user_ids:
        roll = rng.random()
        if roll < 0.15:
            heartbeats.append(
                {
                    "user_id": str(user_id),
                    "last_seen_at": (now - timedelta(seconds=rng.randint(0, 290))).isoformat(),
                }
            )
        elif roll < 0.5:
            heartbeats.append(
                {
                    "user_id": str(user_id),
                    "last_seen_at": (now - timedelta(minutes=rng.randint(6, 5000))).isoformat(),
                }
            )
    await _insert(session, "user_heartbeats", "user_id uuid, last_seen_at timestamptz", heartbeats)

    visitors = []
    for i in range(1500):
        seen = moment_between(now - timedelta(days=3), now)
        if i % 10 == 0:
            seen = now - timedelta(seconds=rng.randint(0, 299))
        visitors.append(
            {
                "session_id": f"visitor-{seed}-{i:05d}",
                "organization_id": str(rng.choice(organizations)) if rng.random() < 0.4 else None,
                "first_seen_at": (seen - timedelta(minutes=rng.randint(0, 300))).isoformat(),
                "last_seen_at": seen.isoformat(),
            }
        )
    await _insert(
        session,
        "visitor_sessions",
        "session_id text, organization_id uuid, first_seen_at timestamptz, last_seen_at timestamptz",
        visitors,
    )

    boundaries = [b for b in _boundaries(now, days) if b > first_day]
    activity = []
    for _ in range(events):
        roll = rng.random()
        if roll < 0.5:
            at = moment_between(first_day, now)
        elif roll < 0.9:
            at = rng.choice(boundaries) + timedelta(seconds=rng.randint(-1200, 1200))
        else:
            at = now - timedelta(seconds=rng.randint(0, 1800))
        at = min(at, now - timedelta(microseconds=1))
        event_type = rng.choice(EVENT_TYPES)
        activity.append(
            {
                "created_at": at.isoformat(),
                "user_id": str(rng.choice(user_ids)) if rng.random() < 0.97 else None,
                "event_type": event_type,
                "action_name": rng.choice(["add_widget", "change_theme", "share"])
                if event_type == "action"
                else None,
            }
        )
    await _insert(
        session,
        "activity_events",
        "created_at timestamptz, user_id uuid, event_type text, action_name text",
        activity,
    )
    return Dataset(now=now, users=user_ids, organizations=organizations, first_day=first_day, members=members)


def _subscription(
    rng: random.Random,
    now: datetime,
    kind: str,
    *,
    user_id: uuid.UUID | None = None,
    organization_id: uuid.UUID | None = None,
) -> dict[str, object]:
    started = now - timedelta(days=rng.randint(20, 300))
    future = now + timedelta(days=rng.randint(1, 200))
    past = now - timedelta(days=rng.randint(1, 19))
    status, ends_at = {
        "active": ("active", future),
        "active_open": ("active", None),
        "trialing": ("trialing", now + timedelta(days=rng.randint(1, 14))),
        "past_due": ("past_due", future),
        "overdue": (
            rng.choice(["active", "trialing", "past_due"]),
            now - timedelta(minutes=rng.randint(1, 3000)),
        ),
        "expired": ("expired", past),
        "cancelled": ("cancelled", past),
    }[kind]
    plan = rng.choice(PLANS)
    return {
        "user_id": str(user_id) if user_id else None,
        "organization_id": str(organization_id) if organization_id else None,
        "plan_name": plan,
        "tier": plan.lower(),
        "status": status,
        "started_at": started.isoformat(),
        "ends_at": ends_at.isoformat() if ends_at else None,
        "trial_start": started.isoformat() if status == "trialing" else None,
        "trial_end": ends_at.isoformat() if status == "trialing" and ends_at else None,
    }


async def _insert(session: AsyncSession, table: str, columns: str, rows: list[dict[str, object]]) -> None:
    """One INSERT per table: the rows travel as one JSON document."""
    if not rows:
        return
    names = ", ".join(part.split()[0] for part in columns.split(", "))
    await session.execute(
        text(
            f"INSERT INTO {table} ({names}) SELECT {names} "
            f"FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r({columns})"
        ),
        {"rows": orjson.dumps(rows).decode()},
    )
