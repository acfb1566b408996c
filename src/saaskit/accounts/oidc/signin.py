"""What a provider's identity means for saaskit's accounts: sign in the linked account, link an
existing account by a verified e-mail, or create one; then a session exactly as the password
sign-in opens it (``service._open_session``), or the two-factor challenge when the account uses
two-factor sign-in. Flushes, never commits.

The rules (docs/integrations.md, "Sign-in with OpenID Connect"):

- an account already linked to this (provider, subject) signs in, whatever its e-mail says now;
- otherwise the provider must give an e-mail **and say it is verified** (``email_verified``
  true; GitHub: the primary address marked verified). Without that nothing is linked or created:
  anyone can type someone else's address at a provider that does not check it;
- an account with that e-mail is linked (``users.auth_provider`` / ``auth_provider_id`` set,
  ``email_verified`` true, an audit row and a security notice), unless it is already linked to
  another identity (one external identity per account: 409);
- no account: one is created with the verified e-mail and no password (sign-up's beta gate and
  limits apply), if the provider allows sign-ups.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts import service, totp
from saaskit.accounts.models import User
from saaskit.accounts.oidc.flow import Identity
from saaskit.accounts.oidc.providers import Provider
from saaskit.accounts.schemas import DeviceIn
from saaskit.accounts.service import ClientInfo, IssuedSession, SignInRefused, TwoFactorRequired
from saaskit.audit import service as audit
from saaskit.audit.service import Actor
from saaskit.kit.db import Context, set_context
from saaskit.kit.errors import Conflict, Forbidden
from saaskit.kit.ratelimit import limiter_of
from saaskit.kit.state import Runtime
from saaskit.notifications import service as notifications
from saaskit.tracking.records import record_activity


def method(provider: Provider) -> str:
    """The session's ``auth_method`` for a sign-in through ``provider``."""
    return f"oidc:{provider.name}"


async def _linked(session: AsyncSession, identity: Identity) -> User | None:
    return await session.scalar(
        select(User).where(User.auth_provider == identity.provider, User.auth_provider_id == identity.subject)
    )


def _require_verified_email(identity: Identity) -> str:
    if not identity.email:
        raise Forbidden(
            "the provider gave no e-mail address: allow saaskit to read it (scope email)",
            field="email",
            code="email_missing",
        )
    if not identity.email_verified:
        raise Forbidden(
            "the provider does not say this e-mail address is verified: verify it there, or sign in "
            "with your password",
            field="email",
            code="email_not_verified",
        )
    return service.normalize_email(identity.email)


async def _audit(
    session: AsyncSession, actor: Actor, user: User, action: str, text: str, **details: str
) -> None:
    """A platform-level audit row about ``user``."""
    await audit.record_as_service(
        session,
        actor,
        organization_id=None,
        action=action,
        entity_type="user",
        entity_id=user.id,
        entity_name=user.email,
        description=text,
        metadata=details or None,
    )


async def _link(
    session: AsyncSession, actor: Actor, user: User, provider: Provider, identity: Identity
) -> None:
    if user.auth_provider_id is not None:
        raise Conflict(
            f"this account is already linked to another sign-in ({user.auth_provider}): sign in with it "
            "or with your password",
            field="email",
            code="linked_to_another_identity",
        )
    user.auth_provider = provider.name
    user.auth_provider_id = identity.subject
    user.email_verified = True
    await session.flush()
    text = f"Linked the account to its {provider.display_name} identity (verified e-mail)."
    await _audit(session, actor, user, "user.oidc_linked", text, provider=provider.name)
    await notifications.notify(
        session, user_id=user.id, kind="security", title=f"Sign-in with {provider.display_name} was linked"
    )


async def _create(
    session: AsyncSession,
    runtime: Runtime,
    actor: Actor,
    provider: Provider,
    identity: Identity,
    email: str,
    client: ClientInfo,
) -> User:
    if not provider.settings.allow_sign_up:
        raise Forbidden(
            f"no account uses this e-mail, and {provider.display_name} does not create accounts here",
            field="email",
            code="sign_up_closed",
        )
    limiter = limiter_of(runtime)
    await limiter.hit("sign_up_per_ip", client.ip_hash or "unknown")
    await limiter.hit("sign_up_per_email", service.account_key(runtime, email))
    await service._beta_gate(session, email, invited=False)
    user = await service.create_user(
        session, runtime, email=email, password=None, name=identity.name, client=client
    )
    user.auth_provider = provider.name
    user.auth_provider_id = identity.subject
    user.email_verified = True
    if identity.picture and len(identity.picture) <= 2048:
        user.picture_url = identity.picture
    await session.flush()
    await record_activity(session, user_id=user.id, event_type="signup")
    text = f"Created the account by signing in with {provider.display_name}."
    await _audit(session, actor, user, "user.oidc_signed_up", text, provider=provider.name)
    return user


async def sign_in(
    session: AsyncSession,
    runtime: Runtime,
    actor: Actor,
    provider: Provider,
    identity: Identity,
    *,
    device: DeviceIn | None,
    client: ClientInfo,
) -> IssuedSession | TwoFactorRequired | SignInRefused:
    user = await _linked(session, identity)
    found_by_email = False
    if user is None:
        email = _require_verified_email(identity)
        user = await session.scalar(select(User).where(User.email == email))
        found_by_email = user is not None
        if user is None:
            user = await _create(session, runtime, actor, provider, identity, email, client)
    # Checked before linking: a suspended, locked or deleted account is neither signed in nor linked.
    usable = await session.scalar(
        select(User.deleted_at.is_(None) & func.coalesce(User.locked_until <= func.now(), True)).where(
            User.id == user.id
        )
    )
    if not usable:
        return SignInRefused(403, "account_locked", "this account cannot sign in now (locked or deleted)")
    if user.status != "active":
        return SignInRefused(403, "account_suspended", f"this account is {user.status}; it cannot sign in")
    if found_by_email:
        await set_context(session, Context(user_id=user.id))  # its notice is the user's own row
        await _link(session, actor, user, provider, identity)
    await set_context(session, Context(user_id=user.id))
    if await totp.is_enabled(session, user.id):
        token, challenge = totp.new_challenge(runtime.secret, user.id, method(provider))
        return TwoFactorRequired(challenge_token=token, expires_at=challenge.expires_at)
    await record_activity(session, user_id=user.id, event_type="login")
    return await service._open_session(session, runtime, user, method(provider), device, client)
