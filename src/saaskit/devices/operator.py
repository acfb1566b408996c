"""Platform admins' actions on devices: force (or withdraw) a reload, a user's dashboard limit,
the minimum app version. Each writes its audit row in the same transaction (see
``audit.operator``)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts import service as accounts
from saaskit.audit import service as audit
from saaskit.audit.operator import Outcome, record_user
from saaskit.audit.service import Actor
from saaskit.devices import service as devices
from saaskit.devices import versions


async def set_reload(
    session: AsyncSession,
    actor: Actor,
    user_id: uuid.UUID | None,
    *,
    flag: bool,
    latest_version: str | None = None,
) -> Outcome:
    """Force (or withdraw) a reload for one user, or (``user_id`` None) for everyone."""
    action = "user.reload_forced" if flag else "user.reload_cancelled"
    what = "forced to reload" if flag else "no longer forced to reload"
    user = await accounts.get_user(session, user_id, field="user_id") if user_id is not None else None
    changed = await versions.set_reload(
        session, flag=flag, user_id=user_id, all_users=user is None, latest_version=latest_version
    )
    metadata: dict[str, Any] = {"changed": changed, "latest_version": latest_version}
    if user is not None:
        await record_user(
            session, actor, user.id, user.email, action, f"{user.email}'s apps {what}.", metadata
        )
        if not changed:
            return Outcome(f"Nothing changed: {user.email}'s apps were already {what}.", {"users_changed": 0})
        message = f"{user.email}'s apps are {what}" + (" at their next heartbeat." if flag else ".")
        return Outcome(message, {"users_changed": changed})
    await audit.record(
        session,
        actor,
        organization_id=None,
        action=f"users.{action.split('.')[1]}",
        entity_type="user",
        description=f"Every user's apps {what} ({changed} changed).",
        metadata=metadata,
    )
    return Outcome(f"{changed} user(s)' apps {what}.", {"users_changed": changed})


async def set_max_dashboards(
    session: AsyncSession, actor: Actor, user_id: uuid.UUID, override: int | None
) -> Outcome:
    user = await accounts.get_user(session, user_id)
    before = {"max_dashboards": user.max_dashboards, "max_dashboards_override": user.max_dashboards_override}
    result = await devices.set_max_dashboards(session, user_id, override)
    after = {"max_dashboards": result["max_dashboards"], "max_dashboards_override": override}
    await record_user(
        session,
        actor,
        user.id,
        user.email,
        "user.max_dashboards_changed",
        f"{user.email} may register {result['max_dashboards']} dashboard(s)"
        + (" (the tier's limit)." if override is None else " (admin override)."),
        {"changes": audit.changes(before, after)},
    )
    await session.refresh(user)
    source = "the tier's limit" if override is None else "an admin override"
    message = f"{user.email} may now register {result['max_dashboards']} dashboard(s), {source}."
    return Outcome(message, dict(result))


async def require_update(
    session: AsyncSession, actor: Actor, minimum_version: str, device_type: str | None
) -> Outcome:
    result = await versions.require_update(session, minimum_version, device_type)
    platform = f" on {device_type}" if device_type else ""
    await audit.record(
        session,
        actor,
        organization_id=None,
        action="devices.update_required",
        entity_type="system_setting",
        entity_name=result["setting_key"],
        description=f"Minimum app version{platform} set to {minimum_version}.",
        metadata=result,
    )
    return Outcome(
        f"Minimum version{platform} is now {minimum_version}: {result['dashboards_flagged']} device(s) "
        f"flagged, {result['dashboards_cleared']} cleared.",
        dict(result),
    )
