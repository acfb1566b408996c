"""Usage sessions: the activity side of ``user_sessions`` (rows with ``session_type = 'usage'``).

A usage session is one period of app use on a device: started by ``POST /api/sessions/start``
(the app opened) or by the first heartbeat of a device that has none open; ended by
``POST /api/sessions/{id}/end`` (the app closed) or by the presence job once the device has been
silent for ``SAASKIT_PRESENCE_SESSION_IDLE_MINUTES``, in which case it ends at its last heartbeat,
not when the job noticed. ``duration_minutes`` is computed at the end (rounded to the minute).
At most one usage session per dashboard is open at a time (partial unique index).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.errors import NotFound

USAGE_COLUMNS = (
    "id, dashboard_id, started_at, ended_at, duration_minutes, widgets_interacted, settings_changed, "
    "error_count"
)
DURATION = "round(extract(epoch FROM {end} - {start}) / 60)::integer"
MERGE_WIDGETS = (
    "ARRAY(SELECT DISTINCT w FROM unnest(widgets_interacted || CAST(:widgets AS text[])) AS w ORDER BY w)"
)


def _end_at_last_activity(where: str, lock: str) -> str:
    """End open usage sessions matching ``where`` at their last sign of life: the device's last
    heartbeat (the user's, for a session without a device), never before the start nor after now."""
    return f"""
UPDATE user_sessions s SET ended_at = e.ended_at,
    duration_minutes = {DURATION.format(end="e.ended_at", start="s.started_at")}
FROM (
    SELECT o.id, LEAST(now(), GREATEST(o.started_at, CASE WHEN o.dashboard_id IS NOT NULL
                                                       THEN d.last_heartbeat_at ELSE u.last_heartbeat_at END))
           AS ended_at
    FROM user_sessions o
    JOIN users u ON u.id = o.user_id
    LEFT JOIN dashboards d ON d.id = o.dashboard_id
    WHERE o.session_type = 'usage' AND o.ended_at IS NULL AND ({where})
    FOR UPDATE OF o {lock}
) e
WHERE s.id = e.id
RETURNING s.id
"""


END_IDLE_SQL = text(
    _end_at_last_activity(
        "GREATEST(o.started_at, CASE WHEN o.dashboard_id IS NOT NULL THEN d.last_heartbeat_at "
        "ELSE u.last_heartbeat_at END) < now() - make_interval(mins => CAST(:idle_minutes AS integer))",
        "SKIP LOCKED",
    )
)
END_PREVIOUS_SQL = text(_end_at_last_activity("o.dashboard_id = CAST(:dashboard_id AS uuid)", ""))

END_NOW_SQL = text(
    f"""
UPDATE user_sessions
SET ended_at = now(), duration_minutes = {DURATION.format(end="now()", start="started_at")}
WHERE dashboard_id = :dashboard_id AND session_type = 'usage' AND ended_at IS NULL
"""
)

# The same start as a heartbeat's (devices/sql/sessions.sql): NULL when one is already open.
START_SQL = text(
    """
SELECT app_start_usage_session(CAST(:user_id AS uuid), CAST(:dashboard_id AS uuid), :ip_hash, :user_agent,
                               :country_code, (SELECT auth_method FROM user_sessions
                                               WHERE id = CAST(:auth_session_id AS uuid)),
                               NULL, NULL) AS id
"""
)

OPEN_SQL = text(
    f"SELECT {USAGE_COLUMNS} FROM user_sessions "
    "WHERE dashboard_id = :dashboard_id AND session_type = 'usage' AND ended_at IS NULL"
)

END_SQL = text(
    f"""
UPDATE user_sessions SET ended_at = now(),
    duration_minutes = {DURATION.format(end="now()", start="started_at")},
    widgets_interacted = {MERGE_WIDGETS},
    error_count = error_count + CAST(:errors AS integer)
WHERE id = :session_id AND session_type = 'usage' AND ended_at IS NULL
RETURNING {USAGE_COLUMNS}
"""
)
GET_SQL = text(f"SELECT {USAGE_COLUMNS} FROM user_sessions WHERE id = :session_id AND session_type = 'usage'")

SETTINGS_CHANGED_SQL = text(
    "UPDATE user_sessions SET settings_changed = true "
    "WHERE dashboard_id = :dashboard_id AND session_type = 'usage' AND ended_at IS NULL "
    "AND NOT settings_changed"
)
ADD_ERRORS_SQL = text(
    "UPDATE user_sessions SET error_count = error_count + :errors "
    "WHERE dashboard_id = :dashboard_id AND session_type = 'usage' AND ended_at IS NULL"
)


async def start(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    auth_session_id: uuid.UUID | None,
    dashboard_id: uuid.UUID | None,
    ip_hash: str | None,
    user_agent: str | None,
    country_code: str | None,
) -> dict[str, Any]:
    """The app opened: end the device's previous usage session (at its last heartbeat), start one.
    ``dashboard_id`` must already be checked as one of the user's live dashboards."""
    if dashboard_id is not None:
        await session.execute(END_PREVIOUS_SQL, {"dashboard_id": dashboard_id})
    params = {
        "user_id": user_id,
        "auth_session_id": auth_session_id,
        "dashboard_id": dashboard_id,
        "ip_hash": ip_hash,
        "user_agent": user_agent,
        "country_code": country_code,
    }
    started = (await session.execute(START_SQL, params)).scalar_one()
    if started is None:  # a concurrent start (or heartbeat) of the same device won: that one is open
        row = (await session.execute(OPEN_SQL, {"dashboard_id": dashboard_id})).mappings().one()
    else:
        row = (await session.execute(GET_SQL, {"session_id": started})).mappings().one()
    return dict(row)


async def end(
    session: AsyncSession, session_id: uuid.UUID, *, widgets: list[str], errors: int
) -> dict[str, Any]:
    """The app closed. Ending an already ended session answers it unchanged (retries are safe)."""
    row = (
        (await session.execute(END_SQL, {"session_id": session_id, "widgets": widgets, "errors": errors}))
        .mappings()
        .one_or_none()
    )
    if row is None:
        row = (await session.execute(GET_SQL, {"session_id": session_id})).mappings().one_or_none()
    if row is None:
        raise NotFound("no such usage session", field="session_id", code="session_not_found")
    return dict(row)


async def end_idle(session: AsyncSession, idle_minutes: int) -> int:
    """End every usage session whose device has been silent for ``idle_minutes`` (job)."""
    return len((await session.execute(END_IDLE_SQL, {"idle_minutes": idle_minutes})).all())


async def end_open_session_now(session: AsyncSession, dashboard_id: uuid.UUID) -> None:
    await session.execute(END_NOW_SQL, {"dashboard_id": dashboard_id})


async def mark_settings_changed(session: AsyncSession, dashboard_id: uuid.UUID) -> None:
    await session.execute(SETTINGS_CHANGED_SQL, {"dashboard_id": dashboard_id})


async def add_errors(session: AsyncSession, dashboard_id: uuid.UUID, errors: int) -> None:
    await session.execute(ADD_ERRORS_SQL, {"dashboard_id": dashboard_id, "errors": errors})
