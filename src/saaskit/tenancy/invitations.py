"""Invitations to an organization, a team or a workspace.

The link token is shown once and stored as SHA-256. Accepting needs a signed-in account whose
e-mail is the invited one; a token works once, until it expires, is revoked or is replaced by a
resend. ``app_invitation_for_token`` (SECURITY DEFINER) is how an invitee, who is not a member
yet, finds the invitation without any tenant context.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.access.service import Access
from saaskit.accounts.models import User
from saaskit.audit import service as audit
from saaskit.audit.service import Actor
from saaskit.kit.db import Context, current_context, set_context
from saaskit.kit.errors import Conflict, Forbidden, Gone, NotFound, Unprocessable
from saaskit.kit.hashing import new_token, token_hash
from saaskit.kit.pagination import keyset_page
from saaskit.tenancy import members, teams, workspaces
from saaskit.tenancy.models import (
    ORG_ROLES,
    TEAM_ROLES,
    WORKSPACE_ROLES,
    Invitation,
    OrganizationMember,
    TeamMember,
    WorkspaceMember,
)
from saaskit.tenancy.schemas import InvitationIn
from saaskit.webhooks import events as webhook_events

FIND_SQL = text(
    "SELECT id, organization_id, invitee_email, status, expires_at FROM app_invitation_for_token(:token_hash)"
)


@dataclass(frozen=True)
class FoundInvitation:
    id: uuid.UUID
    organization_id: uuid.UUID
    invitee_email: str
    status: str
    expires_at: datetime


def effective_status(invitation: Invitation, now: datetime) -> str:
    if invitation.status == "pending" and invitation.expires_at <= now:
        return "expired"
    return invitation.status


def _subject(invitation: Invitation) -> audit.Subject:
    return audit.Subject(invitation.organization_id, "invitation", invitation.id, invitation.invitee_email)


def _role_for_target(data: InvitationIn) -> str:
    if data.team_id is not None and data.workspace_id is not None:
        raise Unprocessable("invite to a team or to a workspace, not both", field="workspace_id")
    if data.team_id is not None:
        role = "team_member" if data.role == "member" else data.role
        allowed: tuple[str, ...] = TEAM_ROLES
    elif data.workspace_id is not None:
        role = "workspace_viewer" if data.role == "member" else data.role
        allowed = WORKSPACE_ROLES
    else:
        role, allowed = data.role, ORG_ROLES
    if role not in allowed:
        raise Unprocessable(f"role: must be one of {', '.join(allowed)}", field="role")
    return role


async def _require_team_manager(session: AsyncSession, access: Access, team_id: uuid.UUID) -> None:
    team = await teams.get_visible(session, access, team_id)
    if access.can("teams:write"):
        return
    lead = await session.scalar(
        select(TeamMember.id).where(
            TeamMember.team_id == team.id,
            TeamMember.user_id == access.user_id,
            TeamMember.role == "team_lead",
            TeamMember.left_at.is_(None),
        )
    )
    if lead is None:
        raise Forbidden(
            "inviting into a team needs teams:write or being its team_lead",
            field="team_id",
            code="permission_not_held",
        )


async def _require_workspace_manager(session: AsyncSession, access: Access, workspace_id: uuid.UUID) -> None:
    workspace = await workspaces.get_visible(session, access, workspace_id)
    if access.can("workspaces:write"):
        return
    admin = await session.scalar(
        select(WorkspaceMember.id).where(
            WorkspaceMember.workspace_id == workspace.id,
            WorkspaceMember.user_id == access.user_id,
            WorkspaceMember.role == "workspace_admin",
        )
    )
    if admin is None:
        raise Forbidden(
            "inviting into a workspace needs workspaces:write or being its workspace_admin",
            field="workspace_id",
            code="permission_not_held",
        )


async def create(
    session: AsyncSession, access: Access, actor: Actor, data: InvitationIn
) -> tuple[Invitation, str]:
    role = _role_for_target(data)
    email = data.email.lower()
    # The team or workspace must be one the inviter sees (404 otherwise) and manages: members:invite
    # alone does not let anyone make people team leads or workspace admins.
    if data.team_id is not None:
        await _require_team_manager(session, access, data.team_id)
    if data.workspace_id is not None:
        await _require_workspace_manager(session, access, data.workspace_id)
    if data.team_id is None and data.workspace_id is None:
        members._check_can_grant(access, role)
        already = await session.scalar(
            select(OrganizationMember.id)
            .join(User, User.id == OrganizationMember.user_id)
            .where(OrganizationMember.organization_id == access.organization_id, User.email == email)
        )
        if already is not None:
            raise Conflict(f"{email} is already a member", field="email", code="already_member")
    token = new_token("inv_")
    invitation = Invitation(
        organization_id=access.organization_id,
        team_id=data.team_id,
        workspace_id=data.workspace_id,
        invitee_email=email,
        role=role,
        token_hash=token_hash(token),
        # The endpoint fills in SAASKIT_INVITATIONS_EXPIRY_HOURS when the inviter gave none.
        expires_at=func.now() + timedelta(hours=data.expires_in_hours or 168),
        invited_by=access.user_id,
    )
    try:
        async with session.begin_nested():
            session.add(invitation)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"{email} already has a pending invitation here: resend it instead",
            field="email",
            code="already_invited",
        ) from exc
    await session.refresh(invitation)
    metadata = {
        "role": role,
        "team_id": str(data.team_id) if data.team_id else None,
        "workspace_id": str(data.workspace_id) if data.workspace_id else None,
    }
    await audit.record_about(
        session, actor, _subject(invitation), "created", f"Invited {email} as {role}.", metadata
    )
    return invitation, token


async def list_invitations(
    session: AsyncSession,
    access: Access,
    *,
    status: str | None,
    email: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Invitation], str | None]:
    query = select(Invitation).where(Invitation.organization_id == access.organization_id)
    if status == "expired":
        query = query.where(
            (Invitation.status == "expired")
            | ((Invitation.status == "pending") & (Invitation.expires_at <= func.now()))
        )
    elif status == "pending":
        query = query.where(Invitation.status == "pending", Invitation.expires_at > func.now())
    elif status is not None:
        query = query.where(Invitation.status == status)
    if email:
        query = query.where(Invitation.invitee_email == email.lower())
    return await keyset_page(
        session, query, created_at=Invitation.created_at, row_id=Invitation.id, limit=limit, cursor=cursor
    )


async def _get(session: AsyncSession, access: Access, invitation_id: uuid.UUID) -> Invitation:
    invitation = await session.get(Invitation, invitation_id, populate_existing=True)
    if invitation is None or invitation.organization_id != access.organization_id:
        raise NotFound("no such invitation", field="invitation_id")
    return invitation


async def revoke(session: AsyncSession, access: Access, actor: Actor, invitation_id: uuid.UUID) -> Invitation:
    invitation = await _get(session, access, invitation_id)
    if invitation.status != "pending":
        raise Conflict(f"the invitation is already {invitation.status}", code="invitation_not_pending")
    invitation.status = "revoked"
    invitation.responded_at = func.now()
    await session.flush()
    await session.refresh(invitation)
    description = f"Revoked the invitation of {invitation.invitee_email}."
    await audit.record_about(session, actor, _subject(invitation), "revoked", description)
    return invitation


async def resend(
    session: AsyncSession,
    access: Access,
    actor: Actor,
    invitation_id: uuid.UUID,
    *,
    expires_in_hours: int = 168,
) -> tuple[Invitation, str]:
    """A new token (the old one stops working) and a new expiry; pending or expired only."""
    invitation = await _get(session, access, invitation_id)
    if invitation.status not in ("pending", "expired"):
        raise Conflict(
            f"the invitation is {invitation.status}; create a new one", code="invitation_not_pending"
        )
    token = new_token("inv_")
    invitation.token_hash = token_hash(token)
    invitation.status = "pending"
    invitation.expires_at = func.now() + timedelta(hours=expires_in_hours)
    invitation.sent_count = Invitation.sent_count + 1
    await session.flush()
    await session.refresh(invitation)
    description = f"Sent the invitation of {invitation.invitee_email} again (new link)."
    metadata = {"sent_count": invitation.sent_count}
    await audit.record_about(session, actor, _subject(invitation), "resent", description, metadata)
    return invitation, token


async def find(session: AsyncSession, token: str) -> FoundInvitation | None:
    row = (await session.execute(FIND_SQL, {"token_hash": token_hash(token)})).one_or_none()
    return FoundInvitation(*row) if row is not None else None


async def _usable(session: AsyncSession, token: str, email: str) -> FoundInvitation:
    found = await find(session, token)
    if found is None:
        raise NotFound(
            "no invitation matches this token (it may have been replaced by a resend)",
            field="token",
            code="invitation_not_found",
        )
    if found.status in ("accepted", "declined"):
        raise Gone(f"this invitation was already {found.status}", field="token", code="invitation_used")
    if found.status == "revoked":
        raise Gone("this invitation was revoked", field="token", code="invitation_revoked")
    now = await session.scalar(select(func.now()))
    assert now is not None
    if found.status == "expired" or found.expires_at <= now:
        raise Gone("this invitation has expired: ask for a new one", field="token", code="invitation_expired")
    if found.invitee_email != email.lower():
        raise Forbidden("this invitation is for another e-mail address", field="token", code="email_mismatch")
    return found


async def invitation_email(session: AsyncSession, token: str) -> str | None:
    """The invited e-mail of a usable token (sign-up uses it to let invitees in during a beta)."""
    found = await find(session, token)
    return found.invitee_email if found is not None and found.status == "pending" else None


async def _claim(
    session: AsyncSession, status: str, *, user_id: uuid.UUID, email: str, token: str
) -> Invitation:
    """Pending -> accepted/declined in one conditional UPDATE: a token can win only once. The
    invitee is not a member yet, so the invitation's organization becomes the context here."""
    found = await _usable(session, token, email)
    await set_context(
        session,
        Context(
            user_id=user_id, organization_id=found.organization_id, service=current_context(session).service
        ),
    )
    claimed = await session.scalar(
        update(Invitation)
        .where(Invitation.id == found.id, Invitation.status == "pending")
        .values(status=status, accepted_by=user_id if status == "accepted" else None, responded_at=func.now())
        .returning(Invitation)
        .execution_options(populate_existing=True)
    )
    if claimed is None:
        raise Gone("this invitation was already used", field="token", code="invitation_used")
    return claimed


async def _join_target(session: AsyncSession, invitation: Invitation, user_id: uuid.UUID) -> None:
    """The team or workspace membership the invitation grants, unless the user already has it."""
    grant = {
        "organization_id": invitation.organization_id,
        "user_id": user_id,
        "role": invitation.role,
        "added_by": invitation.invited_by,
    }
    if invitation.team_id is not None:
        # Team memberships are ended (left_at), not deleted: only a current one counts.
        current = (
            TeamMember.team_id == invitation.team_id,
            TeamMember.user_id == user_id,
            TeamMember.left_at.is_(None),
        )
        if await session.scalar(select(TeamMember.id).where(*current)) is None:
            session.add(TeamMember(team_id=invitation.team_id, **grant))
    if invitation.workspace_id is not None:
        present = WorkspaceMember.workspace_id == invitation.workspace_id, WorkspaceMember.user_id == user_id
        if await session.scalar(select(WorkspaceMember.id).where(*present)) is None:
            session.add(WorkspaceMember(workspace_id=invitation.workspace_id, **grant))


async def accept(
    session: AsyncSession, actor: Actor, *, user_id: uuid.UUID, email: str, token: str
) -> Invitation:
    invitation = await _claim(session, "accepted", user_id=user_id, email=email, token=token)
    org_role = invitation.role if invitation.role in ORG_ROLES else "member"
    await members.add_member(
        session,
        actor,
        invitation.organization_id,
        user_id,
        org_role,
        invited_by=invitation.invited_by,
        invited_at=invitation.created_at,
    )
    await _join_target(session, invitation, user_id)
    await session.flush()
    description = f"{invitation.invitee_email} accepted the invitation as {invitation.role}."
    metadata = {"role": invitation.role}
    await audit.record_about(session, actor, _subject(invitation), "accepted", description, metadata)
    await webhook_events.invitation_accepted(session, invitation, user_id)
    return invitation


async def decline(
    session: AsyncSession, actor: Actor, *, user_id: uuid.UUID, email: str, token: str
) -> Invitation:
    invitation = await _claim(session, "declined", user_id=user_id, email=email, token=token)
    description = f"{invitation.invitee_email} declined the invitation."
    await audit.record_about(session, actor, _subject(invitation), "declined", description)
    return invitation


async def expire_overdue(session: AsyncSession) -> int:
    """Mark pending invitations past their expiry as expired (the periodic job; service context)."""
    result = await session.execute(
        update(Invitation)
        .where(Invitation.status == "pending", Invitation.expires_at <= func.now())
        .values(status="expired", responded_at=func.now())
        .returning(Invitation.id)
    )
    return len(result.all())
