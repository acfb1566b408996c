"""Invitations: managed under ``/api/orgs/{org_id}/invitations``, answered under ``/api/invitations``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import func, select

from saaskit.access.dependencies import OrgRequest, org_access
from saaskit.accounts import service as accounts
from saaskit.accounts.dependencies import CurrentUser, user_key
from saaskit.audit.service import Actor
from saaskit.kit.deps import ClientDep, DbSession, RuntimeDep
from saaskit.kit.pagination import CursorParam, LimitParam, Page
from saaskit.kit.ratelimit import rate_limit
from saaskit.tenancy import invitation_mail, invitations
from saaskit.tenancy.models import ORG_ROLES, Invitation
from saaskit.tenancy.schemas import (
    AcceptedOut,
    InvitationIn,
    InvitationOut,
    InvitationSentOut,
    InvitationTokenIn,
)

router = APIRouter(prefix="/api/orgs/{org_id}/invitations", tags=["invitations"])
invitee_router = APIRouter(prefix="/api/invitations", tags=["invitations"])

Invite = Annotated[OrgRequest, Depends(org_access("members:invite"))]
# Rate limits (docs/limits.md): sending invitations, and answering them, by client IP and by user.
SENDING = [rate_limit("invitations_per_ip"), rate_limit("invitations_per_user", by=user_key)]


async def invitation_key(invitation_id: uuid.UUID) -> str:
    """One invitation, whoever resends it: its invitee is not mailed again and again."""
    return f"invitation:{invitation_id}"


RESENDING = [*SENDING, rate_limit("invitation_resends_per_invitation", by=invitation_key)]
ANSWERING = [rate_limit("invitation_answers_per_ip"), rate_limit("invitation_answers_per_user", by=user_key)]


def _out(invitation: Invitation, now: datetime) -> InvitationOut:
    out = InvitationOut.model_validate(invitation)
    out.status = invitations.effective_status(invitation, now)
    return out


def _sent(invitation: Invitation, mail_id: uuid.UUID) -> InvitationSentOut:
    return InvitationSentOut(**InvitationOut.model_validate(invitation).model_dump(), mail_id=mail_id)


@router.post(
    "",
    status_code=201,
    response_model=InvitationSentOut,
    summary="Invite someone: the link is e-mailed to them (never in this answer)",
    dependencies=SENDING,
)
async def create_invitation(
    body: InvitationIn, session: DbSession, org: Invite, runtime: RuntimeDep
) -> InvitationSentOut:
    if body.expires_in_hours is None:
        body = body.model_copy(update={"expires_in_hours": runtime.settings.invitations.expiry_hours})
    invitation, token = await invitations.create(session, org.access, org.actor, body)
    return _sent(invitation, await invitation_mail.send(session, runtime, invitation, token))


@router.get("", response_model=Page[InvitationOut], summary="Invitations, filterable by status and e-mail")
async def list_invitations(
    session: DbSession,
    org: Invite,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
    status: Annotated[str | None, Query(pattern="^(pending|accepted|declined|revoked|expired)$")] = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
) -> Page[InvitationOut]:
    rows, next_cursor = await invitations.list_invitations(
        session, org.access, status=status, email=email, limit=limit, cursor=cursor
    )
    now = await session.scalar(select(func.now()))
    assert now is not None
    return Page[InvitationOut](items=[_out(i, now) for i in rows], next_cursor=next_cursor)


@router.post("/{invitation_id}/revoke", response_model=InvitationOut, summary="Revoke a pending invitation")
async def revoke_invitation(invitation_id: uuid.UUID, session: DbSession, org: Invite) -> InvitationOut:
    invitation = await invitations.revoke(session, org.access, org.actor, invitation_id)
    return InvitationOut.model_validate(invitation)


@router.post(
    "/{invitation_id}/resend",
    response_model=InvitationSentOut,
    summary="Mail it again with a new link (the old link stops working) and a new expiry",
    dependencies=RESENDING,
)
async def resend_invitation(
    invitation_id: uuid.UUID, session: DbSession, org: Invite, runtime: RuntimeDep
) -> InvitationSentOut:
    hours = runtime.settings.invitations.expiry_hours
    invitation, token = await invitations.resend(
        session, org.access, org.actor, invitation_id, expires_in_hours=hours
    )
    return _sent(invitation, await invitation_mail.send(session, runtime, invitation, token))


async def _me(session: DbSession, principal: CurrentUser, client: ClientDep, path: str) -> tuple[Actor, str]:
    user = await accounts.get_user(session, principal.user_id)
    return Actor(user_id=principal.user_id, ip_hash=client.ip_hash, request=f"POST {path}"), user.email


@invitee_router.post(
    "/accept",
    response_model=AcceptedOut,
    summary="Accept an invitation sent to my e-mail",
    dependencies=ANSWERING,
)
async def accept_invitation(
    body: InvitationTokenIn, principal: CurrentUser, session: DbSession, client: ClientDep
) -> AcceptedOut:
    actor, email = await _me(session, principal, client, "/api/invitations/accept")
    invitation = await invitations.accept(
        session, actor, user_id=principal.user_id, email=email, token=body.token
    )
    return AcceptedOut(
        organization_id=invitation.organization_id,
        role=invitation.role if invitation.role in ORG_ROLES else "member",
        team_id=invitation.team_id,
        workspace_id=invitation.workspace_id,
    )


@invitee_router.post(
    "/decline",
    status_code=200,
    response_model=InvitationOut,
    summary="Decline an invitation",
    dependencies=ANSWERING,
)
async def decline_invitation(
    body: InvitationTokenIn, principal: CurrentUser, session: DbSession, client: ClientDep
) -> InvitationOut:
    actor, email = await _me(session, principal, client, "/api/invitations/decline")
    invitation = await invitations.decline(
        session, actor, user_id=principal.user_id, email=email, token=body.token
    )
    return InvitationOut.model_validate(invitation)
