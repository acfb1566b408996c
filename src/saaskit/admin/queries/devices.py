"""Devices: who is online, which versions run where, crashes by version, the device list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts.models import User
from saaskit.devices import presence
from saaskit.devices.models import Dashboard
from saaskit.devices.service import live_dashboards
from saaskit.kit.pagination import keyset_page
from saaskit.system import service as system_service

DEVICE_TYPES = ("fire_tv", "android_tv", "browser", "other")
CRASH_DAYS = 30

# One pass over the live devices (a device table: one row per registered screen, not an event log).
VERSIONS_SQL = text(
    f"""
SELECT coalesce(current_version, '') AS version,
       coalesce(app_version_key(current_version), '{{}}') AS sort_key, device_type, count(*) AS devices,
       count(*) FILTER (WHERE is_online AND {presence.present("last_heartbeat_at")}) AS online,
       count(*) FILTER (WHERE needs_update) AS needs_update,
       sum(crash_count) AS crashes
FROM dashboards WHERE deleted_at IS NULL
GROUP BY 1, 2, 3
"""
)
# Crash reports of the last CRASH_DAYS days from system_events (time-bounded: partitions pruned).
CRASHES_SQL = text(
    """
SELECT coalesce(app_version, '') AS version, coalesce(app_version_key(app_version), '{}') AS sort_key,
       count(*) AS crashes, count(DISTINCT dashboard_id) AS devices
FROM system_events
WHERE event_type = 'crash' AND created_at >= :since
GROUP BY 1, 2
"""
)


@dataclass(frozen=True)
class VersionRow:
    version: str
    device_type: str
    devices: int
    online: int
    needs_update: int
    crashes: int


@dataclass
class DevicesOverview:
    presence: presence.Presence
    versions: list[VersionRow]
    by_version: list[tuple[str, int, int]]  # version, devices, online (all platforms)
    crashes: list[tuple[str, int, int]]  # version, crash reports, devices (last CRASH_DAYS days)
    settings: list[tuple[str, Any]]


async def overview(session: AsyncSession, window_seconds: int) -> DevicesOverview:
    snapshot = await presence.snapshot(session, window_seconds)
    rows = (await session.execute(VERSIONS_SQL, {"window_seconds": window_seconds})).all()
    # Newest version first, as app_version_key orders them (1.10 after 1.9; unknown last).
    rows = sorted(rows, key=lambda r: (r.sort_key, r.device_type or ""), reverse=True)
    versions = [
        VersionRow(
            r.version, r.device_type, int(r.devices), int(r.online), int(r.needs_update), int(r.crashes or 0)
        )
        for r in rows
    ]
    totals: dict[str, list[int]] = {}
    for v in versions:
        entry = totals.setdefault(v.version, [0, 0])
        entry[0] += v.devices
        entry[1] += v.online
    by_version = [(version, d, o) for version, (d, o) in totals.items()]
    since = datetime.now(UTC) - timedelta(days=CRASH_DAYS)
    crash_rows = (await session.execute(CRASHES_SQL, {"since": since})).all()
    crashes = [
        (r.version, int(r.crashes), int(r.devices))
        for r in sorted(crash_rows, key=lambda r: r.sort_key, reverse=True)
    ]
    settings = [
        (s.key, s.value)
        for s in await system_service.list_settings(session, public_only=False)
        if s.key.startswith(("app.latest_version", "app.minimum_version"))
    ]
    return DevicesOverview(snapshot, versions, by_version, crashes, settings)


@dataclass(frozen=True)
class DeviceFilters:
    device_type: str | None = None
    online: bool = False
    needs_update: bool = False
    version: str | None = None


async def list_devices(
    session: AsyncSession, filters: DeviceFilters, *, limit: int, cursor: str | None
) -> tuple[list[tuple[Dashboard, str]], str | None]:
    query: Any = live_dashboards().add_columns(User.email).join(User, User.id == Dashboard.user_id)
    if filters.device_type:
        query = query.where(Dashboard.device_type == filters.device_type)
    if filters.online:
        query = query.where(Dashboard.is_online.is_(True))
    if filters.needs_update:
        query = query.where(Dashboard.needs_update.is_(True))
    if filters.version is not None:
        query = query.where(
            Dashboard.current_version == filters.version
            if filters.version
            else Dashboard.current_version.is_(None)
        )
    rows, next_cursor = await keyset_page(
        session, query, created_at=Dashboard.created_at, row_id=Dashboard.id, limit=limit, cursor=cursor
    )
    return [(d, email) for d, email in rows], next_cursor


async def device_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(live_dashboards().subquery())) or 0)
