"""Two-factor sign-in (TOTP): enrolment, the second step of a sign-in, recovery codes, disabling,
and organizations that require it. Flushes, never commits (docs/accounts.md).

Password checks (starting an enrolment, new recovery codes, disabling) hash outside any
transaction, as ``service.change_password`` does: the hash is read in a short transaction of
its own, verified with nothing held, then the request's session writes.

Every change is audited (``activities``, platform-level rows: ``two_factor.enabled``,
``two_factor.disabled``, ``two_factor.recovery_codes_regenerated``,
``two_factor.recovery_code_used``, ``two_factor.sign_in_failed``), written with the service
context for the one statement (the user's own context may not write platform-level rows).
Turning it on or off, new recovery codes and a spent recovery code also leave the user an
in-app notice of kind ``security`` (which cannot be switched off).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts import totp
from saaskit.accounts.models import User
from saaskit.accounts.schemas import DeviceIn
from saaskit.accounts.service import ClientInfo, IssuedSession, SignInRefused
from saaskit.accounts.service import _open_session as open_session
from saaskit.accounts.two_factor_models import UserRecoveryCode, UserTwoFactor
from saaskit.audit import service as audit
from saaskit.audit.service import Actor
from saaskit.kit.crypto import CannotOpen
from saaskit.kit.db import Context, current_context, set_context
from saaskit.kit.errors import Conflict, Forbidden, NotFound, Unprocessable
from saaskit.kit.ratelimit import RateLimited, limiter_of
from saaskit.kit.state import Runtime
from saaskit.notifications import service as notifications
from saaskit.tenancy.models import Organization
from saaskit.tracking.records import record_activity

PER_USER = "two_factor_per_user"
WRONG_CODE = "The code is wrong or has expired."
REUSED_CODE = "This code was already used: wait for the next one from your app."
NOTICES = {
    "enabled": "Two-factor sign-in was turned on",
    "disabled": "Two-factor sign-in was turned off",
    "reset": "An operator turned two-factor sign-in off",
    "recovery_codes_regenerated": "New recovery codes were made; the old ones no longer work",
    "recovery_code_used": "A recovery code was used",
}
BAD_CHALLENGE = "The sign-in has expired or is not valid: sign in with your password again."


@dataclass(frozen=True)
class Enrolment:
    secret: str
    otpauth_uri: str


@dataclass(frozen=True)
class Status:
    enabled: bool
    pending: bool
    confirmed_at: datetime | None
    recovery_codes_left: int


async def record(
    session: AsyncSession, actor: Actor, user: User, event: str, text: str, **details: Any
) -> None:
    """An audit row about ``user`` (no organization), written with the service context."""
    previous = current_context(session)
    await set_context(session, Context(user_id=previous.user_id, service=True))
    await audit.record(
        session,
        actor,
        organization_id=None,
        action=f"two_factor.{event}",
        entity_type="user",
        entity_id=user.id,
        entity_name=user.email,
        description=text,
        metadata=details or None,
    )
    if event in NOTICES:
        # A security notice: always told, in the app (notifications' kind "security").
        await notifications.notify(session, user_id=user.id, kind="security", title=NOTICES[event])
    await set_context(session, previous)


async def status(session: AsyncSession, user_id: uuid.UUID) -> Status:
    row = await totp.get_enrolment(session, user_id)
    enabled = row is not None and row.confirmed_at is not None
    left = await totp.recovery_codes_left(session, user_id) if enabled else 0
    return Status(enabled, row is not None and not enabled, row.confirmed_at if row else None, left)


async def _check_password(runtime: Runtime, user_id: uuid.UUID, password: str) -> None:
    """403 ``wrong_password`` unless ``password`` is the user's (hashed with nothing held)."""
    async with runtime.db.session(Context(user_id=user_id)) as reading:
        current_hash = await reading.scalar(select(User.password_hash).where(User.id == user_id))
    if not await runtime.passwords.verify(current_hash, password):
        raise Forbidden("the password is wrong", field="password", code="wrong_password")


async def _hit(runtime: Runtime, user_id: uuid.UUID) -> None:
    await limiter_of(runtime).hit(PER_USER, str(user_id))


def _secret(runtime: Runtime, row: UserTwoFactor) -> str:
    try:
        return totp.open_secret(runtime.secret, row.user_id, row.secret_sealed)
    except CannotOpen:
        # The instance secret changed since enrolment: the secret is lost, recovery codes remain.
        return ""


async def _new_recovery_codes(session: AsyncSession, runtime: Runtime, user_id: uuid.UUID) -> list[str]:
    codes = totp.new_recovery_codes()
    await session.execute(delete(UserRecoveryCode).where(UserRecoveryCode.user_id == user_id))
    await session.execute(
        insert(UserRecoveryCode),
        [{"user_id": user_id, "code_hash": totp.recovery_code_hash(runtime.secret, c)} for c in codes],
    )
    return codes


async def start_enrolment(
    session: AsyncSession, runtime: Runtime, *, user_id: uuid.UUID, password: str
) -> Enrolment:
    """A new secret (replacing an unconfirmed one), returned this once with its otpauth:// URI.
    The password is asked again: a stolen session alone must not lock the owner out."""
    await _check_password(runtime, user_id, password)
    await set_context(session, Context(user_id=user_id))
    user = await session.get_one(User, user_id)
    if await totp.is_enabled(session, user_id):
        raise Conflict(
            "two-factor sign-in is already on: disable it first to enrol another app",
            code="two_factor_already_enabled",
        )
    secret = totp.new_secret()
    sealed = totp.seal_secret(runtime.secret, user_id, secret)
    await session.execute(
        pg_insert(UserTwoFactor)
        .values(user_id=user_id, secret_sealed=sealed)
        .on_conflict_do_update(
            index_elements=[UserTwoFactor.user_id],
            set_={"secret_sealed": sealed, "confirmed_at": None, "last_used_step": None},
        )
    )
    issuer = runtime.settings.auth.totp_issuer or runtime.settings.product.name
    return Enrolment(secret, totp.provisioning_uri(secret, account=user.email, issuer=issuer))


async def confirm_enrolment(
    session: AsyncSession, runtime: Runtime, actor: Actor, *, user_id: uuid.UUID, code: str
) -> list[str]:
    """Turn two-factor sign-in on with a first code; returns the recovery codes (shown once)."""
    await _hit(runtime, user_id)
    await set_context(session, Context(user_id=user_id))
    row = await totp.get_enrolment(session, user_id)
    if row is None:
        raise NotFound("no enrolment was started: POST /api/me/two-factor/enrol first", code="not_enrolling")
    if row.confirmed_at is not None:
        raise Conflict("two-factor sign-in is already on", code="two_factor_already_enabled")
    step = totp.matching_step(_secret(runtime, row), code)
    if step is None:
        raise Unprocessable(f"code: {WRONG_CODE}", field="code", code="invalid_code")
    if not await totp.spend_step(session, user_id, step, confirming=True):
        raise Conflict(f"code: {REUSED_CODE}", field="code", code="code_reused")
    codes = await _new_recovery_codes(session, runtime, user_id)
    user = await session.get_one(User, user_id)
    await record(session, actor, user, "enabled", "Turned two-factor sign-in on.")
    return codes


async def _second_factor(
    session: AsyncSession,
    runtime: Runtime,
    user_id: uuid.UUID,
    *,
    code: str | None,
    recovery_code: str | None,
) -> str | SignInRefused:
    """Check a TOTP code or a recovery code (spending it): the method that passed, or why not."""
    if recovery_code:
        if await totp.spend_recovery_code(session, runtime.secret, user_id, recovery_code):
            return "recovery_code"
        return SignInRefused(401, "invalid_code", "The recovery code is wrong or was already used.")
    row = await totp.get_enrolment(session, user_id)
    if row is None or row.confirmed_at is None:
        return SignInRefused(409, "two_factor_not_enabled", "Two-factor sign-in is not on for this account.")
    step = totp.matching_step(_secret(runtime, row), code or "")
    if step is None:
        return SignInRefused(401, "invalid_code", WRONG_CODE)
    if not await totp.spend_step(session, user_id, step, confirming=False):
        return SignInRefused(401, "code_reused", REUSED_CODE)
    return "totp"


async def _require_factor(
    session: AsyncSession,
    runtime: Runtime,
    actor: Actor,
    user_id: uuid.UUID,
    *,
    code: str | None,
    recovery_code: str | None,
) -> User:
    await _hit(runtime, user_id)
    await set_context(session, Context(user_id=user_id))
    user = await session.get_one(User, user_id)
    outcome = await _second_factor(session, runtime, user_id, code=code, recovery_code=recovery_code)
    if isinstance(outcome, SignInRefused):
        field = "recovery_code" if recovery_code else "code"
        status = 409 if outcome.status_code == 409 else 403
        raise Forbidden(outcome.message, field=field, code=outcome.code, status_code=status)
    if outcome == "recovery_code":
        await record(session, actor, user, "recovery_code_used", "Used a recovery code.")
    return user


async def regenerate_recovery_codes(
    session: AsyncSession,
    runtime: Runtime,
    actor: Actor,
    *,
    user_id: uuid.UUID,
    password: str,
    code: str | None,
    recovery_code: str | None,
) -> list[str]:
    """Ten new recovery codes (the old ones stop working); needs the password and a code."""
    await _check_password(runtime, user_id, password)
    user = await _require_factor(session, runtime, actor, user_id, code=code, recovery_code=recovery_code)
    codes = await _new_recovery_codes(session, runtime, user_id)
    await record(session, actor, user, "recovery_codes_regenerated", "Made new recovery codes.")
    return codes


async def disable(
    session: AsyncSession,
    runtime: Runtime,
    actor: Actor,
    *,
    user_id: uuid.UUID,
    password: str,
    code: str | None,
    recovery_code: str | None,
) -> None:
    """Turn two-factor sign-in off: needs the password and a code (or a recovery code)."""
    await _check_password(runtime, user_id, password)
    user = await _require_factor(session, runtime, actor, user_id, code=code, recovery_code=recovery_code)
    await session.execute(delete(UserTwoFactor).where(UserTwoFactor.user_id == user_id))
    await session.execute(delete(UserRecoveryCode).where(UserRecoveryCode.user_id == user_id))
    await record(session, actor, user, "disabled", "Turned two-factor sign-in off.")


async def reset_by_operator(session: AsyncSession, actor: Actor, user: User) -> bool:
    """An operator turns a user's two-factor sign-in off (lost app and recovery codes, identity
    checked outside saaskit). Service context. False: it was not on."""
    removed = await session.scalar(
        delete(UserTwoFactor).where(UserTwoFactor.user_id == user.id).returning(UserTwoFactor.user_id)
    )
    await session.execute(delete(UserRecoveryCode).where(UserRecoveryCode.user_id == user.id))
    if removed is None:
        return False
    await record(session, actor, user, "reset", "An operator turned two-factor sign-in off.")
    return True


async def complete_sign_in(
    session: AsyncSession,
    runtime: Runtime,
    actor: Actor,
    *,
    challenge_token: str,
    code: str | None,
    recovery_code: str | None,
    device: DeviceIn | None,
    client: ClientInfo,
) -> IssuedSession | SignInRefused:
    """The second step of a sign-in. Returns a refusal instead of raising it, so that what a
    failure records (the audit row, the spent attempt) is committed."""
    challenge = totp.open_challenge(runtime.secret, challenge_token)
    if challenge is None:
        return SignInRefused(401, "invalid_challenge", BAD_CHALLENGE)
    try:
        await _hit(runtime, challenge.user_id)
    except RateLimited as exc:
        return SignInRefused(429, exc.code, exc.message, retry_after=exc.retry_after)
    await set_context(session, Context(user_id=challenge.user_id))
    user = await session.get(User, challenge.user_id)
    if user is None or user.status != "active" or user.deleted_at is not None:
        return SignInRefused(401, "invalid_challenge", BAD_CHALLENGE)
    actor = Actor(user_id=user.id, ip_hash=client.ip_hash, request=actor.request)
    outcome = await _second_factor(session, runtime, user.id, code=code, recovery_code=recovery_code)
    if isinstance(outcome, SignInRefused):
        failed = "A sign-in gave a wrong two-factor code."
        await record(session, actor, user, "sign_in_failed", failed, reason=outcome.code)
        return outcome
    if outcome == "recovery_code":
        left = await totp.recovery_codes_left(session, user.id)
        await record(
            session, actor, user, "recovery_code_used", "Signed in with a recovery code.", codes_left=left
        )
    await record_activity(session, user_id=user.id, event_type="login")
    return await open_session(session, runtime, user, f"{challenge.method}+{outcome}", device, client)


async def set_organization_requirement(
    session: AsyncSession, actor: Actor, organization_id: uuid.UUID, *, required: bool
) -> bool:
    """Whether members must use two-factor sign-in. Whoever turns it on must use it already
    (else they would lock themselves out of the organization they are configuring)."""
    org = await session.get_one(Organization, organization_id, populate_existing=True)
    if org.require_two_factor == required:
        return required
    if required and actor.user_id is not None and not await totp.is_enabled(session, actor.user_id):
        raise Conflict(
            "turn two-factor sign-in on for yourself first (POST /api/me/two-factor/enrol)",
            field="required",
            code="two_factor_not_enabled",
        )
    org.require_two_factor = required
    await session.flush()
    verb = "two_factor_required" if required else "two_factor_optional"
    text = "Members must now use two-factor sign-in." if required else "Two-factor sign-in is now optional."
    subject = audit.Subject(org.id, "organization", org.id, org.name)
    await audit.record_about(session, actor, subject, verb, text)
    return required
