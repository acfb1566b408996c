"""HTTP endpoints of account recovery, e-mail verification and change of e-mail
(docs/accounts.md). Thin: validate, rate-limit, call ``recovery`` / ``verification``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, EmailStr, Field

from saaskit.accounts import recovery, verification
from saaskit.accounts.dependencies import CurrentUser, SignedIn, signed_in_user_key, user_key
from saaskit.accounts.schemas import Password
from saaskit.kit.deps import ClientDep, DbSession, RuntimeDep
from saaskit.kit.ratelimit import rate_limit
from saaskit.kit.schemas import Input

router = APIRouter(prefix="/api", tags=["accounts: recovery and verification"])

Token = Annotated[
    str, Field(min_length=1, max_length=200, description="The token of the mail's link (its ?token= value).")
]
BAD_TOKEN: dict[int | str, dict[str, Any]] = {
    400: {"description": "invalid_token: unknown, forged or mistyped"},
    410: {
        "description": "token_expired, token_used or token_revoked (a newer link, or it no longer applies)"
    },
}


class ResetRequestIn(Input):
    email: EmailStr


class AcceptedOut(BaseModel):
    message: str = Field(description="The same sentence whether or not an account uses the address.")


class ResetConfirmIn(Input):
    token: Token
    password: Password


class ResetDoneOut(BaseModel):
    email: str = Field(description="The account's address, to sign in with.")
    revoked_sessions: int = Field(description="Sessions signed out by the reset (all of them).")


class VerifyIn(Input):
    token: Token


class VerifiedOut(BaseModel):
    purpose: str = Field(description="email_verification (an address confirmed) or email_change (changed).")
    email: str = Field(description="The account's address, now verified.")
    email_verified: bool = True
    previous_email: str | None = Field(default=None, description="email_change: the address before.")


class LinkSentOut(BaseModel):
    sent_to: str = Field(description="Where the link went.")
    expires_at: datetime = Field(description="When the link stops working (UTC).")


class EmailChangeIn(Input):
    new_email: EmailStr
    password: Password = Field(description="The current password.")


@router.post(
    "/auth/password-reset",
    status_code=202,
    response_model=AcceptedOut,
    summary="Ask for a password-reset link (the answer never says whether the address has an account)",
    dependencies=[rate_limit("password_reset_per_ip")],
    responses={429: {"description": "Too many requests from this address or for this e-mail"}},
)
async def request_password_reset(
    body: ResetRequestIn, session: DbSession, runtime: RuntimeDep, client: ClientDep
) -> AcceptedOut:
    await recovery.request_reset(session, runtime, email=body.email, ip_hash=client.ip_hash)
    return AcceptedOut(message=recovery.requested_message(runtime))


@router.post(
    "/auth/password-reset/confirm",
    response_model=ResetDoneOut,
    summary="Choose a new password with a reset link's token; every session is signed out",
    dependencies=[rate_limit("account_link_per_ip")],
    responses={
        **BAD_TOKEN,
        403: {"description": "account_suspended"},
        429: {"description": "Too many confirmations from this address"},
    },
)
async def confirm_password_reset(
    body: ResetConfirmIn, session: DbSession, runtime: RuntimeDep, client: ClientDep
) -> ResetDoneOut:
    done = await recovery.confirm_reset(
        session, runtime, token=body.token, password=body.password, ip_hash=client.ip_hash
    )
    return ResetDoneOut(email=done.email, revoked_sessions=done.revoked_sessions)


@router.post(
    "/auth/verify-email",
    response_model=VerifiedOut,
    summary="Confirm an address with the token of a verification or change-of-address link",
    dependencies=[rate_limit("account_link_per_ip")],
    responses={
        **BAD_TOKEN,
        403: {"description": "account_suspended"},
        409: {"description": "email_taken: another account took the new address meanwhile"},
        429: {"description": "Too many confirmations from this address"},
    },
)
async def verify_email(
    body: VerifyIn, session: DbSession, runtime: RuntimeDep, client: ClientDep
) -> VerifiedOut:
    done = await verification.confirm(session, runtime, token=body.token, ip_hash=client.ip_hash)
    return VerifiedOut(purpose=done.purpose, email=done.email, previous_email=done.previous_email)


@router.post(
    "/me/email-verification",
    status_code=202,
    response_model=LinkSentOut,
    summary="Send a new verification link to my address (the previous link stops working)",
    dependencies=[
        rate_limit("email_verification_per_ip"),
        rate_limit("email_verification_per_user", by=user_key),
    ],
    responses={409: {"description": "already_verified"}, 429: {"description": "Too many links asked for"}},
)
async def resend_verification(
    principal: CurrentUser, session: DbSession, runtime: RuntimeDep, client: ClientDep
) -> LinkSentOut:
    sent = await verification.resend(session, runtime, principal.user_id, ip_hash=client.ip_hash)
    return LinkSentOut(sent_to=sent.sent_to, expires_at=sent.expires_at)


@router.post(
    "/me/email",
    status_code=202,
    response_model=LinkSentOut,
    summary="Change my e-mail address: a link goes to the new address, which applies once it is opened",
    dependencies=[
        rate_limit("email_change_per_ip"),
        rate_limit("email_change_per_user", by=signed_in_user_key),
    ],
    responses={
        403: {"description": "wrong_password"},
        409: {"description": "email_taken"},
        429: {"description": "Too many requests"},
    },
)
async def change_email(
    body: EmailChangeIn, principal: SignedIn, session: DbSession, runtime: RuntimeDep, client: ClientDep
) -> LinkSentOut:
    requested = await verification.request_change(
        session,
        runtime,
        user_id=principal.user_id,
        password=body.password,
        new_email=body.new_email,
        ip_hash=client.ip_hash,
    )
    return LinkSentOut(sent_to=requested.sent_to, expires_at=requested.expires_at)
