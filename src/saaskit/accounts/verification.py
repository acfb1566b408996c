"""E-mail verification and change of e-mail (docs/accounts.md).

- Sign-up queues an ``email_verification`` mail with a one-time link (``send_verification``, in
  the sign-up's transaction); ``POST /api/me/email-verification`` sends a new one (the older link
  stops working).
- A change of address (``POST /api/me/email``, with the current password) changes nothing yet: it
  sends the link to the NEW address (``email_verification`` mail) and a notice to the CURRENT one
  (``email_change_requested``). Opening the link changes the address, marks it verified, and
  tells the OLD address (``email_changed``, and an in-app security notice).
- Both links land on one page of the product, ``/verify-email?token=...``, which posts the token
  to ``POST /api/auth/verify-email`` (``confirm``): the token says which of the two it is.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit import mail
from saaskit.accounts import service, tokens
from saaskit.accounts.models import User
from saaskit.accounts.recovery import audit
from saaskit.audit.service import Actor
from saaskit.kit.db import Context, set_context
from saaskit.kit.errors import Conflict, Forbidden, Unprocessable
from saaskit.kit.state import Runtime
from saaskit.notifications import service as notifications

VERIFY_PATH = "/verify-email"


def _ttl(runtime: Runtime) -> timedelta:
    return timedelta(hours=runtime.settings.auth.email_verification_ttl_hours)


async def _send_link(
    session: AsyncSession,
    runtime: Runtime,
    user: User,
    *,
    purpose: str,
    to: str,
    ip_hash: str | None,
) -> tokens.Issued:
    issued = await tokens.issue(
        session, user_id=user.id, purpose=purpose, email=to, ttl=_ttl(runtime), ip_hash=ip_hash
    )
    await mail.enqueue(
        session,
        runtime,
        to=to,
        template="email_verification",
        context={
            "verify_url": mail.secret_link(runtime, VERIFY_PATH, token=issued.token),
            "expires_hours": runtime.settings.auth.email_verification_ttl_hours,
            "name": user.name,
        },
        user_id=user.id,
        expires_at=issued.expires_at,
    )
    return issued


async def send_verification(
    session: AsyncSession, runtime: Runtime, user: User, *, ip_hash: str | None = None
) -> tokens.Issued:
    """Queue a verification link to the account's address (the session's context must be the
    user's or the service's). Flushes."""
    return await _send_link(
        session, runtime, user, purpose="email_verification", to=user.email, ip_hash=ip_hash
    )


@dataclass(frozen=True)
class LinkSent:
    sent_to: str
    expires_at: datetime


async def resend(
    session: AsyncSession, runtime: Runtime, user_id: uuid.UUID, *, ip_hash: str | None
) -> LinkSent:
    user = await service.get_user(session, user_id)
    if user.email_verified:
        raise Conflict("this e-mail address is already verified", field="email", code="already_verified")
    issued = await send_verification(session, runtime, user, ip_hash=ip_hash)
    return LinkSent(user.email, issued.expires_at)


# -- change of address -------------------------------------------------------------------------


async def request_change(
    session: AsyncSession,
    runtime: Runtime,
    *,
    user_id: uuid.UUID,
    password: str,
    new_email: str,
    ip_hash: str | None,
) -> LinkSent:
    """Check the password (read and verified with nothing held), then send the link to the new
    address and the notice to the current one. The address itself does not change here."""
    new_email = service.normalize_email(new_email)
    async with runtime.db.session(Context(user_id=user_id)) as reading:
        current = (
            await reading.execute(select(User.email, User.password_hash).where(User.id == user_id))
        ).one()
    if new_email == current.email:
        raise Unprocessable(
            "new_email: this is already the account's address", field="new_email", code="same_email"
        )
    if not await runtime.passwords.verify(current.password_hash, password):
        raise Forbidden("the current password is wrong", field="password", code="wrong_password")
    await set_context(session, Context(user_id=user_id))
    if await session.scalar(select(User.id).where(User.email == new_email)) is not None:
        # Sign-up answers the same for a taken address: this tells nothing it does not.
        raise Conflict("an account with this e-mail already exists", field="new_email", code="email_taken")
    user = await service.get_user(session, user_id)
    issued = await _send_link(session, runtime, user, purpose="email_change", to=new_email, ip_hash=ip_hash)
    await notifications.tell(
        session,
        runtime,
        user_id=user_id,
        kind="security",
        mail_template="email_change_requested",
        context={"new_email": new_email, "expires_hours": runtime.settings.auth.email_verification_ttl_hours},
    )
    await audit(
        session,
        Actor(user_id=user_id, ip_hash=ip_hash, request="POST /api/me/email"),
        user_id,
        user.email,
        "user.email_change_requested",
        f"{user.email} asked to change the account's address to {new_email}.",
        {"new_email": new_email, "expires_at": issued.expires_at.isoformat()},
    )
    return LinkSent(new_email, issued.expires_at)


# -- confirming either link --------------------------------------------------------------------
@dataclass(frozen=True)
class Confirmed:
    purpose: str
    user_id: uuid.UUID
    email: str
    previous_email: str | None = None


async def confirm(session: AsyncSession, runtime: Runtime, *, token: str, ip_hash: str | None) -> Confirmed:
    """Use a verification or change-of-address link. Refusals change nothing."""
    found = tokens.usable(await tokens.find(session, token), ("email_verification", "email_change"))
    if found.user_status != "active":
        raise Forbidden(f"this account is {found.user_status}", code="account_suspended")
    await set_context(session, Context(user_id=found.user_id))
    actor = Actor(user_id=found.user_id, ip_hash=ip_hash, request="POST /api/auth/verify-email")
    if found.purpose == "email_verification":
        await tokens.claim(session, found)
        await session.execute(
            update(User)
            .where(User.id == found.user_id)
            .values(email_verified=True)
            .execution_options(synchronize_session=False)
        )
        await audit(
            session, actor, found.user_id, found.email, "user.email_verified", f"{found.email} was verified."
        )
        return Confirmed("email_verification", found.user_id, found.email)
    return await _change_address(session, runtime, found, actor)


async def _change_address(
    session: AsyncSession, runtime: Runtime, found: tokens.FoundToken, actor: Actor
) -> Confirmed:
    user = await service.get_user(session, found.user_id)
    old_email, new_email = user.email, found.email
    if await session.scalar(select(User.id).where(User.email == new_email, User.id != user.id)) is not None:
        raise Conflict("an account with this e-mail already exists", field="token", code="email_taken")
    await tokens.claim(session, found)
    # Told before the address changes: the notice goes to the OLD address.
    await notifications.tell(
        session,
        runtime,
        user_id=user.id,
        kind="security",
        mail_template="email_changed",
        context={"new_email": new_email, "changed_at": datetime.now(UTC)},
    )
    try:
        async with session.begin_nested():
            user.email = new_email
            user.email_verified = True
            await session.flush()
    except IntegrityError as exc:  # taken between the check and the write
        raise Conflict(
            "an account with this e-mail already exists", field="token", code="email_taken"
        ) from exc
    # Links sent to the old address (a reset, a verification) no longer apply.
    voided = await tokens.revoke(session, user.id)
    await audit(
        session,
        actor,
        user.id,
        new_email,
        "user.email_changed",
        f"The account's address changed from {old_email} to {new_email} (confirmed by link).",
        {"changes": {"email": {"from": old_email, "to": new_email}}, "links_voided": voided},
    )
    return Confirmed("email_change", user.id, new_email, previous_email=old_email)
