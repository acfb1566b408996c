"""The demo's tables agree with each other: foreign keys, counters, presence, billing, partitions,
and the columns that summarise other tables."""

from __future__ import annotations

from typing import Any

import psycopg

from saaskit.demo.config import from_us
from saaskit.demo.generate import TABLES
from saaskit.kit.db import libpq_url
from saaskit.tracking.partitions import SPECS
from tests.demo.conftest import DAYS, BuiltDemo


def rows(demo: BuiltDemo, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(libpq_url(demo.db.owner_url)) as conn:
        found = conn.execute(sql, params).fetchall()  # type: ignore[call-overload]
        conn.rollback()
    return list(found)


def one(demo: BuiltDemo, sql: str, *params: Any) -> Any:
    return rows(demo, sql, *params)[0][0]


FOREIGN_KEYS = """
SELECT c.conrelid::regclass::text, c.confrelid::regclass::text,
       array_agg(a.attname ORDER BY k.i), array_agg(f.attname ORDER BY k.i)
FROM pg_constraint c
CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(col, fcol, i)
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.col
JOIN pg_attribute f ON f.attrelid = c.confrelid AND f.attnum = k.fcol
WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace AND c.conparentid = 0
GROUP BY c.oid, c.conrelid, c.confrelid
"""


def test_every_foreign_key_holds(demo: BuiltDemo) -> None:
    """The load may skip the foreign-key triggers: check every constraint with one anti-join."""
    broken = {}
    for child, parent, columns, referenced in rows(demo, FOREIGN_KEYS):
        present = " AND ".join(f"c.{col} IS NOT NULL" for col in columns)
        match = " AND ".join(f"p.{ref} = c.{col}" for col, ref in zip(columns, referenced, strict=True))
        missing = one(
            demo,
            f"SELECT count(*) FROM {child} c WHERE {present} AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {match})",
        )
        if missing:
            broken[f"{child}({', '.join(columns)}) -> {parent}"] = missing
    assert broken == {}


def test_stats_counters_equal_a_recount(demo: BuiltDemo) -> None:
    state = "SELECT counter, dimension, value FROM stats_counters WHERE value <> 0 ORDER BY 1, 2"
    days = "SELECT counter, dimension, day, value FROM stats_day_counters WHERE value <> 0 ORDER BY 1, 2, 3"
    users = (
        "SELECT id, subscription_live_until, has_expired_subscription, subscription_first_end FROM users "
        "ORDER BY id"
    )
    with psycopg.connect(libpq_url(demo.db.owner_url)) as conn:
        kept = conn.execute(state).fetchall(), conn.execute(users).fetchall(), conn.execute(days).fetchall()
        conn.execute("SELECT app_rebuild_stats_counters()")
        recounted = (
            conn.execute(state).fetchall(),
            conn.execute(users).fetchall(),
            conn.execute(days).fetchall(),
        )
        conn.rollback()
    assert kept == recounted
    assert {c: v for c, _, v in kept[0]}["users"] == one(demo, "SELECT count(*) FROM users")


def test_users_tier_and_limit_follow_their_newest_entitled_subscription(demo: BuiltDemo) -> None:
    wrong = one(
        demo,
        """
        SELECT count(*) FROM users u
        LEFT JOIN LATERAL (
            SELECT s.tier, p.limits FROM subscriptions s JOIN subscription_plans p ON p.id = s.plan_id
            WHERE s.user_id = u.id AND s.status IN ('trialing', 'active', 'past_due')
            ORDER BY s.started_at DESC LIMIT 1) e ON true
        WHERE u.tier <> coalesce(e.tier, 'free')
           OR u.max_dashboards <> coalesce((e.limits->>'max_dashboards')::int, 1)
        """,
    )
    assert wrong == 0
    over_limit = one(
        demo,
        "SELECT count(*) FROM (SELECT u.id FROM users u JOIN dashboards d ON d.user_id = u.id "
        "GROUP BY u.id, u.max_dashboards HAVING count(*) > u.max_dashboards) x",
    )
    assert over_limit == 0
    statuses = dict(rows(demo, "SELECT status, count(*) FROM subscriptions GROUP BY status"))
    assert (
        {"trialing", "active", "cancelled", "expired"}
        <= set(statuses)
        <= {"trialing", "active", "past_due", "cancelled", "expired"}
    )
    assert (
        one(demo, "SELECT count(*) FROM subscriptions WHERE num_nonnulls(user_id, organization_id) <> 1") == 0
    )


def test_money_adds_up(demo: BuiltDemo) -> None:
    # total_spent_cents: the user's succeeded payments minus refunds.
    assert (
        one(
            demo,
            """
            SELECT count(*) FROM users u LEFT JOIN (
                SELECT user_id, sum(amount_cents - refunded_cents) AS spent FROM payment_transactions
                WHERE user_id IS NOT NULL GROUP BY user_id) t ON t.user_id = u.id
            WHERE u.total_spent_cents <> coalesce(t.spent, 0)
            """,
        )
        == 0
    )
    # One payment per paid invoice, for its amount; the rest unpaid.
    assert (
        one(
            demo,
            "SELECT count(*) FROM invoices i LEFT JOIN payment_transactions t ON t.invoice_id = i.id "
            "WHERE (i.status = 'paid') <> (t.id IS NOT NULL) OR (t.id IS NOT NULL AND t.amount_cents <> i.amount_paid_cents)",
        )
        == 0
    )
    # Failed webhook deliveries: their invoice is not applied yet (the admin reprocesses them).
    failed = rows(
        demo,
        "SELECT event_data->'data'->'object'->>'id' FROM stripe_webhook_events WHERE processing_status = 'failed'",
    )
    assert len(failed) >= 1
    assert (
        one(demo, "SELECT count(*) FROM invoices WHERE stripe_invoice_id = ANY(%s)", [f[0] for f in failed])
        == 0
    )
    # Subscriptions bill their owner's Stripe customer.
    assert (
        one(
            demo,
            "SELECT count(*) FROM subscriptions s LEFT JOIN users u ON u.id = s.user_id "
            "LEFT JOIN organizations o ON o.id = s.organization_id "
            "WHERE s.stripe_customer_id IS DISTINCT FROM coalesce(u.stripe_customer_id, o.stripe_customer_id)",
        )
        == 0
    )
    # Organizations point at their current subscription.
    assert one(demo, "SELECT count(*) FROM organizations o JOIN subscriptions s ON s.id = o.subscription_id "
                     "WHERE s.organization_id <> o.id") == 0  # fmt: skip


def test_presence_is_consistent(demo: BuiltDemo) -> None:
    now = demo.config.now
    online_window = "interval '300 seconds'"
    # Online devices are exactly those with a heartbeat in the last five minutes (of the data's clock)...
    assert (
        one(
            demo,
            f"SELECT count(*) FROM dashboards WHERE is_online <> (last_heartbeat_at > %s - {online_window})",
            now,
        )
        == 0
    )
    # ... each has one open usage session, and nothing else does.
    assert (
        one(
            demo,
            "SELECT count(*) FROM dashboards d WHERE d.is_online <> EXISTS (SELECT 1 FROM user_sessions s "
            "WHERE s.dashboard_id = d.id AND s.session_type = 'usage' AND s.ended_at IS NULL)",
        )
        == 0
    )
    # A user's heartbeat is their newest device's; users "active now" are those with one online.
    assert one(
        demo,
        "SELECT count(*) FROM user_heartbeats h JOIN (SELECT user_id, max(last_heartbeat_at) AS beat "
        "FROM dashboards GROUP BY user_id) d USING (user_id) WHERE h.last_seen_at <> d.beat",
    ) == one(
        demo, "SELECT count(*) FROM dashboards WHERE user_id NOT IN (SELECT user_id FROM user_heartbeats)"
    )
    assert (
        one(
            demo,
            "SELECT count(*) FROM users u LEFT JOIN user_heartbeats h ON h.user_id = u.id "
            f"WHERE u.is_currently_active <> coalesce(h.last_seen_at > %s - {online_window}, false) "
            "OR u.last_heartbeat_at IS DISTINCT FROM h.last_seen_at",
            now,
        )
        == 0
    )
    assert one(demo, "SELECT count(*) FROM dashboards WHERE is_online") > 0
    # Sessions never outlive their device's last heartbeat.
    assert (
        one(
            demo,
            "SELECT count(*) FROM user_sessions s JOIN dashboards d ON d.id = s.dashboard_id "
            "WHERE s.session_type = 'usage' AND coalesce(s.ended_at, s.started_at) > d.last_heartbeat_at",
        )
        == 0
    )


def test_summary_columns_match_their_sources(demo: BuiltDemo) -> None:
    assert (
        one(
            demo,
            """
        SELECT count(*) FROM dashboards d
        LEFT JOIN (SELECT dashboard_id, count(*) AS n FROM user_sessions WHERE session_type = 'usage'
                   GROUP BY 1) s ON s.dashboard_id = d.id
        LEFT JOIN (SELECT dashboard_id, count(*) AS n FROM system_events WHERE event_type = 'crash'
                   GROUP BY 1) c ON c.dashboard_id = d.id
        WHERE d.total_sessions <> coalesce(s.n, 0) OR d.crash_count <> coalesce(c.n, 0)
        """,
        )
        == 0
    )
    assert (
        one(
            demo,
            """
        SELECT count(*) FROM users u LEFT JOIN (
            SELECT user_id, count(*) FILTER (WHERE event_type = 'login') AS logins,
                   max(created_at) FILTER (WHERE event_type = 'login') AS last_login
            FROM activity_events GROUP BY user_id) a ON a.user_id = u.id
        WHERE u.sign_in_count <> coalesce(a.logins, 0) OR u.last_sign_in_at IS DISTINCT FROM a.last_login
        """,
        )
        == 0
    )
    # One signup event per user who signed up within the span, at that instant.
    signups = rows(
        demo,
        "SELECT (SELECT count(*) FROM activity_events WHERE event_type = 'signup'), "
        "(SELECT count(*) FROM users WHERE created_at >= %s), "
        "(SELECT count(*) FROM activity_events a JOIN users u ON u.id = a.user_id "
        " WHERE a.event_type = 'signup' AND a.created_at <> u.created_at)",
        from_us(demo.config.start_us),
    )[0]
    assert signups[0] == signups[1] and signups[2] == 0
    # Abusive clusters: many accounts from one IP hash, some of them suspended.
    clusters = rows(
        demo,
        "SELECT signup_ip_hash, count(*), count(*) FILTER (WHERE status <> 'active') FROM users "
        "GROUP BY 1 HAVING count(*) >= 6",
    )
    assert len(clusters) >= 2 and any(suspended for _, _, suspended in clusters)


def test_partitions_hold_every_row_and_rollups_cover_every_day(demo: BuiltDemo) -> None:
    for table in SPECS:
        assert one(demo, f"SELECT count(*) FROM {table}_default") == 0, table
        assert one(demo, f"SELECT count(*) FROM {table}") > 0, table
    # The partitions are attached like app_ensure_partition's, the app role cannot read them.
    assert one(demo, "SELECT count(*) FROM pg_class WHERE relname LIKE 'activity_events_y%%' AND relkind = 'r' "
                     "AND NOT relispartition") == 0  # fmt: skip
    assert one(demo, "SELECT count(*) FROM daily_metrics WHERE date BETWEEN %s AND %s",
               demo.config.first_day, demo.config.last_day) == DAYS  # fmt: skip
    assert one(demo, "SELECT sum(new_signups) FROM daily_metrics") == one(
        demo, "SELECT count(*) FROM users WHERE created_at >= %s", from_us(demo.config.start_us)
    )
    assert one(demo, "SELECT sum(trial_to_paid_conversions) FROM daily_metrics") > 0
    # ANALYZE ran on everything the demo wrote.
    for table in TABLES:
        assert one(demo, "SELECT count(*) FROM pg_stats WHERE tablename = %s", table) > 0, table
