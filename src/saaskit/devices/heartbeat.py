"""``POST /api/heartbeat``: the hottest path in saaskit, ONE round trip to PostgreSQL.

The work is two SQL functions (devices/sql/heartbeat.sql), called once in an autocommit
transaction:

- ``app_heartbeat(token_hash, ...)`` authenticates the bearer token through ``app_authenticate``
  (the same live-session check as every request), sets the RLS context to that user, and calls
- ``app_heartbeat_write(user_id, ...)``: every write of the heartbeat: a usage session started
  when the device has none open (``app_start_usage_session``, the same function as
  ``POST /api/sessions/start``), then ONE statement of data-modifying CTEs for the rest:

  - ``user_heartbeats``: upsert of the user's row (seed 002, "active users now");
  - ``dashboards``: ``last_heartbeat_at``, ``is_online``, ``current_version``, ``needs_update``,
    and the uptime earned since the previous heartbeat;
  - ``user_sessions``: a usage session is started when the device has none open (race-free
    through the partial unique index ``idx_user_sessions_dashboard_id_open``), or the open one
    gets the widgets and errors the heartbeat reports; ``dashboards.total_sessions`` counts a new
    one;
  - ``users``: ``last_heartbeat_at``, ``last_seen_at``, ``is_currently_active``,
    ``current_app_version`` and the clearing of ``needs_reload``.

Why one call and not the usual request shape (authentication query, then the statement, inside
BEGIN ... COMMIT): on the 2-core machine every round trip costs about as much CPU as the work
itself. PostgreSQL alone, driven by pgbench, manages ~4,100 requests/s with the four round trips
of the usual shape but ~13,000/s for the one call, and the target is 0.3 x the latter
(benchmarks/heartbeat.py, docs/presence.md). The unit of work is still one transaction that
commits once before the answer is sent, and RLS still applies (both functions run as the
application role).

Concurrency (READ COMMITTED): nothing is read first and written later, except whether the device
has an open usage session; two heartbeats that both find none both try to start one, and the
partial unique index lets one insert win (``ON CONFLICT DO NOTHING``). An UPDATE that finds its
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

import psycopg

from saaskit.kit.errors import NotFound

HEARTBEAT_CALL = (
    "SELECT user_id, dashboard_id, needs_reload, needs_update, usage_session_id "
    "FROM app_heartbeat(%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


@dataclass(frozen=True)
class Heartbeat:
    token_hash: str
    dashboard_id: uuid.UUID | None = None
    app_version: str | None = None
    widgets_interacted: tuple[str, ...] = ()
    error_count: int = 0
    ip_hash: str | None = None
    user_agent: str | None = None
    country_code: str | None = None


@dataclass(frozen=True)
class HeartbeatResult:
    user_id: uuid.UUID
    dashboard_id: uuid.UUID | None
    needs_reload: bool
    needs_update: bool
    usage_session_id: uuid.UUID | None


async def record_heartbeat(
    connection: psycopg.AsyncConnection[tuple[object, ...]], beat: Heartbeat, *, max_gap_seconds: int
) -> HeartbeatResult | None:
    """Authenticate and write one heartbeat in one statement; ``None`` when the token is not a
    live session (nothing was written). A ``dashboard_id`` given by the client that is not one
    of the user's live dashboards is a NotFound, and nothing was written either."""
    try:
        cursor = await connection.execute(
            HEARTBEAT_CALL,
            (
                beat.token_hash,
                beat.dashboard_id,
                beat.app_version,
                list(beat.widgets_interacted),
                beat.error_count,
                float(max_gap_seconds),
                beat.ip_hash,
                beat.user_agent,
                beat.country_code,
            ),
        )
    except psycopg.errors.NoDataFound as exc:
        raise NotFound(
            "no such dashboard (deleted, or not yours)", field="dashboard_id", code="dashboard_not_found"
        ) from exc
    row = await cursor.fetchone()
    if row is None:
        return None
    user_id, dashboard_id, needs_reload, needs_update, usage_session_id = row
    assert isinstance(user_id, uuid.UUID)
    return HeartbeatResult(
        user_id=user_id,
        dashboard_id=dashboard_id if isinstance(dashboard_id, uuid.UUID) else None,
        needs_reload=bool(needs_reload),
        needs_update=bool(needs_update),
        usage_session_id=usage_session_id if isinstance(usage_session_id, uuid.UUID) else None,
    )
