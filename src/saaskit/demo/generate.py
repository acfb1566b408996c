"""A demo run, start to finish: refuse a database with users, generate and COPY every table,
finalize the derived columns, VACUUM ANALYZE, roll up every day of the span, ANALYZE the rollups.

Connections: the tables are written as the owner (like migrations: COPY into partitions being
built, ``session_replication_role``); the rollups run through the application role's runtime,
exactly as the hourly job does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from saaskit.demo import abuse as demo_abuse
from saaskit.demo import credits as demo_credits
from saaskit.demo import laundry as demo_laundry
from saaskit.demo import metering as demo_metering
from saaskit.demo import privacy as demo_privacy
from saaskit.demo.accounts import account_tables
from saaskit.demo.billing import Billing, build_billing
from saaskit.demo.config import DemoConfig
from saaskit.demo.copying import TableData, copy_table
from saaskit.demo.devices import Devices, build_devices
from saaskit.demo.experiments import build_flags
from saaskit.demo.finalize import apply_settings, finalize
from saaskit.demo.ledger import billing_tables, ensure_catalog
from saaskit.demo.parallel import write_partitions
from saaskit.demo.people import People, build_people
from saaskit.demo.plan import (
    DASHBOARD,
    LANDING,
    SIGNUP,
    SUBSCRIPTION,
    build_shared,
    check_activity_total,
    partition_units,
)
from saaskit.demo.presence import presence_tables
from saaskit.demo.progress import QuietReporter, Reporter
from saaskit.demo.rand import new_uuid, rng_for
from saaskit.demo.tenancy import build_tenancy
from saaskit.demo.usage import plan_usage
from saaskit.demo.visitors import landing_us, visitor_table
from saaskit.demo.webhooks import mark_failed_deliveries, webhook_table
from saaskit.insights.funnels import nightly
from saaskit.kit.db import libpq_url
from saaskit.kit.state import Runtime

logger = logging.getLogger(__name__)

FUNNEL_NAME = "Sign-up to subscription"
FUNNEL_STEPS = [
    {"name": "Visited", "event": "$pageview", "properties": {}},
    {"name": "Signed up", "event": "signup", "properties": {}},
    {"name": "Created a dashboard", "event": "dashboard_created", "properties": {}},
    {"name": "Started a subscription", "event": "subscription_started", "properties": {}},
]
# Every table the demo writes (the determinism test checksums them all).
TABLES = (
    "users",
    "user_profiles",
    "user_preferences",
    "organizations",
    "organization_members",
    "teams",
    "team_members",
    "workspaces",
    "workspace_members",
    "invitations",
    "subscription_plans",
    "subscriptions",
    "payment_methods",
    "invoices",
    "invoice_line_items",
    "payment_transactions",
    "stripe_webhook_events",
    "dashboards",
    "user_heartbeats",
    "user_sessions",
    "visitor_sessions",
    "conversion_funnels",
    "activity_events",
    "events",
    "page_views",
    "widget_analytics",
    "system_events",
    "error_logs",
    "performance_metrics",
    "feature_flags",
    "persons",
    "person_distinct_ids",
    "experiments",
    "experiment_assignments",
)


def _advance(reporter: Reporter, table: str) -> Callable[[int], None]:
    return lambda rows: reporter.advance(table, rows)


class DemoRefused(Exception):
    """The database already has users: the demo only fills an empty one."""


@dataclass
class DemoSummary:
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    triggers_off: bool = False
    # time-partitioned tables: rows and seconds spent producing + loading them (summed over processes)
    partitions: dict[str, tuple[int, float]] = field(default_factory=dict)
    abuse: demo_abuse.Report | None = None  # the trust scenario's precision and recall (config.abuse)


def user_count(connection: psycopg.Connection[tuple[object, ...]]) -> int:
    row = connection.execute("SELECT count(*) FROM (SELECT 1 FROM users LIMIT 1000) u").fetchone()
    return int(str(row[0])) if row else 0


def _replica_mode(connection: psycopg.Connection[tuple[object, ...]]) -> bool:
    """Skip foreign-key and counter triggers while loading (rows are generated consistent; the
    tests check every foreign key), when the owner may (a superuser, as the embedded one is)."""
    try:
        connection.execute("SET session_replication_role = replica")
    except psycopg.errors.InsufficientPrivilege:
        return False
    return True


def write_demo(owner_url: str, config: DemoConfig, reporter: Reporter) -> DemoSummary:
    """Generate and COPY every table, then finalize. Raises ``DemoRefused`` on a database with users."""
    started = time.perf_counter()
    summary = DemoSummary()
    with psycopg.connect(libpq_url(owner_url), autocommit=True) as connection:
        found = user_count(connection)
        if found:
            raise DemoRefused(
                f"the database already has {'1000+' if found >= 1000 else found} user(s): saaskit demo only "
                "fills an empty database (use a new SAASKIT_DATA_DIR or database)"
            )
        summary.triggers_off = _replica_mode(connection)
        cursor = connection.cursor()
        with connection.transaction():
            plans = ensure_catalog(cursor, config)
            reporter.note(
                f"generating {config.users:,} users over {config.days} days (seed {config.seed}) ..."
            )
            people = build_people(config)
            check_activity_total(config, people)  # before any row is written
            tenancy = build_tenancy(config, people)
            billing = build_billing(config, people, tenancy, plans)
            mark_failed_deliveries(config, billing)
            devices = build_devices(config, people, billing)
            usage = plan_usage(config, devices)
            tables: list[TableData] = [
                *account_tables(config, people, billing, devices),
                *tenancy.rows.tables(),
                *billing_tables(config, people, tenancy, billing),
                webhook_table(config, people, tenancy, billing),
                *presence_tables(config, people, devices, usage),
                visitor_table(config, people, tenancy),
            ]
            for data in tables:
                reporter.begin(data.table, data.expected)
                summary.rows[data.table] = copy_table(cursor, data, _advance(reporter, data.table))
                reporter.end(data.table)
            apply_settings(cursor, config)
            _insert_funnel(cursor, config)
        funnel = build_funnel(config, people, devices, billing)
        shared = build_shared(config, people, tenancy, devices, usage, funnel)
        units = partition_units(shared)
        summary.partitions = write_partitions(shared, owner_url, units, reporter, config.jobs)
        # Flags, persons and an experiment with their events: after the partitions exist, so the
        # events are routed into them (docs/demo.md).
        with connection.transaction():
            for data in build_flags(config, people, tenancy).tables():
                # The extra events get a bar of their own (the partitioned table's is the loaders').
                label = "events (flags, experiment)" if data.table == "events" else data.table
                reporter.begin(label, data.expected)
                summary.rows[label] = copy_table(cursor, data, _advance(reporter, label))
                reporter.end(label)
        reporter.begin("finalize", None)
        finalize(connection)
        reporter.end("finalize")
        if summary.triggers_off:
            connection.execute("SET session_replication_role = DEFAULT")
    if isinstance(reporter, QuietReporter):
        for table, timing in reporter.tables.items():
            summary.rows.setdefault(table, timing.rows)
    summary.seconds = time.perf_counter() - started
    return summary


def build_funnel(
    config: DemoConfig, people: People, devices: Devices, billing: Billing
) -> list[tuple[int, int, int]]:
    """(when, user, step) of every funnel step inside the span, in time order."""
    steps: list[tuple[int, int, int]] = []
    for user in range(people.first_in_span, people.count):
        steps.append((landing_us(config, people, user), user, LANDING))
        steps.append((people.created_us[user], user, SIGNUP))
    seen: set[int] = set()
    for d in range(devices.count):  # in registration order: the first is the user's first
        user = devices.user[d]
        if user not in seen:
            seen.add(user)
            if devices.created_us[d] >= config.start_us:
                steps.append((devices.created_us[d], user, DASHBOARD))
    first_sub: dict[int, int] = {}
    for sub in billing.subscriptions:
        if sub.user >= 0 and (sub.user not in first_sub or sub.started < first_sub[sub.user]):
            first_sub[sub.user] = sub.started
    steps.extend((at, user, SUBSCRIPTION) for user, at in first_sub.items() if at >= config.start_us)
    steps.sort()
    return steps


def _insert_funnel(cursor: psycopg.Cursor[tuple[object, ...]], config: DemoConfig) -> None:
    exists = cursor.execute("SELECT 1 FROM conversion_funnels WHERE name = %s", (FUNNEL_NAME,)).fetchone()
    if exists:
        return
    created = config.now.replace(hour=0, minute=0, second=0, microsecond=0)
    cursor.execute(
        "INSERT INTO conversion_funnels (id, name, description, steps, conversion_window_days, order_mode, "
        "created_at, updated_at) VALUES (%s, %s, %s, %s, 14, 'ordered', %s, %s)",
        (
            new_uuid(rng_for(config.seed, "funnel")),
            FUNNEL_NAME,
            "From a first visit to a first subscription, within two weeks.",
            Jsonb(FUNNEL_STEPS),
            created,
            created,
        ),
    )


async def roll_up(runtime: Runtime, first: date, last: date, reporter: Reporter) -> tuple[int, int]:
    from saaskit.insights.rollups import backfill

    passes = {phase: f"rollups ({phase})" for phase in (backfill.ACTIVITY_STEP, backfill.FIGURES_STEP)}
    for label in passes.values():
        reporter.begin(label, (last - first).days + 1)
    days, months = await backfill.roll_range(
        runtime,
        first,
        last,
        on_step=lambda phase, _: reporter.advance(passes[phase], 1),
        jobs=backfill.DEFAULT_JOBS,
    )
    for label in passes.values():
        reporter.end(label)
    return days, months


ROLLUP_TABLES = (
    "daily_metrics", "user_engagement_daily", "organization_metrics_daily", "activity_rollups_15m",
    "activity_rollups_daily", "activity_events_monthly", "events_monthly", "page_views_monthly",
    "widget_analytics_monthly", "system_events_monthly", "performance_metrics_monthly", "rollup_watermarks",
)  # fmt: skip


def analyze(owner_url: str, reporter: Reporter, tables: tuple[str, ...], step: str, *, vacuum: bool) -> None:
    """(VACUUM) ANALYZE: planner statistics, and visibility maps for index-only scans (the
    partitions were written frozen and need no vacuum)."""
    statement = "VACUUM (ANALYZE) {}" if vacuum else "ANALYZE {}"
    reporter.begin(step, len(tables))
    with psycopg.connect(libpq_url(owner_url), autocommit=True) as connection:
        for table in tables:
            connection.execute(sql.SQL(statement).format(sql.Identifier(table)))
            reporter.advance(step, 1)
    reporter.end(step)


async def build_demo(owner_url: str, runtime: Runtime, config: DemoConfig, reporter: Reporter) -> DemoSummary:
    """The whole run; COPY work happens in a thread (and worker processes), rollups on the loop."""
    started = time.perf_counter()
    summary = await asyncio.to_thread(write_demo, owner_url, config, reporter)
    # Statistics first: the rollups' per-day statements then get plans made for the real sizes.
    await asyncio.to_thread(analyze, owner_url, reporter, TABLES, "vacuum analyze", vacuum=True)
    await roll_up(runtime, config.first_day, config.last_day, reporter)
    # The saved funnel's progress, as the nightly job would have it (the Analytics page's range).
    await nightly.compute_active(runtime, config.now.date())
    await demo_privacy.add_requests(runtime)  # the admin's Privacy page shows pending requests
    await demo_credits.add_credits(runtime)  # credit ledgers and dunning cases (demo/credits.py)
    await demo_metering.add(runtime, config)  # meters and organization quotas (docs/billing.md)
    summary.rows["bookings"] = await demo_laundry.add_laundry(runtime, config)  # a laundry (docs/bookings.md)
    if config.abuse:  # the admin's trust queue shows farms, card testers, stuffing runs ...
        summary.abuse = await demo_abuse.add_to_demo(runtime, config.users)
    await asyncio.to_thread(analyze, owner_url, reporter, ROLLUP_TABLES, "analyze rollups", vacuum=False)
    summary.seconds = time.perf_counter() - started
    return summary
