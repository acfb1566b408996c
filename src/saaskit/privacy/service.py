"""Data-subject requests: asking for an export or an erasure, cancelling, the download link.
Services flush, never commit; jobs are deferred in the same transaction (saaskit.jobs.defer)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit import mail
from saaskit.accounts.models import User
from saaskit.audit.service import Actor, record_as_service
from saaskit.jobs import defer
from saaskit.kit.errors import Conflict, Gone, NotFound
from saaskit.kit.hashing import keyed_hash, new_token, token_hash
from saaskit.kit.state import Runtime
from saaskit.privacy.models import PrivacyRequest

OPEN = ("pending", "running")


def subject_hash(runtime: Runtime, user_id: uuid.UUID) -> str:
    return keyed_hash(runtime.secret, "privacy-subject", str(user_id))


async def _audit(
    session: AsyncSession, actor: Actor, action: str, request: PrivacyRequest, description: str
) -> None:
    # entity_id is the person's id: pseudonymised by the erasure (erasure.pseudonymise_subject).
    await record_as_service(
        session,
        actor,
        organization_id=None,
        action=f"privacy.{action}",
        entity_type="user",
        entity_id=request.user_id,
        description=description,
        metadata={"request_id": str(request.id), "kind": request.kind, "by_admin": request.by_admin},
    )


async def _open_request(
    session: AsyncSession, user_id: uuid.UUID, kind: str, *, lock: bool = False
) -> PrivacyRequest | None:
    query = (
        select(PrivacyRequest)
        .where(
            PrivacyRequest.user_id == user_id, PrivacyRequest.kind == kind, PrivacyRequest.status.in_(OPEN)
        )
        .order_by(PrivacyRequest.created_at.desc())
        .limit(1)
    )
    if lock:
        # The erasure job takes the same row lock when it starts: a cancel waits for it, then sees
        # "running" (409) instead of marking cancelled an erasure already under way.
        query = query.with_for_update().execution_options(populate_existing=True)
    found: PrivacyRequest | None = await session.scalar(query)
    return found


async def request_erasure(
    session: AsyncSession,
    runtime: Runtime,
    user_id: uuid.UUID,
    actor: Actor,
    *,
    grace_days: int | None = None,
    by_admin: bool = False,
    reason: str | None = None,
) -> tuple[PrivacyRequest, bool]:
    """Start (or find) the person's erasure; returns it and whether it is new. An admin's request
    on top of the person's own makes it an admin's (signing in no longer cancels it) and may only
    bring the date forward."""
    from saaskit.privacy import tasks  # the tasks import this module's callers

    days = runtime.settings.privacy.erasure_grace_days if grace_days is None else grace_days
    now = await session.scalar(select(func.now()))
    assert now is not None
    when = now + timedelta(days=days)
    existing = await _open_request(session, user_id, "erasure")
    if existing is not None:
        if by_admin:
            existing.by_admin = True
            existing.requested_by = actor.user_id
            existing.reason = reason or existing.reason
            existing.scheduled_for = min(existing.scheduled_for, when)
            await session.flush()
            await defer(session, tasks.erase, schedule_at=existing.scheduled_for, request_id=str(existing.id))
            await _audit(
                session, actor, "erasure_requested", existing, "an admin asked to erase this account"
            )
        return existing, False
    request = PrivacyRequest(
        kind="erasure",
        user_id=user_id,
        subject_hash=subject_hash(runtime, user_id),
        requested_by=actor.user_id if by_admin else None,
        by_admin=by_admin,
        reason=reason,
        scheduled_for=when,
    )
    session.add(request)
    await session.execute(update(User).where(User.id == user_id).values(data_deletion_requested_at=now))
    await session.flush()
    await defer(session, tasks.erase, schedule_at=when, request_id=str(request.id))
    if not by_admin:  # the person is told when, and how to change their mind
        user = await session.get_one(User, user_id)
        await mail.enqueue(
            session,
            runtime,
            to=user.email,
            template="account_deletion_scheduled",
            context={"ends_on": when.date(), "name": user.name},
            user_id=user_id,
        )
    await _audit(
        session,
        actor,
        "erasure_requested",
        request,
        f"erasure of this account requested, due {when:%Y-%m-%d %H:%M} UTC",
    )
    return request, True


async def cancel_erasure(session: AsyncSession, user_id: uuid.UUID, actor: Actor, how: str) -> PrivacyRequest:
    """Cancel the person's pending erasure: ``request`` (DELETE /api/me/deletion), ``sign_in``
    or ``admin``. The person cannot cancel an admin's request; nobody can once it runs."""
    request = await _open_request(session, user_id, "erasure", lock=True)
    if request is None:
        raise NotFound("there is no pending deletion request", code="no_deletion_request")
    if request.status == "running":
        raise Conflict("the erasure is already running; it cannot be cancelled", code="erasure_running")
    if request.by_admin and how != "admin":
        raise Conflict(
            "a platform admin asked for this erasure; only an admin can cancel it", code="erasure_by_admin"
        )
    request.status = "cancelled"
    request.cancelled_by = how
    request.cancelled_at = await session.scalar(select(func.now()))
    await session.execute(update(User).where(User.id == user_id).values(data_deletion_requested_at=None))
    await session.flush()
    await _audit(session, actor, "erasure_cancelled", request, f"erasure cancelled ({how})")
    return request


async def cancel_on_sign_in(session: AsyncSession, user: User) -> bool:
    """Called by every successful sign-in: signing in during the grace period is the person
    changing their mind. Costs nothing when no deletion is pending (the loaded user says so)."""
    if user.data_deletion_requested_at is None:
        return False
    request = await _open_request(session, user.id, "erasure")
    if request is None or request.by_admin or request.status != "pending":
        return False
    await cancel_erasure(session, user.id, Actor(user_id=user.id), "sign_in")
    return True


async def request_export(
    session: AsyncSession, user_id: uuid.UUID, actor: Actor, *, runtime: Runtime, by_admin: bool = False
) -> tuple[PrivacyRequest, bool]:
    from saaskit.privacy import tasks

    existing = await _open_request(session, user_id, "export")
    if existing is not None:
        return existing, False
    request = PrivacyRequest(
        kind="export",
        user_id=user_id,
        subject_hash=subject_hash(runtime, user_id),
        requested_by=actor.user_id if by_admin else None,
        by_admin=by_admin,
    )
    session.add(request)
    await session.flush()
    await defer(session, tasks.export_job, request_id=str(request.id))
    await _audit(
        session, actor, "export_requested", request, "export of everything about this account requested"
    )
    return request, True


async def get_request(
    session: AsyncSession, request_id: uuid.UUID, *, user_id: uuid.UUID | None = None, kind: str | None = None
) -> PrivacyRequest:
    query = select(PrivacyRequest).where(PrivacyRequest.id == request_id)
    if user_id is not None:
        query = query.where(PrivacyRequest.user_id == user_id)
    if kind is not None:
        query = query.where(PrivacyRequest.kind == kind)
    found: PrivacyRequest | None = await session.scalar(query)
    if found is None:
        raise NotFound("no such request", code="request_not_found", field="request_id")
    return found


async def list_requests(session: AsyncSession, user_id: uuid.UUID) -> list[PrivacyRequest]:
    rows = await session.scalars(
        select(PrivacyRequest)
        .where(PrivacyRequest.user_id == user_id)
        .order_by(PrivacyRequest.created_at.desc())
    )
    return list(rows.all())


@dataclass(frozen=True)
class Link:
    token: str
    expires_at: datetime


async def issue_link(session: AsyncSession, runtime: Runtime, request: PrivacyRequest, actor: Actor) -> Link:
    """A one-time link to the finished archive; a new link replaces the previous one."""
    if request.kind != "export" or request.status != "completed" or request.archive_expires_at is None:
        raise Conflict("the export is not ready", code="export_not_ready")
    now = await session.scalar(select(func.now()))
    assert now is not None
    if request.archive_expires_at <= now:
        raise Gone("the export expired; ask for a new one", code="export_expired")
    token = new_token("sxp_")
    expires = min(
        now + timedelta(minutes=runtime.settings.privacy.export_link_minutes), request.archive_expires_at
    )
    request.download_token_hash = token_hash(token)
    request.download_expires_at = expires
    await session.flush()
    await _audit(session, actor, "export_link_issued", request, "one-time download link issued")
    return Link(token, expires)


DOWNLOAD = text(
    "UPDATE privacy_requests SET download_token_hash = NULL, downloaded_at = now() "
    "WHERE download_token_hash = :hash AND kind = 'export' AND status = 'completed' "
    "AND download_expires_at > now() AND archive IS NOT NULL RETURNING id, archive"
)


async def take_download(session: AsyncSession, token: str, actor: Actor) -> tuple[uuid.UUID, bytes]:
    """Spend a download token (the caller runs in the service context: the link is the credential)."""
    row = (await session.execute(DOWNLOAD, {"hash": token_hash(token)})).one_or_none()
    if row is None:
        raise Gone("this download link was used, expired or never existed", code="link_invalid")
    request = await session.get_one(PrivacyRequest, row.id)
    await _audit(session, actor, "export_downloaded", request, "export archive downloaded")
    return row.id, bytes(row.archive)
