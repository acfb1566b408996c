"""What a platform admin can change, from the admin pages or the JSON admin endpoints: each
action calls the owning domain's service and writes one audit row (``activities``) in the same
transaction, so the change and its record commit together. Flushes, never commits.

Actions answer an ``Outcome``: a sentence for the pages' flash message, and the figures the JSON
endpoints return."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts import service as accounts
from saaskit.audit import service as audit
from saaskit.audit.service import Actor
from saaskit.billing import webhooks
from saaskit.billing.models import StripeWebhookEvent
from saaskit.devices import service as devices
from saaskit.devices import versions
from saaskit.kit.errors import Unprocessable
from saaskit.tracking import triage
from saaskit.tracking.models import ErrorLog, SystemEvent

STATUS_VERBS = {"active": "reactivated", "suspended": "suspended", "banned": "banned"}


@dataclass(frozen=True)
class Outcome:
    message: str
    data: dict[str, Any] = field(default_factory=dict)


async def _record_user(
    session: AsyncSession,
    actor: Actor,
    user_id: uuid.UUID,
    email: str,
    action: str,
    description: str,
    metadata: dict[str, Any],
) -> None:
    await audit.record(
        session,
        actor,
        organization_id=None,
        action=action,
        entity_type="user",
        entity_id=user_id,
        entity_name=email,
        description=description,
        metadata=metadata,
    )


async def set_status(session: AsyncSession, actor: Actor, user_id: uuid.UUID, status: str) -> Outcome:
    if status not in STATUS_VERBS:
        raise Unprocessable(f"status: must be one of {', '.join(STATUS_VERBS)}", field="status")
    if status != "active" and user_id == actor.user_id:
        raise Unprocessable("You cannot suspend or ban your own account.", field="status")
    user = await accounts.get_user(session, user_id)
    before = user.status
    revoked = await accounts.set_status(session, user, status)
    verb = STATUS_VERBS[status]
    await _record_user(
        session,
        actor,
        user.id,
        user.email,
        f"user.{verb}",
        f"{user.email} {verb} by a platform admin ({revoked} session(s) revoked).",
        {"changes": audit.changes({"status": before}, {"status": status}), "revoked_sessions": revoked},
    )
    message = f"{user.email} is now {status}" + (f"; {revoked} session(s) revoked." if revoked else ".")
    return Outcome(message, {"status": status, "revoked_sessions": revoked})


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
        await _record_user(
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
    await _record_user(
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


async def revoke_sessions(session: AsyncSession, actor: Actor, user_id: uuid.UUID) -> Outcome:
    user = await accounts.get_user(session, user_id)
    revoked = await accounts.revoke_all_sessions(session, user_id)
    await _record_user(
        session,
        actor,
        user.id,
        user.email,
        "user.sessions_revoked",
        f"Every session of {user.email} revoked ({revoked}).",
        {"revoked_sessions": revoked},
    )
    return Outcome(
        f"Revoked {revoked} session(s) of {user.email}: they must sign in again.", {"revoked": revoked}
    )


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


async def reprocess_webhook(session: AsyncSession, actor: Actor, event_id: uuid.UUID) -> StripeWebhookEvent:
    row = await webhooks.reprocess(session, event_id)
    await audit.record(
        session,
        actor,
        organization_id=None,
        action="stripe_webhook_event.reprocess_requested",
        entity_type="stripe_webhook_event",
        entity_id=row.id,
        entity_name=f"{row.event_type} {row.stripe_event_id}",
        description=f"Stripe event {row.stripe_event_id} ({row.event_type}) queued again.",
        metadata={"retry_count": row.retry_count, "error_message": row.error_message},
    )
    return row


async def resolve_system_event(session: AsyncSession, actor: Actor, event_id: uuid.UUID) -> SystemEvent:
    assert actor.user_id is not None
    row = await triage.resolve_system_event(session, event_id, actor.user_id)
    await audit.record(
        session,
        actor,
        organization_id=None,
        action="system_event.resolved",
        entity_type="system_event",
        entity_id=row.id,
        entity_name=row.event_type,
        description=f"{row.severity} {row.event_type} marked resolved.",
    )
    return row


async def resolve_error(session: AsyncSession, actor: Actor, error_id: uuid.UUID) -> ErrorLog:
    assert actor.user_id is not None
    row = await triage.resolve_error(session, error_id, actor.user_id)
    await audit.record(
        session,
        actor,
        organization_id=None,
        action="error_log.resolved",
        entity_type="error_log",
        entity_id=row.id,
        entity_name=row.error_code or row.error_type,
        description=f"{row.error_type} {row.error_code or ''} marked resolved.".replace("  ", " "),
    )
    return row
