"""Dashboards (devices): registration under the tier limit, configuration, soft deletion, crashes.
Flushes, never commits."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts.models import User, UserSession
from saaskit.devices import sessions as usage
from saaskit.devices.models import Dashboard
from saaskit.devices.schemas import CrashIn, DashboardIn, DashboardUpdateIn
from saaskit.kit.errors import Forbidden, NotFound
from saaskit.kit.hashing import keyed_hash
from saaskit.kit.state import Runtime
from saaskit.tracking.records import record_system_event
from saaskit.trust import signals as trust_signals

logger = logging.getLogger(__name__)

TIER_LIMITS_KEY = "devices.max_dashboards_by_tier"

# The tier's number from the setting (a JSON object tier -> count); 1 for tiers it does not list.
# The setting is free-form JSON an admin writes: a number beyond the column's integer is clamped.
TIER_LIMIT_SQL = f"""coalesce(
    (SELECT LEAST(GREATEST(0, (s.value ->> users.tier)::numeric), 2147483647)::integer FROM system_settings s
     WHERE s.key = '{TIER_LIMITS_KEY}' AND jsonb_typeof(s.value -> users.tier) = 'number'),
    1)"""

SET_LIMIT_SQL = text(
    f"""
UPDATE users SET max_dashboards_override = CAST(:override AS integer),
                 max_dashboards = coalesce(CAST(:override AS integer), {TIER_LIMIT_SQL})
WHERE id = :user_id AND deleted_at IS NULL
RETURNING id, tier, max_dashboards, max_dashboards_override
"""
)
APPLY_TIER_SQL = text(
    f"""
UPDATE users SET max_dashboards = coalesce(max_dashboards_override, {TIER_LIMIT_SQL})
WHERE id = :user_id
RETURNING max_dashboards
"""
)

CRASH_SQL = text(
    """
UPDATE dashboards SET last_crash_at = now(), crash_count = crash_count + 1
WHERE id = :dashboard_id AND deleted_at IS NULL
RETURNING id, crash_count, last_crash_at
"""
)


@dataclass(frozen=True)
class Registered:
    dashboard: Dashboard
    created: bool


def fingerprint_hash(runtime: Runtime, fingerprint: str) -> str:
    return keyed_hash(runtime.secret, "device", fingerprint)


def all_dashboards() -> Select[Dashboard]:
    return select(Dashboard)


def live_dashboards(user_id: uuid.UUID | None = None) -> Select[Dashboard]:
    query = select(Dashboard).where(Dashboard.deleted_at.is_(None))
    if user_id is not None:
        query = query.where(Dashboard.user_id == user_id)
    return query


async def live_dashboard_ids(session: AsyncSession, ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """Which of ``ids`` are live dashboards visible in the session's context (RLS: the user's
    own, or any for admins): what other domains check a dashboard_id from a request against."""
    if not ids:
        return set()
    found = await session.scalars(
        live_dashboards().with_only_columns(Dashboard.id).where(Dashboard.id.in_(ids))
    )
    return set(found)


async def get_dashboard(session: AsyncSession, dashboard_id: uuid.UUID) -> Dashboard:
    """A live dashboard visible in the session's context (RLS: the user's own, or any for admins)."""
    dashboard = await session.scalar(live_dashboards().where(Dashboard.id == dashboard_id))
    if dashboard is None:
        raise NotFound("no such dashboard", field="dashboard_id", code="dashboard_not_found")
    return dashboard


async def register(
    session: AsyncSession,
    runtime: Runtime,
    *,
    user_id: uuid.UUID,
    auth_session_id: uuid.UUID | None,
    body: DashboardIn,
) -> Registered:
    """Register a device, unless the user already has ``users.max_dashboards`` of them.

    The user row is locked first (FOR NO KEY UPDATE: heartbeats and foreign-key checks are not
    blocked), so two registrations of one user run one after the other and the second one counts
    the first; counting and inserting happen in later statements, which see what committed.
    """
    limit = await session.scalar(
        select(User.max_dashboards).where(User.id == user_id).with_for_update(key_share=True)
    )
    if limit is None:
        raise NotFound("no such user", field="user_id")
    hashed = fingerprint_hash(runtime, body.fingerprint) if body.fingerprint else None
    if hashed is not None:
        existing = await session.scalar(
            live_dashboards(user_id).where(Dashboard.device_fingerprint_hash == hashed).limit(1)
        )
        if existing is not None:
            if body.bind_session and auth_session_id is not None:
                await bind_session(session, auth_session_id, existing.id)
            return Registered(existing, created=False)
    count = await session.scalar(select(func.count()).select_from(live_dashboards(user_id).subquery()))
    if (count or 0) >= limit:
        raise Forbidden(
            f"this account may register at most {limit} dashboard(s) and has {count}: delete one, "
            "or upgrade to a tier with more",
            code="dashboard_limit_reached",
            extra={"limit": limit, "dashboards": count},
        )
    dashboard = Dashboard(
        user_id=user_id,
        device_name=body.device_name,
        device_type=body.device_type,
        device_fingerprint_hash=hashed,
        theme=body.theme,
        active_widgets=list(body.active_widgets),
    )
    session.add(dashboard)
    await session.flush()
    await trust_signals.observe(session, user_id, [(trust_signals.DEVICE, hashed)])
    await session.refresh(dashboard)
    if body.bind_session and auth_session_id is not None:
        await bind_session(session, auth_session_id, dashboard.id)
    return Registered(dashboard, created=True)


async def bind_session(session: AsyncSession, auth_session_id: uuid.UUID, dashboard_id: uuid.UUID) -> None:
    """Make ``dashboard_id`` the default dashboard of a sign-in session's heartbeats."""
    await session.execute(
        update(UserSession)
        .where(UserSession.id == auth_session_id, UserSession.session_type == "sign_in")
        .values(dashboard_id=dashboard_id)
        .execution_options(synchronize_session=False)
    )


async def change(session: AsyncSession, dashboard_id: uuid.UUID, body: DashboardUpdateIn) -> Dashboard:
    dashboard = await get_dashboard(session, dashboard_id)
    changes: dict[str, Any] = body.model_dump(include=body.model_fields_set)
    for name, value in changes.items():
        setattr(dashboard, name, list(value) if name == "active_widgets" else value)
    await session.flush()
    await usage.mark_settings_changed(session, dashboard_id)
    await session.refresh(dashboard)
    return dashboard


async def soft_delete(session: AsyncSession, dashboard_id: uuid.UUID) -> None:
    """Soft-delete: off the limit and the presence counts; its open usage session ends now and
    sign-in sessions bound to it fall back to no default dashboard. History is kept."""
    dashboard = await get_dashboard(session, dashboard_id)
    dashboard.deleted_at = func.now()
    dashboard.is_online = False
    await session.flush()
    await usage.end_open_session_now(session, dashboard_id)
    await session.execute(
        update(UserSession)
        .where(UserSession.dashboard_id == dashboard_id, UserSession.session_type == "sign_in")
        .values(dashboard_id=None)
        .execution_options(synchronize_session=False)
    )


async def record_crash(
    session: AsyncSession,
    dashboard_id: uuid.UUID,
    body: CrashIn,
    *,
    user_id: uuid.UUID,
    user_agent: str | None,
) -> tuple[int, Any]:
    """Count a crash on the device, as an error of its open usage session, and as a critical
    ``system_events`` row (what the admin's crash counts by version read)."""
    row = (await session.execute(CRASH_SQL, {"dashboard_id": dashboard_id})).one_or_none()
    if row is None:
        raise NotFound("no such dashboard", field="dashboard_id", code="dashboard_not_found")
    await usage.add_errors(session, dashboard_id, 1)
    await record_system_event(
        session,
        event_type="crash",
        severity="critical",
        message=body.message or "the app crashed",
        user_id=user_id,
        dashboard_id=dashboard_id,
        error_details=body.error_details,
        user_agent=user_agent,
        app_version=body.app_version,
    )
    return int(row.crash_count), row.last_crash_at


# -- limits ------------------------------------------------------------------------------------
async def set_max_dashboards(
    session: AsyncSession, user_id: uuid.UUID, override: int | None
) -> dict[str, Any]:
    """An admin's per-user limit (``None``: back to the tier's)."""
    row = (await session.execute(SET_LIMIT_SQL, {"user_id": user_id, "override": override})).one_or_none()
    if row is None:
        raise NotFound("no such user", field="user_id")
    return {
        "user_id": row.id,
        "tier": row.tier,
        "max_dashboards": row.max_dashboards,
        "max_dashboards_override": row.max_dashboards_override,
    }


async def apply_tier_limit(session: AsyncSession, user_id: uuid.UUID) -> int:
    """Recompute ``users.max_dashboards`` from the user's tier (the billing issue calls this when
    the tier changes); an admin's override still wins. Returns the new limit."""
    limit = await session.scalar(APPLY_TIER_SQL, {"user_id": user_id})
    if limit is None:
        raise NotFound("no such user", field="user_id")
    return int(limit)
