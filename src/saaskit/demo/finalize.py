"""After the COPYs: the columns that summarise other tables, computed from those tables in SQL so
they agree by construction, then the trigger-kept counters rebuilt from scratch.

- users: sign-in counters from the ``login`` activity events; ``last_seen_at`` from their
  latest activity event or heartbeat;
- dashboards: sessions and uptime from their usage sessions, crashes from their crash events,
  ``needs_update`` against the minimum version;
- organizations: their Stripe customer, and the current subscription (as ``billing.tiers.refresh``
  chooses it);
- the identity of activity_events continues after the demo's ids;
- ``app_rebuild_stats_counters()``: the counters and users' subscription state (needed when the
  load ran with triggers off, harmless otherwise).
"""

from __future__ import annotations

import psycopg
from psycopg.types.json import Jsonb

from saaskit.demo.config import DemoConfig
from saaskit.demo.devices import LATEST_VERSION, MINIMUM_VERSION

STATEMENTS = (
    """
    UPDATE users u SET first_sign_in_at = a.first_login, last_sign_in_at = a.last_login,
                       sign_in_count = a.logins, last_seen_at = greatest(a.last_event, u.last_heartbeat_at)
    FROM (SELECT user_id,
                 min(created_at) FILTER (WHERE event_type = 'login') AS first_login,
                 max(created_at) FILTER (WHERE event_type = 'login') AS last_login,
                 count(*) FILTER (WHERE event_type = 'login') AS logins,
                 max(created_at) AS last_event
          FROM activity_events WHERE user_id IS NOT NULL GROUP BY user_id) a
    WHERE u.id = a.user_id
    """,
    """
    UPDATE users SET last_seen_at = last_heartbeat_at
    WHERE last_seen_at IS NULL AND last_heartbeat_at IS NOT NULL
    """,
    """
    UPDATE dashboards d SET total_sessions = s.sessions, total_uptime_seconds = s.seconds
    FROM (SELECT us.dashboard_id, count(*) AS sessions,
                 sum(extract(epoch FROM coalesce(us.ended_at, d2.last_heartbeat_at) - us.started_at))
                   AS seconds
          FROM user_sessions us JOIN dashboards d2 ON d2.id = us.dashboard_id
          WHERE us.session_type = 'usage' GROUP BY us.dashboard_id) s
    WHERE d.id = s.dashboard_id
    """,
    """
    UPDATE dashboards d SET crash_count = c.crashes, last_crash_at = c.last_crash
    FROM (SELECT dashboard_id, count(*) AS crashes, max(created_at) AS last_crash FROM system_events
          WHERE event_type = 'crash' AND dashboard_id IS NOT NULL GROUP BY dashboard_id) c
    WHERE d.id = c.dashboard_id
    """,
    """
    UPDATE dashboards SET needs_update = true
    WHERE app_below_minimum(current_version, device_type)
    """,
    """
    UPDATE organizations o SET stripe_customer_id = s.stripe_customer_id
    FROM (SELECT DISTINCT organization_id, stripe_customer_id FROM subscriptions
          WHERE organization_id IS NOT NULL) s
    WHERE o.id = s.organization_id
    """,
    """
    UPDATE organizations o SET subscription_id = s.id
    FROM (SELECT DISTINCT ON (organization_id) organization_id, id FROM subscriptions
          WHERE organization_id IS NOT NULL
          ORDER BY organization_id, app_is_entitled(status) DESC, started_at DESC,
                   created_at DESC) s
    WHERE o.id = s.organization_id
    """,
    """
    SELECT setval(pg_get_serial_sequence('activity_events', 'id'),
                  coalesce((SELECT max(id) FROM activity_events), 0) + 1, false)
    """,
    "SELECT app_rebuild_stats_counters()",
)


def apply_settings(cursor: psycopg.Cursor[tuple[object, ...]], config: DemoConfig) -> None:
    """The demo's app versions become the platform's latest and minimum (version checks and
    ``needs_update`` then agree with the devices)."""
    for key, value in (("app.latest_version", LATEST_VERSION), ("app.minimum_version", MINIMUM_VERSION)):
        cursor.execute(
            "UPDATE system_settings SET value = %s, updated_at = %s WHERE key = %s",
            (Jsonb(value), config.now, key),
        )


def finalize(connection: psycopg.Connection[tuple[object, ...]]) -> None:
    with connection.transaction():
        for statement in STATEMENTS:
            connection.execute(statement)
