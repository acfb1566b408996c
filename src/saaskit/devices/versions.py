"""App versions: the version check, forced updates (per device) and forced reloads (per user).

The versions live in ``system_settings``: ``app.latest_version`` and ``app.minimum_version``, and
optionally ``app.latest_version.<device_type>`` / ``app.minimum_version.<device_type>`` for a
platform that has its own (the SQL function ``app_required_version`` picks the most specific).
Versions compare numerically (``app_version_key``: 1.10 > 1.9, 1.2 = 1.2.0, suffixes ignored).

- ``dashboards.needs_update``: the device runs a version below the minimum for its platform. An
  admin raises the minimum (``require_update``), which flags every device below it at once; a
  heartbeat or version check reporting a version at or above the minimum clears the flag, one
  reporting a version below it sets it.
- ``users.needs_reload``: an admin forces the user's apps (one user, or everyone) to reload to get
  a critical update; the flag clears when the user's app reports at least the latest version for
  its platform. It is per user (seed 000): the first device to report the latest version clears it.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.errors import NotFound
from saaskit.system import service as system_service

LATEST = "app.latest_version"
MINIMUM = "app.minimum_version"

CHECK_ANONYMOUS_SQL = text(
    """
SELECT app_required_version('app.latest_version', CAST(:device_type AS text)) AS latest_version,
       app_required_version('app.minimum_version', CAST(:device_type AS text)) AS minimum_version,
       NULL::text AS device_type, false AS needs_reload
"""
)

# A signed-in check also reports the version: the user's and, for a token bound to a dashboard,
# the device's, by the same rules as the heartbeat (devices/sql/versions.sql), except that the
# device's flag is always re-evaluated (no previous version passed).
CHECK_SIGNED_IN_SQL = text(
    """
WITH device AS (
    UPDATE dashboards SET current_version = CAST(:current AS text),
        needs_update = app_needs_update(needs_update, NULL, CAST(:current AS text), device_type)
    WHERE id = CAST(:dashboard_id AS uuid) AND deleted_at IS NULL
    RETURNING device_type
), kind AS (
    SELECT coalesce(CAST(:device_type AS text), (SELECT device_type FROM device)) AS device_type
), account AS (
    UPDATE users SET last_version_check = now(), current_app_version = CAST(:current AS text),
        needs_reload = app_needs_reload(needs_reload, CAST(:current AS text), (SELECT device_type FROM kind))
    WHERE id = CAST(:user_id AS uuid)
    RETURNING needs_reload
)
SELECT app_required_version('app.latest_version', kind.device_type) AS latest_version,
       app_required_version('app.minimum_version', kind.device_type) AS minimum_version,
       kind.device_type, coalesce((SELECT needs_reload FROM account), false) AS needs_reload
FROM kind
"""
)

BELOW_SQL = text(
    "SELECT app_version_below(CAST(:current AS text), CAST(:latest AS text)) AS update_available, "
    "app_version_below(CAST(:current AS text), CAST(:minimum AS text)) AS update_required"
)

REQUIRE_UPDATE_SQL = text(
    """
WITH changed AS (
    UPDATE dashboards SET needs_update = NOT needs_update
    WHERE deleted_at IS NULL
      AND (CAST(:device_type AS text) IS NULL OR device_type = CAST(:device_type AS text))
      AND needs_update <> app_below_minimum(current_version, device_type)
    RETURNING needs_update
)
SELECT count(*) FILTER (WHERE needs_update) AS flagged, count(*) FILTER (WHERE NOT needs_update) AS cleared
FROM changed
"""
)

SET_RELOAD_SQL = text(
    """
UPDATE users SET needs_reload = CAST(:flag AS boolean)
WHERE (id = CAST(:user_id AS uuid) OR CAST(:all_users AS boolean))
  AND deleted_at IS NULL AND needs_reload <> CAST(:flag AS boolean)
RETURNING id
"""
)
USER_EXISTS_SQL = text("SELECT 1 FROM users WHERE id = :user_id AND deleted_at IS NULL")


async def check(
    session: AsyncSession,
    *,
    current: str,
    device_type: str | None,
    user_id: uuid.UUID | None,
    dashboard_id: uuid.UUID | None,
) -> dict[str, Any]:
    params = {
        "current": current,
        "device_type": device_type,
        "user_id": user_id,
        "dashboard_id": dashboard_id,
    }
    sql = CHECK_SIGNED_IN_SQL if user_id is not None else CHECK_ANONYMOUS_SQL
    row = (await session.execute(sql, params)).mappings().one()
    below = (
        await session.execute(
            BELOW_SQL,
            {"current": current, "latest": row["latest_version"], "minimum": row["minimum_version"]},
        )
    ).one()
    return {
        "current": current,
        "device_type": row["device_type"] or device_type,
        "latest_version": row["latest_version"],
        "minimum_version": row["minimum_version"],
        "update_available": bool(below.update_available),
        "update_required": bool(below.update_required),
        "needs_reload": bool(row["needs_reload"]),
    }


def setting_key(base: str, device_type: str | None) -> str:
    return f"{base}.{device_type}" if device_type else base


async def require_update(
    session: AsyncSession, minimum_version: str, device_type: str | None
) -> dict[str, Any]:
    """Publish a new minimum version and flag (or unflag) every device accordingly, at once."""
    key = setting_key(MINIMUM, device_type)
    platform = f" on {device_type}" if device_type else ""
    await system_service.put_setting(
        session,
        key,
        minimum_version,
        category="app",
        description=f"Oldest supported app version{platform}: devices below it get needs_update.",
        is_public=True,
    )
    row = (await session.execute(REQUIRE_UPDATE_SQL, {"device_type": device_type})).one()
    return {
        "minimum_version": minimum_version,
        "device_type": device_type,
        "setting_key": key,
        "dashboards_flagged": int(row.flagged),
        "dashboards_cleared": int(row.cleared),
    }


async def set_reload(
    session: AsyncSession,
    *,
    flag: bool,
    user_id: uuid.UUID | None,
    all_users: bool,
    latest_version: str | None = None,
) -> int:
    """Force (or cancel) a reload for one user or everyone; returns how many users changed."""
    if user_id is not None and await session.scalar(USER_EXISTS_SQL, {"user_id": user_id}) is None:
        raise NotFound("no such user", field="user_id")
    if latest_version is not None:
        await system_service.put_setting(session, LATEST, latest_version, category="app", is_public=True)
    result = await session.execute(SET_RELOAD_SQL, {"flag": flag, "user_id": user_id, "all_users": all_users})
    return len(result.all())
