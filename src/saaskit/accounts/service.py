"""Sign-up, sign-in, sessions, profile and preferences. Flushes, never commits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts import totp
from saaskit.accounts.models import BetaWhitelist, User, UserPreference, UserProfile, UserSession
from saaskit.accounts.password_policy import check_new_password
from saaskit.accounts.schemas import DeviceIn, ProfileUpdateIn
from saaskit.kit.db import Context, set_context
from saaskit.kit.errors import Conflict, Forbidden, NotFound, Unprocessable
from saaskit.kit.hashing import keyed_hash, new_token, token_hash
from saaskit.kit.ratelimit import LOCKOUT, RateLimited, limiter_of
from saaskit.kit.state import Runtime
from saaskit.kit.tallies import SIGN_IN_FAILED, tallies_of
from saaskit.privacy import service as privacy
from saaskit.system import service as system_service
from saaskit.tracking.records import record_activity
from saaskit.trust import signals as trust_signals

INVALID_CREDENTIALS = "The e-mail or password is wrong."
PROFILE_FIELDS = ("first_name", "last_name", "bio", "locale", "date_format", "time_format")
USER_PROFILE_FIELDS = ("name", "picture_url", "timezone", "analytics_consent", "tracking_level")


@dataclass(frozen=True)
class ClientInfo:
    """What the request tells about the client, already privacy-safe (the IP is hashed)."""

    ip_hash: str | None = None
    country_code: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class IssuedSession:
    token: str
    session: UserSession
    user: User


@dataclass(frozen=True)
class TwoFactorRequired:
    """The password was right; the account uses two-factor sign-in: the second step
    (``POST /api/auth/login/two-factor``) takes this token and a code."""

    challenge_token: str
    expires_at: datetime


@dataclass(frozen=True)
class SignInRefused:
    status_code: int
    code: str
    message: str
    retry_after: int | None = None  # seconds, for a 429


def normalize_email(email: str) -> str:
    return email.strip().lower()


def account_key(runtime: Runtime, email: str) -> str:
    """The identity of an e-mail address for rate limits: a keyed hash, the same whether or not
    an account has it (the limits must not tell which addresses have an account)."""
    return keyed_hash(runtime.secret, "account", normalize_email(email))


async def check_password_rules(
    runtime: Runtime, password: str, field: str = "password", *, email: str | None, name: str | None
) -> None:
    """Every password rule (accounts/password_policy.py): 422 naming ``field``."""
    await check_new_password(runtime.settings.auth, password, email=email, name=name, field=field)


async def _beta_gate(session: AsyncSession, email: str, *, invited: bool) -> None:
    if invited or not await system_service.get_value(session, "access.beta_mode", False):
        return
    allowed = await session.scalar(select(BetaWhitelist.id).where(BetaWhitelist.email == email))
    if allowed is None:
        raise Forbidden(
            "sign-ups are limited to invited addresses during the beta", field="email", code="beta_closed"
        )
    await session.execute(
        update(BetaWhitelist).where(BetaWhitelist.email == email).values(signed_up_at=func.now())
    )


async def create_user(
    session: AsyncSession,
    runtime: Runtime,
    *,
    email: str,
    password: str | None,
    name: str | None = None,
    role: str = "user",
    timezone: str | None = None,
    analytics_consent: bool = False,
    client: ClientInfo | None = None,
    device_fingerprint: str | None = None,
    password_hash: str | None = None,
) -> User:
    """``password_hash``: already hashed by the caller (sign-up hashes before its transaction)."""
    email = normalize_email(email)
    if password is not None and password_hash is None:
        await check_password_rules(runtime, password, email=email, name=name)
        password_hash = await runtime.passwords.hash(password)
    values: dict[str, Any] = {
        "email": email,
        "name": name,
        "role": role,
        "password_hash": password_hash,
        "password_changed_at": func.now() if password_hash else None,
        "timezone": timezone,
        "analytics_consent": analytics_consent,
    }
    if client is not None:
        values["signup_ip_hash"] = client.ip_hash
        values["country_code"] = client.country_code
    if device_fingerprint:
        values["device_fingerprint_hash"] = keyed_hash(runtime.secret, "device", device_fingerprint)
    statement = insert(User).values(**values).on_conflict_do_nothing(index_elements=[User.email])
    user_id = await session.scalar(statement.returning(User.id))
    if user_id is None:
        raise Conflict("an account with this e-mail already exists", field="email", code="email_taken")
    await set_context(session, Context(user_id=user_id))
    session.add(UserProfile(user_id=user_id))
    await session.flush()
    user = await session.get_one(User, user_id)
    return user


async def sign_up(
    session: AsyncSession,
    runtime: Runtime,
    *,
    email: str,
    password: str,
    name: str | None,
    timezone: str | None,
    analytics_consent: bool,
    device: DeviceIn | None,
    client: ClientInfo,
    invited: bool = False,
) -> IssuedSession:
    """``invited``: the caller checked a pending invitation for this e-mail (it opens the beta).
    The password is hashed before ``session`` is used: the hash holds no connection."""
    email = normalize_email(email)
    await check_password_rules(runtime, password, email=email, name=name)
    await limiter_of(runtime).hit("sign_up_per_email", account_key(runtime, email))
    password_hash = await runtime.passwords.hash(password)
    await _beta_gate(session, email, invited=invited)
    user = await create_user(
        session,
        runtime,
        email=email,
        password=None,
        password_hash=password_hash,
        name=name,
        timezone=timezone,
        analytics_consent=analytics_consent,
        client=client,
        device_fingerprint=device.fingerprint if device else None,
    )
    await record_activity(session, user_id=user.id, event_type="signup")
    return await _open_session(session, runtime, user, "password", device, client)


CREDENTIALS = select(
    User.id,
    User.password_hash,
    User.status,
    (User.deleted_at.is_(None) & func.coalesce(User.locked_until <= func.now(), True)).label("may_sign_in"),
    User.last_known_ip_hash,
    User.signup_ip_hash,
)


async def sign_in(
    session: AsyncSession,
    runtime: Runtime,
    *,
    email: str,
    password: str,
    device: DeviceIn | None,
    client: ClientInfo,
) -> IssuedSession | SignInRefused | TwoFactorRequired:
    """Returns a refusal instead of raising it, so what a failure records is committed. An
    account with two-factor sign-in gets a challenge instead of a session (accounts/two_factor.py).

    The password is verified outside any transaction: the credentials are read in a short one of
    their own, then the hash runs (bounded, in a thread), then ``session`` (the request's) records
    the outcome. A queue of sign-ins holds no connection and no row lock. An unknown e-mail
    verifies against a dummy hash: it costs the same, and holds nothing either.

    Limits (docs/limits.md): failed attempts lock an account for one source only (the client IP:
    ``sign_in_lockout``, counted before the hash and forgiven by a success); attempts from
    sources the account has never signed in from are also limited per account
    (``sign_in_per_account``), so guessing spread over many addresses is bounded while the owner,
    from where they usually sign in, is not locked out by it. The per-IP limit is the endpoint's.
    """
    email = normalize_email(email)
    limiter = limiter_of(runtime)
    account = account_key(runtime, email)
    source = client.ip_hash or "unknown"
    refused = SignInRefused(401, "invalid_credentials", INVALID_CREDENTIALS)
    try:
        await limiter.hit(LOCKOUT, account, source)
        async with runtime.db.session() as reading:
            found = (await reading.execute(CREDENTIALS.where(User.email == email))).one_or_none()
        if found is None or source not in (found.last_known_ip_hash, found.signup_ip_hash):
            await limiter.hit("sign_in_per_account", account)
    except RateLimited as exc:
        return SignInRefused(429, exc.code, exc.message, retry_after=exc.retry_after)
    usable = found is not None and found.may_sign_in
    if not await runtime.passwords.verify(found.password_hash if found and usable else None, password):
        # Per source and e-mail hash, for the credential-stuffing rule (docs/trust.md): no I/O here,
        # the buffer is written at most once a second (kit/tallies.py).
        if client.ip_hash:
            user_id = found.id if found else None
            await tallies_of(runtime).count(SIGN_IN_FAILED, client.ip_hash, account, user_id=user_id)
        if found is not None:
            await session.execute(
                update(User)
                .where(User.id == found.id)
                .values(failed_sign_in_count=User.failed_sign_in_count + 1)
                .execution_options(synchronize_session=False)
            )
        return refused
    assert found is not None
    if found.status != "active":
        return SignInRefused(403, "account_suspended", f"this account is {found.status}; it cannot sign in")
    rehashed = None
    if found.password_hash and runtime.passwords.needs_rehash(found.password_hash):
        rehashed = await runtime.passwords.hash(password)
    await limiter.clear(LOCKOUT, account, source)
    await set_context(session, Context(user_id=found.id))
    user = await session.get_one(User, found.id)
    if rehashed is not None:
        user.password_hash = rehashed
    user.failed_sign_in_count = 0
    if await totp.is_enabled(session, user.id):
        token, challenge = totp.new_challenge(runtime.secret, user.id)
        return TwoFactorRequired(challenge_token=token, expires_at=challenge.expires_at)
    await record_activity(session, user_id=user.id, event_type="login")
    return await _open_session(session, runtime, user, "password", device, client)


async def _open_session(
    session: AsyncSession,
    runtime: Runtime,
    user: User,
    auth_method: str,
    device: DeviceIn | None,
    client: ClientInfo,
) -> IssuedSession:
    token = new_token()
    ttl = timedelta(hours=runtime.settings.auth.session_ttl_hours)
    device_info = device.model_dump(exclude={"fingerprint"}, exclude_none=True) if device else None
    row = UserSession(
        user_id=user.id,
        session_token_hash=token_hash(token),
        expires_at=func.now() + ttl,
        last_used_at=func.now(),
        idle_timeout_minutes=runtime.settings.auth.session_idle_minutes or None,
        ip_address_hash=client.ip_hash,
        user_agent=client.user_agent,
        device_info=device_info or None,
        device_fingerprint_hash=(
            keyed_hash(runtime.secret, "device", device.fingerprint)
            if device and device.fingerprint
            else None
        ),
        country_code=client.country_code,
        auth_method=auth_method,
    )
    session.add(row)
    user.first_sign_in_at = func.coalesce(User.first_sign_in_at, func.now())
    user.last_sign_in_at = func.now()
    user.sign_in_count = User.sign_in_count + 1
    user.last_seen_at = func.now()
    user.auth_provider = user.auth_provider or auth_method
    if client.ip_hash:
        user.last_known_ip_hash = client.ip_hash
    if client.country_code:
        user.country_code = client.country_code
    await session.flush()
    # Trust and safety: the IP and device of every sign-up and sign-in, grouped (one statement).
    await trust_signals.observe(
        session,
        user.id,
        [(trust_signals.IP, client.ip_hash), (trust_signals.DEVICE, row.device_fingerprint_hash)],
    )
    await session.refresh(row)
    await session.refresh(user)
    # Signing in during an erasure's grace period cancels it (docs/privacy.md).
    await privacy.cancel_on_sign_in(session, user)
    return IssuedSession(token=token, session=row, user=user)


async def revoke_session(session: AsyncSession, session_id: uuid.UUID) -> None:
    """Revoke one of the current user's sessions (RLS hides everyone else's: 404)."""
    revoked = await session.scalar(
        update(UserSession)
        .where(
            UserSession.id == session_id,
            UserSession.session_type == "sign_in",
            UserSession.revoked_at.is_(None),
        )
        .values(revoked_at=func.now(), ended_at=func.coalesce(UserSession.ended_at, func.now()))
        .returning(UserSession.id)
        .execution_options(synchronize_session=False)
    )
    if revoked is None:
        raise NotFound("no such active session", field="id")


async def revoke_all_sessions(
    session: AsyncSession, user_id: uuid.UUID, *, except_session: uuid.UUID | None = None
) -> int:
    query = (
        update(UserSession)
        .where(
            UserSession.user_id == user_id,
            UserSession.session_type == "sign_in",
            UserSession.revoked_at.is_(None),
        )
        .values(revoked_at=func.now(), ended_at=func.coalesce(UserSession.ended_at, func.now()))
        .execution_options(synchronize_session=False)
    )
    if except_session is not None:
        query = query.where(UserSession.id != except_session)
    result = await session.execute(query.returning(UserSession.id))
    return len(result.all())


def not_idle() -> ColumnElement[bool]:
    """The session has been used within its idle timeout (app_authenticate's rule)."""
    idle = func.make_interval(0, 0, 0, 0, 0, UserSession.idle_timeout_minutes)  # minutes
    return UserSession.idle_timeout_minutes.is_(None) | (UserSession.last_used_at > func.now() - idle)


async def list_active_sessions(session: AsyncSession, user_id: uuid.UUID) -> list[UserSession]:
    return list(
        await session.scalars(
            select(UserSession)
            .where(
                UserSession.user_id == user_id,
                UserSession.session_type == "sign_in",
                UserSession.revoked_at.is_(None),
                UserSession.expires_at > func.now(),
                not_idle(),
            )
            .order_by(UserSession.started_at.desc())
        )
    )


async def get_user(session: AsyncSession, user_id: uuid.UUID, *, field: str = "id") -> User:
    """The user; 404 naming ``field`` (the request's name for the id) when there is none."""
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("no such user", field=field)
    return user


async def get_profile(session: AsyncSession, user_id: uuid.UUID) -> UserProfile | None:
    return await session.scalar(select(UserProfile).where(UserProfile.user_id == user_id))


async def update_profile(session: AsyncSession, user_id: uuid.UUID, changes: ProfileUpdateIn) -> User:
    given = changes.model_dump(exclude_unset=True)
    user = await get_user(session, user_id)
    for name in USER_PROFILE_FIELDS:
        if name in given:
            if name in {"analytics_consent", "tracking_level"} and given[name] is None:
                raise Unprocessable(f"{name}: may not be null", field=name)
            setattr(user, name, given[name])
    profile_changes = {name: given[name] for name in PROFILE_FIELDS if name in given}
    if profile_changes:
        await session.execute(
            insert(UserProfile)
            .values(user_id=user_id, **profile_changes)
            .on_conflict_do_update(
                index_elements=[UserProfile.user_id], set_={**profile_changes, "updated_at": func.now()}
            )
        )
    await session.flush()
    await session.refresh(user)
    return user


async def change_password(
    session: AsyncSession,
    runtime: Runtime,
    *,
    user_id: uuid.UUID,
    current_session_id: uuid.UUID | None,
    current_password: str,
    new_password: str,
) -> int:
    """Set a new password and revoke every other session; returns how many were revoked.

    Both hashes (checking the current password, hashing the new one) run before ``session`` is
    used, with nothing held: the current hash is read in a short transaction of its own. The
    write then applies only if the password is still the one checked (a concurrent change wins)."""
    async with runtime.db.session(Context(user_id=user_id)) as reading:
        current = (
            await reading.execute(select(User.password_hash, User.email, User.name).where(User.id == user_id))
        ).one()
    current_hash = current.password_hash
    await check_password_rules(runtime, new_password, "new_password", email=current.email, name=current.name)
    if not await runtime.passwords.verify(current_hash, current_password):
        raise Forbidden("the current password is wrong", field="current_password", code="wrong_password")
    new_hash = await runtime.passwords.hash(new_password)
    await set_context(session, Context(user_id=user_id))
    changed = await session.scalar(
        update(User)
        .where(User.id == user_id, User.password_hash == current_hash)
        .values(**_new_password_values(new_hash))
        .returning(User.id)
        .execution_options(synchronize_session=False)
    )
    if changed is None:
        raise Conflict("the password was changed meanwhile: try again", field="current_password")
    return await revoke_all_sessions(session, user_id, except_session=current_session_id)


def _new_password_values(password_hash: str) -> dict[str, Any]:
    return {
        "password_hash": password_hash,
        "password_changed_at": func.now(),
        "failed_sign_in_count": 0,
        "locked_until": None,
    }


async def set_password(session: AsyncSession, runtime: Runtime, user: User, password: str) -> None:
    """An operator's reset (CLI): hashed first, then written."""
    await check_password_rules(runtime, password, email=user.email, name=user.name)
    for name, value in _new_password_values(await runtime.passwords.hash(password)).items():
        setattr(user, name, value)
    await session.flush()


# -- preferences -------------------------------------------------------------------------------
async def get_preference(
    session: AsyncSession, user_id: uuid.UUID, category: str, key: str
) -> UserPreference:
    preference = await session.scalar(
        select(UserPreference).where(
            UserPreference.user_id == user_id, UserPreference.category == category, UserPreference.key == key
        )
    )
    if preference is None:
        raise NotFound(f"no preference {category}/{key}", field="key")
    return preference


async def put_preference(
    session: AsyncSession, user_id: uuid.UUID, category: str, key: str, value: Any
) -> UserPreference:
    statement = (
        insert(UserPreference)
        .values(user_id=user_id, category=category, key=key, value=value)
        .on_conflict_do_update(
            index_elements=[UserPreference.user_id, UserPreference.category, UserPreference.key],
            set_={"value": value, "updated_at": func.now()},
        )
        .returning(UserPreference)
    )
    return (await session.scalars(statement, execution_options={"populate_existing": True})).one()


async def list_preferences(
    session: AsyncSession, user_id: uuid.UUID, category: str | None = None
) -> list[UserPreference]:
    query = select(UserPreference).where(UserPreference.user_id == user_id)
    if category is not None:
        query = query.where(UserPreference.category == category)
    return list(await session.scalars(query.order_by(UserPreference.category, UserPreference.key)))


async def delete_preference(session: AsyncSession, user_id: uuid.UUID, category: str, key: str) -> None:
    preference = await get_preference(session, user_id, category, key)
    await session.delete(preference)
    await session.flush()


# -- administration ----------------------------------------------------------------------------
async def find_user_by_email(session: AsyncSession, email: str) -> User:
    user = await session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        raise NotFound(f"no user with e-mail {email}", field="email")
    return user


async def set_status(session: AsyncSession, user: User, status: str) -> int:
    """Suspend, ban or reactivate; a user who is not active loses every session at once."""
    if status not in {"active", "suspended", "banned"}:
        raise Unprocessable(f"status: unknown value {status!r}", field="status")
    user.status = status
    await session.flush()
    if status == "active":
        return 0
    return await revoke_all_sessions(session, user.id)


async def admin_exists(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(func.count()).select_from(User).where(User.role == "admin")))


async def list_users(
    session: AsyncSession,
    *,
    search: str | None = None,
    limit: int = 50,
    after_created_at: datetime | None = None,
) -> list[User]:
    query = select(User).where(User.deleted_at.is_(None))
    if search:
        pattern = f"%{search.lower()}%"
        query = query.where(User.email.like(pattern) | func.lower(User.name).like(pattern))
    if after_created_at is not None:
        query = query.where(User.created_at < after_created_at)
    return list(await session.scalars(query.order_by(User.created_at.desc()).limit(limit)))


async def add_to_beta_whitelist(
    session: AsyncSession, email: str, *, note: str | None, added_by: uuid.UUID | None
) -> BetaWhitelist:
    statement = (
        insert(BetaWhitelist)
        .values(email=normalize_email(email), note=note, added_by=added_by)
        .on_conflict_do_update(index_elements=[BetaWhitelist.email], set_={"note": note})
        .returning(BetaWhitelist)
    )
    return (await session.scalars(statement, execution_options={"populate_existing": True})).one()


async def list_beta_whitelist(session: AsyncSession) -> list[BetaWhitelist]:
    return list(await session.scalars(select(BetaWhitelist).order_by(BetaWhitelist.created_at.desc())))


async def remove_from_beta_whitelist(session: AsyncSession, email: str) -> None:
    entry = await session.scalar(select(BetaWhitelist).where(BetaWhitelist.email == normalize_email(email)))
    if entry is None:
        raise NotFound(f"{email} is not on the beta list", field="email")
    await session.delete(entry)
    await session.flush()
