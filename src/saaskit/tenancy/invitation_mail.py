"""Invitations by e-mail: the mail that carries the link, and the in-app notice for invitees who
already have an account (docs/permissions.md, "Invitations").

The link's token is the invitation's only key and exists in clear in one place: the mail. The
invitation stores its SHA-256 (``tenancy.invitations``); the outbox holds the link sealed
(``mail.Secret``) until it is sent, then wipes it; the API's answer does not carry it.

- The mail (template ``invitation``) is always sent, whatever the invitee's notification
  settings: it *is* the invitation (nothing else carries the link). It goes in the request's
  transaction, with the organization's id (the invitee is not a member: row-level security lets
  the organization queue mail and notices about itself), and expires with the invitation.
- An invitee who already has an account also gets an in-app notice (kind ``invitation``, if they
  want that kind in the app), without the link: "open the invitation e-mail".
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit import mail, notifications
from saaskit.accounts.models import User
from saaskit.kit.state import Runtime
from saaskit.tenancy.models import Invitation, Organization, Team, Workspace


def accept_link(runtime: Runtime, token: str) -> mail.Secret:
    """``SAASKIT_PRODUCT_URL`` + ``SAASKIT_INVITATIONS_ACCEPT_PATH`` + ``?token=...`` (sealed)."""
    return mail.secret_link(runtime, runtime.settings.invitations.accept_path, token=token)


def days_left(expires_at: datetime, now: datetime) -> int:
    """Whole days the link works, rounded up ("stays open for 7 days"; 1 hour: 1 day)."""
    return max(1, math.ceil((expires_at - now).total_seconds() / 86400))


async def _target_name(session: AsyncSession, invitation: Invitation) -> str | None:
    if invitation.team_id is not None:
        return await session.scalar(select(Team.name).where(Team.id == invitation.team_id))
    if invitation.workspace_id is not None:
        return await session.scalar(select(Workspace.name).where(Workspace.id == invitation.workspace_id))
    return None


async def send(session: AsyncSession, runtime: Runtime, invitation: Invitation, token: str) -> uuid.UUID:
    """Queue the invitation mail with the link for ``token`` (and the in-app notice for an
    existing account); returns the outbox message's id. Flushes, never commits."""
    now = await session.scalar(select(func.now()))
    assert now is not None
    inviter = await session.get(User, invitation.invited_by) if invitation.invited_by else None
    organization = await session.get_one(Organization, invitation.organization_id)
    context = {
        "inviter_name": (inviter.name or inviter.email) if inviter else organization.name,
        "organization_name": organization.name,
        "role": invitation.role,
        "accept_url": accept_link(runtime, token),
        "expires_days": days_left(invitation.expires_at, now),
        "target_name": await _target_name(session, invitation),
    }
    invitee = await session.scalar(
        select(User).where(func.lower(User.email) == invitation.invitee_email, User.deleted_at.is_(None))
    )
    if invitee is not None and invitee.name:
        context["name"] = invitee.name
    mail_id = await mail.enqueue(
        session,
        runtime,
        to=invitation.invitee_email,
        template="invitation",
        context=context,
        user_id=invitee.id if invitee is not None else None,
        organization_id=invitation.organization_id,
        expires_at=invitation.expires_at,
    )
    if invitee is not None:
        await notifications.notify(
            session,
            user_id=invitee.id,
            kind="invitation",
            title=mail.subject_of(runtime, "invitation", {**context, "accept_url": mail.Secret("-")}),
            body=f"Open the invitation e-mail sent to {invitation.invitee_email} to join.",
            organization_id=invitation.organization_id,
            actor_id=invitation.invited_by,
            data={"invitation_id": str(invitation.id), "mail_id": str(mail_id)},
        )
    return mail_id
