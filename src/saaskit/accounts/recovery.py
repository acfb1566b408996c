"""Password reset by e-mail (docs/accounts.md, "Password reset").

Asking (``POST /api/auth/password-reset``) must not tell whether an address has an account, by
its answer or by its timing. So the request does the same work for every address: it counts the
rate limits (per client IP, and per address as a keyed hash, the same whether or not an account
has it), seals the address (``kit.crypto``: a queued job's arguments reveal no address) and defers
the ``accounts.send_password_reset`` job, in its transaction; then answers 202. The job, later and
out of the requester's sight, looks the address up: for an active account it makes a one-time link
(``accounts.tokens``), queues the ``password_reset`` mail and writes the audit row; for any other
address it does nothing at all.

Confirming (``POST /api/auth/password-reset/confirm``) checks the token in a short transaction of
its own, checks the new password against the password policy, hashes it with nothing held, then in
the request's transaction uses the token (once), sets the password, revokes every session and every
other live link of the user, lifts the sign-in lockout of the client's address, tells the user (an
in-app security notice) and writes the audit row. A bad token or a refused password changes nothing.
"""

from __future__ import annotations

import base64
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit import mail
from saaskit.accounts import service, tokens
from saaskit.accounts.models import User
from saaskit.accounts.password_policy import check_new_password
from saaskit.audit import service as audit_service
from saaskit.audit.service import Actor
from saaskit.jobs import defer
from saaskit.kit import crypto
from saaskit.kit.db import Context, set_context
from saaskit.kit.errors import Forbidden
from saaskit.kit.ratelimit import LOCKOUT, limiter_of
from saaskit.kit.state import Runtime
from saaskit.notifications import service as notifications

logger = logging.getLogger(__name__)

RESET_PATH = "/reset-password"
SEAL_PURPOSE = "password-reset-request"
SEAL_ASSOCIATED = b"accounts.send_password_reset"


def requested_message(runtime: Runtime) -> str:
    minutes = runtime.settings.auth.password_reset_ttl_minutes
    return (
        "If an account uses this address, a link to choose a new password is on its way to it. "
        f"The link works once, for {minutes} minutes."
    )


async def audit(
    session: AsyncSession,
    actor: Actor,
    user_id: uuid.UUID,
    email: str,
    action: str,
    description: str,
    metadata: dict[str, Any] | None = None,
) -> None:
    """The audit row of an account event (platform-wide: written in the service context, which
    is restored afterwards)."""
    await audit_service.record_as_service(
        session,
        actor,
        organization_id=None,
        action=action,
        entity_type="user",
        entity_id=user_id,
        entity_name=email,
        description=description,
        metadata=metadata or {},
    )


# -- asking ------------------------------------------------------------------------------------
def seal_address(runtime: Runtime, email: str) -> str:
    sealed = crypto.seal(runtime.secret, SEAL_PURPOSE, email.encode(), associated=SEAL_ASSOCIATED)
    return base64.urlsafe_b64encode(sealed).decode()


def open_address(runtime: Runtime, sealed: str) -> str:
    raw = base64.urlsafe_b64decode(sealed.encode())
    return crypto.unseal(runtime.secret, SEAL_PURPOSE, raw, associated=SEAL_ASSOCIATED).decode()


async def request_reset(session: AsyncSession, runtime: Runtime, *, email: str, ip_hash: str | None) -> None:
    """The same work whatever the address: the per-address limit, then one job (deferred in
    ``session``'s transaction). ``RateLimited`` past the limit."""
    from saaskit.accounts.recovery_tasks import send_password_reset

    email = service.normalize_email(email)
    await limiter_of(runtime).hit("password_reset_per_email", service.account_key(runtime, email))
    await defer(session, send_password_reset, sealed_email=seal_address(runtime, email), ip_hash=ip_hash)


async def send_reset_link(
    session: AsyncSession, runtime: Runtime, *, email: str, ip_hash: str | None
) -> bool:
    """The job's work (service context): a link and its mail for an active account; nothing for
    any other address. True when a mail was queued."""
    user = await session.scalar(select(User).where(User.email == service.normalize_email(email)))
    if user is None or user.deleted_at is not None or user.status != "active":
        return False
    ttl = timedelta(minutes=runtime.settings.auth.password_reset_ttl_minutes)
    issued = await tokens.issue(
        session, user_id=user.id, purpose="password_reset", email=user.email, ttl=ttl, ip_hash=ip_hash
    )
    await mail.enqueue(
        session,
        runtime,
        to=user.email,
        template="password_reset",
        context={
            "reset_url": mail.secret_link(runtime, RESET_PATH, token=issued.token),
            "expires_minutes": runtime.settings.auth.password_reset_ttl_minutes,
            "name": user.name,
        },
        user_id=user.id,
        expires_at=issued.expires_at,
    )
    await audit(
        session,
        Actor(user_id=None, ip_hash=ip_hash, request="POST /api/auth/password-reset"),
        user.id,
        user.email,
        "user.password_reset_requested",
        f"A password-reset link was sent to {user.email}.",
        {"expires_at": issued.expires_at.isoformat()},
    )
    return True


# -- confirming --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResetDone:
    email: str
    revoked_sessions: int


async def confirm_reset(
    session: AsyncSession, runtime: Runtime, *, token: str, password: str, ip_hash: str | None
) -> ResetDone:
    """Set the password a link allows. The token is read and the password hashed before
    ``session`` is used (nothing held meanwhile); refusals change nothing."""
    async with runtime.db.session() as reading:
        found = tokens.usable(await tokens.find(reading, token), ("password_reset",))
        await set_context(reading, Context(user_id=found.user_id))
        name = (await reading.execute(select(User.name).where(User.id == found.user_id))).scalar()
    if found.user_status != "active":
        raise Forbidden(
            f"this account is {found.user_status}; its password cannot be reset", code="account_suspended"
        )
    # Every rule a new password meets at sign-up (length, breached lists, the user's own e-mail
    # and name, strength), so a reset is no way around them.
    await check_new_password(runtime.settings.auth, password, email=found.user_email, name=name)
    password_hash = await runtime.passwords.hash(password)
    await set_context(session, Context(user_id=found.user_id))
    await tokens.claim(session, found)
    # Not locked_until: an operator's lock outlives a reset (docs/accounts.md).
    await session.execute(
        update(User)
        .where(User.id == found.user_id)
        .values(password_hash=password_hash, password_changed_at=func.now(), failed_sign_in_count=0)
        .execution_options(synchronize_session=False)
    )
    revoked = await service.revoke_all_sessions(session, found.user_id)
    voided = await tokens.revoke(session, found.user_id)
    if ip_hash:
        await limiter_of(runtime).clear(LOCKOUT, service.account_key(runtime, found.user_email), ip_hash)
    await notifications.tell(
        session,
        runtime,
        user_id=found.user_id,
        kind="security",
        title="Your password was reset",
        body=f"Every session was signed out ({revoked}). If this was not you, contact support.",
    )
    await audit(
        session,
        Actor(user_id=found.user_id, ip_hash=ip_hash, request="POST /api/auth/password-reset/confirm"),
        found.user_id,
        found.user_email,
        "user.password_reset",
        f"The password of {found.user_email} was reset by e-mail link ({revoked} session(s) revoked).",
        {"revoked_sessions": revoked, "links_voided": voided},
    )
    return ResetDone(email=found.user_email, revoked_sessions=revoked)
