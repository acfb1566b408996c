"""HTTP endpoints of the accounts domain: thin, validate, check permission, call the service."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, EmailStr, Field
from sqlalchemy import select

from saaskit.accounts import operator, service, verification
from saaskit.accounts.dependencies import CSRF_COOKIE, AdminUser, CurrentUser, SignedIn, signed_in_user_key
from saaskit.accounts.models import User
from saaskit.accounts.schemas import (
    LoginIn,
    MeOut,
    PasswordChangeIn,
    PreferenceIn,
    PreferenceOut,
    ProfileOut,
    ProfileUpdateIn,
    SessionOut,
    SessionTokenOut,
    SignupIn,
    UserOut,
)
from saaskit.accounts.two_factor_schemas import TwoFactorChallengeOut
from saaskit.audit.dependencies import AdminActor
from saaskit.audit.service import Actor
from saaskit.kit import timezones
from saaskit.kit.deps import ClientDep, DbSession, RuntimeDep
from saaskit.kit.errors import error_response
from saaskit.kit.pagination import CursorParam, LimitParam, Page, keyset_page
from saaskit.kit.ratelimit import rate_limit
from saaskit.kit.schemas import Input, Output
from saaskit.kit.state import Runtime
from saaskit.notifications import service as notifications
from saaskit.tenancy import invitations

router = APIRouter(prefix="/api", tags=["accounts"])

Slug = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9_.\-]{1,64}$", description="Letters, digits, _ . - (max 64).")
]


def _client(client: ClientDep) -> service.ClientInfo:
    return service.ClientInfo(
        ip_hash=client.ip_hash, country_code=client.country_code, user_agent=client.user_agent
    )


async def _user_out(session: DbSession, user: User) -> UserOut:
    out = UserOut.model_validate(user)
    profile = await service.get_profile(session, user.id)
    out.profile = ProfileOut.model_validate(profile) if profile else None
    return out


def _token_response(
    issued: service.IssuedSession, user_out: UserOut, runtime: Runtime, *, set_cookie: bool, status_code: int
) -> JSONResponse:
    body = SessionTokenOut(
        token=issued.token, session_id=issued.session.id, expires_at=issued.session.expires_at, user=user_out
    )
    response = JSONResponse(body.model_dump(mode="json"), status_code=status_code)
    if set_cookie:
        auth = runtime.settings.auth
        max_age = auth.session_ttl_hours * 3600
        response.set_cookie(
            auth.cookie_name,
            issued.token,
            max_age=max_age,
            httponly=True,
            samesite="lax",
            secure=auth.cookie_secure,
            path="/",
        )
        response.set_cookie(
            CSRF_COOKIE,
            secrets.token_urlsafe(24),
            max_age=max_age,
            httponly=False,
            samesite="lax",
            secure=auth.cookie_secure,
            path="/",
        )
    return response


@router.post(
    "/auth/signup",
    status_code=201,
    response_model=SessionTokenOut,
    summary="Create an account and sign it in",
    dependencies=[rate_limit("sign_up_per_ip")],
    responses={429: {"description": "Too many sign-ups from this address or for this e-mail"}},
)
async def signup(body: SignupIn, session: DbSession, runtime: RuntimeDep, client: ClientDep) -> Response:
    if body.timezone is not None:
        await timezones.check(runtime.db, body.timezone, field="timezone")
    invited_email = None
    if body.invitation_token:
        # A transaction of its own, over before the password is hashed: the request's session
        # stays unused (no connection held) until then.
        async with runtime.db.session() as reading:
            invited_email = await invitations.invitation_email(reading, body.invitation_token)
    issued = await service.sign_up(
        session,
        runtime,
        email=body.email,
        password=body.password,
        name=body.name,
        timezone=body.timezone,
        analytics_consent=body.analytics_consent,
        device=body.device,
        client=_client(client),
        invited=invited_email is not None and invited_email == service.normalize_email(body.email),
    )
    await verification.send_verification(session, runtime, issued.user, ip_hash=client.ip_hash)
    if body.invitation_token:
        actor = Actor(user_id=issued.user.id, ip_hash=client.ip_hash, request="POST /api/auth/signup")
        await invitations.accept(
            session, actor, user_id=issued.user.id, email=issued.user.email, token=body.invitation_token
        )
    return _token_response(
        issued, await _user_out(session, issued.user), runtime, set_cookie=body.set_cookie, status_code=201
    )


@router.post(
    "/auth/login",
    response_model=SessionTokenOut | TwoFactorChallengeOut,
    summary="Sign in with e-mail and password (then a code, for accounts with two-factor sign-in)",
    dependencies=[rate_limit("sign_in_per_ip")],
    responses={
        401: {"description": "Wrong e-mail or password"},
        429: {"description": "Too many attempts from this address, or on this account from this address"},
    },
)
async def login(body: LoginIn, session: DbSession, runtime: RuntimeDep, client: ClientDep) -> Response:
    result = await service.sign_in(
        session, runtime, email=body.email, password=body.password, device=body.device, client=_client(client)
    )
    if isinstance(result, service.SignInRefused):
        # Returned, not raised: the failed-attempt counter must be committed.
        headers = {"Retry-After": str(result.retry_after)} if result.retry_after else None
        return error_response(result.status_code, result.code, result.message, headers=headers)
    if isinstance(result, service.TwoFactorRequired):
        challenge = TwoFactorChallengeOut(
            challenge_token=result.challenge_token, expires_at=result.expires_at
        )
        return JSONResponse(challenge.model_dump(mode="json"))
    return _token_response(
        result, await _user_out(session, result.user), runtime, set_cookie=body.set_cookie, status_code=200
    )


@router.post("/auth/logout", status_code=204, summary="Revoke the current session")
async def logout(principal: CurrentUser, session: DbSession, runtime: RuntimeDep) -> Response:
    await service.revoke_session(session, principal.session_id)
    response = Response(status_code=204)
    response.delete_cookie(runtime.settings.auth.cookie_name, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.get("/me", response_model=MeOut, summary="The signed-in user, profile and unread notifications")
async def me(principal: CurrentUser, session: DbSession) -> MeOut:
    out = await _user_out(session, await service.get_user(session, principal.user_id))
    unread = await notifications.unread_count(session, principal.user_id)
    return MeOut(**out.model_dump(), unread_notifications=unread)


@router.patch("/me", response_model=UserOut, summary="Update the signed-in user's profile")
async def update_me(
    body: ProfileUpdateIn, principal: CurrentUser, session: DbSession, runtime: RuntimeDep
) -> UserOut:
    if body.timezone is not None:
        await timezones.check(runtime.db, body.timezone, field="timezone")
    user = await service.update_profile(session, principal.user_id, body)
    return await _user_out(session, user)


@router.get("/me/preferences", response_model=list[PreferenceOut], summary="All preferences")
async def list_preferences(principal: CurrentUser, session: DbSession) -> list[PreferenceOut]:
    rows = await service.list_preferences(session, principal.user_id)
    return [PreferenceOut.model_validate(row) for row in rows]


@router.get("/me/preferences/{category}/{key}", response_model=PreferenceOut, summary="One preference")
async def get_preference(
    category: Slug, key: Slug, principal: CurrentUser, session: DbSession
) -> PreferenceOut:
    return PreferenceOut.model_validate(
        await service.get_preference(session, principal.user_id, category, key)
    )


@router.put("/me/preferences/{category}/{key}", response_model=PreferenceOut, summary="Set a preference")
async def put_preference(
    category: Slug, key: Slug, body: PreferenceIn, principal: CurrentUser, session: DbSession
) -> PreferenceOut:
    row = await service.put_preference(session, principal.user_id, category, key, body.value)
    return PreferenceOut.model_validate(row)


@router.delete("/me/preferences/{category}/{key}", status_code=204, summary="Delete a preference")
async def delete_preference(
    category: Slug, key: Slug, principal: CurrentUser, session: DbSession
) -> Response:
    await service.delete_preference(session, principal.user_id, category, key)
    return Response(status_code=204)


@router.get("/me/sessions", response_model=list[SessionOut], summary="The signed-in user's live sessions")
async def list_sessions(principal: CurrentUser, session: DbSession) -> list[SessionOut]:
    rows = await service.list_active_sessions(session, principal.user_id)
    out = [SessionOut.model_validate(row) for row in rows]
    for item in out:
        item.is_current = item.id == principal.session_id
    return out


@router.delete("/me/sessions/{session_id}", status_code=204, summary="Revoke one of my sessions")
async def revoke_session(session_id: uuid.UUID, principal: CurrentUser, session: DbSession) -> Response:
    await service.revoke_session(session, session_id)
    return Response(status_code=204)


class PasswordChangedOut(BaseModel):
    revoked_sessions: int = Field(description="Other sessions signed out by the change.")


@router.post(
    "/me/password",
    response_model=PasswordChangedOut,
    summary="Change my password",
    dependencies=[
        rate_limit("password_change_per_ip"),
        rate_limit("password_change_per_user", by=signed_in_user_key),
    ],
)
async def change_password(
    body: PasswordChangeIn, principal: SignedIn, session: DbSession, runtime: RuntimeDep
) -> PasswordChangedOut:
    revoked = await service.change_password(
        session,
        runtime,
        user_id=principal.user_id,
        current_session_id=principal.session_id,
        current_password=body.current_password,
        new_password=body.new_password,
    )
    return PasswordChangedOut(revoked_sessions=revoked)


# -- platform administration -------------------------------------------------------------------
admin_router = APIRouter(prefix="/api/admin", tags=["admin: accounts"])


class AdminUserOut(UserOut):
    is_active: bool
    sign_in_count: int
    last_sign_in_at: datetime | None = Field(description="Last successful sign-in (UTC); null: never.")
    last_seen_at: datetime | None = Field(description="Last activity seen (UTC); null: never.")


class StatusIn(Input):
    status: str = Field(pattern="^(active|suspended|banned)$")


class StatusOut(BaseModel):
    status: str
    revoked_sessions: int


class BetaEntryIn(Input):
    email: EmailStr
    note: str | None = Field(default=None, max_length=500)


class BetaEntryOut(Output):
    email: str
    note: str | None
    signed_up_at: datetime | None = Field(description="When this address created its account; null: not yet.")
    created_at: datetime = Field(description="When the address was added to the list.")


@admin_router.get("/users", response_model=Page[AdminUserOut], summary="Search users (admins)")
async def admin_list_users(
    admin: AdminUser,
    session: DbSession,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
    search: str | None = None,
) -> Page[AdminUserOut]:
    query = select(User).where(User.deleted_at.is_(None))
    if search:
        pattern = f"%{search.lower()}%"
        query = query.where(User.email.like(pattern) | User.name.ilike(pattern))
    rows, next_cursor = await keyset_page(
        session, query, created_at=User.created_at, row_id=User.id, limit=limit, cursor=cursor
    )
    return Page[AdminUserOut](items=[AdminUserOut.model_validate(u) for u in rows], next_cursor=next_cursor)


@admin_router.post(
    "/users/{user_id}/status", response_model=StatusOut, summary="Suspend, ban or reactivate a user (admins)"
)
async def admin_set_status(
    user_id: uuid.UUID, body: StatusIn, actor: AdminActor, session: DbSession
) -> StatusOut:
    outcome = await operator.set_status(session, actor, user_id, body.status)
    return StatusOut(**outcome.data)


@admin_router.get("/beta-whitelist", response_model=list[BetaEntryOut], summary="The beta list (admins)")
async def admin_beta_list(admin: AdminUser, session: DbSession) -> list[BetaEntryOut]:
    return [BetaEntryOut.model_validate(e) for e in await service.list_beta_whitelist(session)]


@admin_router.post(
    "/beta-whitelist",
    response_model=BetaEntryOut,
    status_code=201,
    summary="Let an e-mail sign up during the beta (admins)",
)
async def admin_beta_add(body: BetaEntryIn, admin: AdminUser, session: DbSession) -> BetaEntryOut:
    entry = await service.add_to_beta_whitelist(session, body.email, note=body.note, added_by=admin.user_id)
    return BetaEntryOut.model_validate(entry)


@admin_router.delete(
    "/beta-whitelist/{email}", status_code=204, summary="Remove an e-mail from the beta list"
)
async def admin_beta_remove(email: str, admin: AdminUser, session: DbSession) -> Response:
    await service.remove_from_beta_whitelist(session, email)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
