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

from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.db import SERVICE, set_context
from tests.factories import insert_rows

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
    await insert_rows(
        session,
        "users",
        "id uuid, email text, created_at timestamptz, country_code text, deleted_at timestamptz, "
        "last_seen_at timestamptz",
        user_rows,
    )

    organizations = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(4)]
    await insert_rows(
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
    await insert_rows(
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
    await insert_rows(
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
    await insert_rows(session, "user_heartbeats", "user_id uuid, last_seen_at timestamptz", heartbeats)

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
    await insert_rows(
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
    await insert_rows(
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


async def build_usage(session: AsyncSession, data: Dataset, *, seed: int = 9) -> None:
    """Devices, usage sessions, page views, widget events, product events, trial conversions
    (invoices), system events and metrics for ``data``'s users: what the daily and monthly
    rollups read."""
    rng = random.Random(seed)
    now = data.now

    def moment() -> datetime:
        at = data.first_day + (now - data.first_day) * rng.random()
        return min(at, now - timedelta(seconds=1))

    dashboards = []
    for user_id in data.users[: len(data.users) // 2]:
        dashboards.append(
            {"id": str(uuid.UUID(int=rng.getrandbits(128))), "user_id": str(user_id), "device_name": "TV"}
        )
    await insert_rows(session, "dashboards", "id uuid, user_id uuid, device_name text", dashboards)
    sessions = []
    open_on: set[str] = set()  # one open usage session per device at most
    for _ in range(3000):
        dash = rng.choice(dashboards)
        started = moment()
        ended: datetime | None = started + timedelta(minutes=rng.randint(1, 600))
        if (rng.random() < 0.1 or ended > now) and dash["id"] not in open_on:
            ended = None
            open_on.add(dash["id"])
        elif ended > now:
            ended = now
        sessions.append(
            {
                "user_id": dash["user_id"],
                "dashboard_id": dash["id"],
                "session_type": "usage",
                "started_at": started.isoformat(),
                "ended_at": ended.isoformat() if ended else None,
            }
        )
    await insert_rows(
        session,
        "user_sessions",
        "user_id uuid, dashboard_id uuid, session_type text, started_at timestamptz, ended_at timestamptz",
        sessions,
    )
    organizations = [str(o) for o in data.organizations]
    pages, events = [], []
    for i in range(4000):
        user = rng.choice(data.users) if rng.random() < 0.8 else None
        org = rng.choice(organizations) if rng.random() < 0.6 else None
        at = moment().isoformat()
        pages.append(
            {
                "viewed_at": at,
                "organization_id": org,
                "user_id": str(user) if user else None,
                "session_id": f"s{rng.randrange(900)}",
                "page_url": f"https://tv.example.com/{rng.randrange(9)}",
                "bounce": rng.random() < 0.3,
                "load_time_ms": rng.randint(50, 3000),
            }
        )
        events.append(
            {
                "timestamp": at,
                "organization_id": org,
                "user_id": str(user) if user else None,
                "distinct_id": f"anon-{i % 700}",
                "event_name": rng.choice(["$pageview", "signed_up", "dashboard_created", "widget_added"]),
            }
        )
    await insert_rows(
        session,
        "page_views",
        "viewed_at timestamptz, organization_id uuid, user_id uuid, session_id text, page_url text, "
        "bounce boolean, load_time_ms int",
        pages,
    )
    await insert_rows(
        session,
        "events",
        "timestamp timestamptz, organization_id uuid, user_id uuid, distinct_id text, event_name text",
        events,
    )
    widgets = [
        {
            "timestamp": (now - timedelta(seconds=rng.randint(1, 29 * 86400))).isoformat(),
            "user_id": str(rng.choice(data.users)),
            "widget_type": rng.choice(["clock", "weather", "calendar"]),
            "event_type": rng.choice(["view", "click", "configure"]),
            "duration_seconds": rng.randint(0, 120),
        }
        for _ in range(2000)
    ]
    await insert_rows(
        session,
        "widget_analytics",
        "timestamp timestamptz, user_id uuid, widget_type text, event_type text, duration_seconds int",
        widgets,
    )
    # Trials that ended on a random day: paid afterwards (a conversion), or not.
    trials, invoices = [], []
    for i in range(300):
        user = rng.choice(data.users)
        trial_end = moment()
        subscription = str(uuid.UUID(int=rng.getrandbits(128)))
        trials.append(
            {
                "id": subscription,
                "user_id": str(user),
                "plan_name": "Pro",
                "tier": "pro",
                "status": "active",
                "started_at": (trial_end - timedelta(days=14)).isoformat(),
                "ends_at": (trial_end + timedelta(days=30)).isoformat(),
                "trial_start": (trial_end - timedelta(days=14)).isoformat(),
                "trial_end": trial_end.isoformat(),
            }
        )
        paid_at = trial_end + timedelta(seconds=rng.choice([-60, 1, 3600]))
        invoices.append(
            {
                "stripe_invoice_id": f"in_test_{seed}_{i}",
                "status": "paid",
                "user_id": str(user),
                "organization_id": None,
                "subscription_id": subscription,
                "amount_paid_cents": rng.choice([0, 900, 2900]),
                "paid_at": paid_at.isoformat(),
            }
        )
    for i, org in enumerate(organizations):
        invoices.append(
            {
                "stripe_invoice_id": f"in_org_{seed}_{i}",
                "status": "paid",
                "user_id": None,
                "organization_id": org,
                "subscription_id": None,
                "amount_paid_cents": 4900,
                "paid_at": moment().isoformat(),
            }
        )
    await insert_rows(
        session,
        "subscriptions",
        "id uuid, user_id uuid, plan_name text, tier text, status text, started_at timestamptz, "
        "ends_at timestamptz, trial_start timestamptz, trial_end timestamptz",
        trials,
    )
    await insert_rows(
        session,
        "invoices",
        "stripe_invoice_id text, status text, user_id uuid, organization_id uuid, subscription_id uuid, "
        "amount_paid_cents int, paid_at timestamptz",
        invoices,
    )
    await insert_rows(
        session,
        "system_events",
        "created_at timestamptz, event_type text, severity text, message text, app_version text, user_id uuid",
        [
            {
                "created_at": moment().isoformat(),
                "event_type": rng.choice(["crash", "api_error"]),
                "severity": rng.choice(["error", "critical"]),
                "message": "boom",
                "app_version": rng.choice(["1.2.0", "1.3.0", None]),
                "user_id": str(rng.choice(data.users)),
            }
            for _ in range(500)
        ],
    )
    await insert_rows(
        session,
        "performance_metrics",
        "timestamp timestamptz, metric_name text, metric_type text, value float8",
        [
            {
                "timestamp": moment().isoformat(),
                "metric_name": "http_request_duration_ms",
                "metric_type": "timer",
                "value": rng.random() * 100,
            }
            for _ in range(500)
        ],
    )
