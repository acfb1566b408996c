"""``POST /api/heartbeat``: the hottest path in saaskit, one statement after authentication.

Everything a heartbeat changes is written by ONE statement of data-modifying CTEs, so a heartbeat
is one round trip after the authentication query, inside the request's one transaction:

- ``user_heartbeats``: upsert of the user's row (seed 002, "active users now");
- ``dashboards``: ``last_heartbeat_at``, ``is_online``, ``current_version``, ``needs_update``, and the
  uptime earned since the previous heartbeat;
- ``user_sessions``: a usage session is started when the device has none open (race-free through
  the partial unique index ``idx_user_sessions_dashboard_id_open``), or the open one gets the
  widgets and errors the heartbeat reports; ``dashboards.total_sessions`` counts a new one;
- ``users``: ``last_heartbeat_at``, ``last_seen_at``, ``is_currently_active``,
  ``current_app_version`` and the clearing of ``needs_reload``.

Concurrency (READ COMMITTED): nothing is read first and written later. An UPDATE that finds its
row changed by a transaction that committed meanwhile re-evaluates its SET expressions on the
newest row version, but ``now()`` stays the start of *this* transaction, which may be earlier
than the ``last_heartbeat_at`` just committed. So the gap is clamped with ``GREATEST(0, ...)``
and ``last_heartbeat_at`` only moves forward (``GREATEST``): N heartbeats of one device arriving
together earn exactly what the same heartbeats earn one after another (the gaps telescope to
``max(now) - previous``). Every heartbeat takes its row locks in the same order (the statement's
plan is the same each time), so two heartbeats never deadlock each other.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.errors import NotFound

# The main SELECT reads ``account`` first; its SET list reads ``device`` (so the dashboard row is
# locked before the user row), whose SET list reads ``started``. ``beat`` and ``activity`` are not
# read and run last.
HEARTBEAT_SQL = text(
    """
WITH open_session AS (
    SELECT id FROM user_sessions
    WHERE dashboard_id = CAST(:dashboard_id AS uuid) AND session_type = 'usage' AND ended_at IS NULL
), started AS (
    INSERT INTO user_sessions AS s (
        user_id, dashboard_id, session_type, started_at, ip_address_hash, user_agent, country_code,
        widgets_interacted, error_count)
    SELECT CAST(:user_id AS uuid), CAST(:dashboard_id AS uuid), 'usage', now(), :ip_hash, :user_agent,
           :country_code, CAST(:widgets AS text[]), CAST(:errors AS integer)
    WHERE CAST(:dashboard_id AS uuid) IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM open_session)
      AND EXISTS (SELECT 1 FROM dashboards d
                  WHERE d.id = CAST(:dashboard_id AS uuid) AND d.user_id = CAST(:user_id AS uuid)
                    AND d.deleted_at IS NULL)
    ON CONFLICT (dashboard_id) WHERE session_type = 'usage' AND ended_at IS NULL DO NOTHING
    RETURNING s.id
), device AS (
    UPDATE dashboards SET
        total_uptime_seconds = total_uptime_seconds + CASE
            WHEN last_heartbeat_at IS NULL
              OR now() - last_heartbeat_at > make_interval(secs => CAST(:max_gap_seconds AS double precision))
            THEN 0
            ELSE GREATEST(0, extract(epoch FROM now() - last_heartbeat_at)) END,
        last_heartbeat_at = GREATEST(last_heartbeat_at, now()),
        is_online = true,
        current_version = coalesce(CAST(:app_version AS text), current_version),
        needs_update = CASE
            WHEN CAST(:app_version AS text) IS NULL
              OR (CAST(:app_version AS text) = current_version AND NOT needs_update) THEN needs_update
            ELSE app_version_below(CAST(:app_version AS text),
                                   app_required_version('app.minimum_version', device_type)) END,
        total_sessions = total_sessions + (SELECT count(*) FROM started)
    WHERE id = CAST(:dashboard_id AS uuid) AND user_id = CAST(:user_id AS uuid) AND deleted_at IS NULL
    RETURNING device_type, needs_update
), account AS (
    UPDATE users SET
        last_heartbeat_at = GREATEST(last_heartbeat_at, now()),
        last_seen_at = GREATEST(last_seen_at, now()),
        is_currently_active = true,
        current_app_version = coalesce(CAST(:app_version AS text), current_app_version),
        needs_reload = CASE
            WHEN needs_reload AND CAST(:app_version AS text) IS NOT NULL
            THEN app_version_below(
                CAST(:app_version AS text),
                app_required_version('app.latest_version', (SELECT device_type FROM device)))
            ELSE needs_reload END
    WHERE id = CAST(:user_id AS uuid)
    RETURNING needs_reload
), beat AS (
    INSERT INTO user_heartbeats AS h (user_id, last_seen_at) VALUES (CAST(:user_id AS uuid), now())
    ON CONFLICT (user_id) DO UPDATE SET last_seen_at = GREATEST(h.last_seen_at, EXCLUDED.last_seen_at)
), activity AS (
    UPDATE user_sessions SET
        widgets_interacted = ARRAY(
            SELECT DISTINCT w FROM unnest(widgets_interacted || CAST(:widgets AS text[])) AS w ORDER BY w),
        error_count = error_count + CAST(:errors AS integer)
    WHERE id = (SELECT id FROM open_session)
      AND (CAST(:errors AS integer) > 0 OR cardinality(CAST(:widgets AS text[])) > 0)
)
SELECT (SELECT needs_reload FROM account) AS needs_reload,
       (SELECT needs_update FROM device) AS needs_update,
       EXISTS (SELECT 1 FROM device) AS dashboard_found,
       coalesce((SELECT id FROM started), (SELECT id FROM open_session)) AS usage_session_id
"""
)


@dataclass(frozen=True)
class Heartbeat:
    user_id: uuid.UUID
    dashboard_id: uuid.UUID | None
    dashboard_explicit: bool
    app_version: str | None = None
    widgets_interacted: tuple[str, ...] = ()
    error_count: int = 0
    ip_hash: str | None = None
    user_agent: str | None = None
    country_code: str | None = None


@dataclass(frozen=True)
class HeartbeatResult:
    needs_reload: bool
    needs_update: bool
    dashboard_id: uuid.UUID | None
    usage_session_id: uuid.UUID | None


async def record_heartbeat(
    session: AsyncSession, beat: Heartbeat, *, max_gap_seconds: int
) -> HeartbeatResult:
    """Write one heartbeat (one statement). The caller's session carries the user's RLS context."""
    row = (
        await session.execute(
            HEARTBEAT_SQL,
            {
                "user_id": beat.user_id,
                "dashboard_id": beat.dashboard_id,
                "app_version": beat.app_version,
                "widgets": list(beat.widgets_interacted),
                "errors": beat.error_count,
                "max_gap_seconds": max_gap_seconds,
                "ip_hash": beat.ip_hash,
                "user_agent": beat.user_agent,
                "country_code": beat.country_code,
            },
        )
    ).one()
    dashboard_id = beat.dashboard_id
    if dashboard_id is not None and not row.dashboard_found:
        if beat.dashboard_explicit:
            # Raising rolls the whole statement back: a heartbeat is counted entirely or not at all.
            raise NotFound(
                "no such dashboard (deleted, or not yours)", field="dashboard_id", code="dashboard_not_found"
            )
        dashboard_id = None  # the token's dashboard was deleted: presence only
    return HeartbeatResult(
        needs_reload=bool(row.needs_reload),
        needs_update=bool(row.needs_update),
        dashboard_id=dashboard_id,
        usage_session_id=row.usage_session_id,
    )
