"""HTTP endpoints of two-factor sign-in: enrolment and its management under ``/api/me/two-factor``,
the second step of a sign-in, and an organization's requirement (docs/accounts.md)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from saaskit.access.dependencies import OrgRequest, org_access
from saaskit.accounts import two_factor
from saaskit.accounts.dependencies import CurrentUser, SignedIn, signed_in_user_key
from saaskit.accounts.endpoints import _client, _token_response, _user_out
from saaskit.accounts.schemas import SessionTokenOut
from saaskit.accounts.service import SignInRefused
from saaskit.accounts.two_factor_schemas import (
    ConfirmIn,
    EnrolmentOut,
    PasswordAndFactorIn,
    PasswordIn,
    RecoveryCodesOut,
    RequirementIn,
    RequirementOut,
    TwoFactorSignInIn,
    TwoFactorStatusOut,
)
from saaskit.audit.service import Actor
from saaskit.kit.deps import ClientDep, DbSession, RuntimeDep
from saaskit.kit.errors import error_response
from saaskit.kit.ratelimit import rate_limit

router = APIRouter(prefix="/api", tags=["two-factor sign-in"])

# Endpoints that check the password: the password-change limits (a stolen session guessing it).
PASSWORD_LIMITS = [
    rate_limit("password_change_per_ip"),
    rate_limit("password_change_per_user", by=signed_in_user_key),
]
CODE_LIMIT = rate_limit("two_factor_per_ip")


def _actor(request: Request, user_id: uuid.UUID | None, client: ClientDep) -> Actor:
    return Actor(user_id=user_id, ip_hash=client.ip_hash, request=f"{request.method} {request.url.path}")


@router.post(
    "/auth/login/two-factor",
    response_model=SessionTokenOut,
    summary="Second step of a sign-in: the challenge and a code (or a recovery code)",
    dependencies=[CODE_LIMIT],
    responses={
        401: {"description": "Wrong, reused or expired code; forged or expired challenge"},
        429: {"description": "Too many codes tried for this account or from this address"},
    },
)
async def login_two_factor(
    body: TwoFactorSignInIn, request: Request, session: DbSession, runtime: RuntimeDep, client: ClientDep
) -> Response:
    result = await two_factor.complete_sign_in(
        session,
        runtime,
        _actor(request, None, client),
        challenge_token=body.challenge_token,
        code=body.code,
        recovery_code=body.recovery_code,
        device=body.device,
        client=_client(client),
    )
    if isinstance(result, SignInRefused):
        # Returned, not raised: the audit row of the failure commits.
        headers = {"Retry-After": str(result.retry_after)} if result.retry_after else None
        field = "recovery_code" if body.recovery_code else "code"
        if result.code == "invalid_challenge":
            field = "challenge_token"
        return error_response(result.status_code, result.code, result.message, field=field, headers=headers)
    return _token_response(
        result, await _user_out(session, result.user), runtime, set_cookie=body.set_cookie, status_code=200
    )


@router.get("/me/two-factor", response_model=TwoFactorStatusOut, summary="My two-factor sign-in")
async def get_status(principal: CurrentUser, session: DbSession) -> TwoFactorStatusOut:
    found = await two_factor.status(session, principal.user_id)
    return TwoFactorStatusOut(
        enabled=found.enabled,
        pending=found.pending,
        confirmed_at=found.confirmed_at,
        recovery_codes_left=found.recovery_codes_left,
    )


@router.post(
    "/me/two-factor/enrol",
    status_code=201,
    response_model=EnrolmentOut,
    summary="Start enrolling an authenticator app (the secret is shown once)",
    dependencies=PASSWORD_LIMITS,
)
async def enrol(
    body: PasswordIn, principal: SignedIn, session: DbSession, runtime: RuntimeDep
) -> EnrolmentOut:
    started = await two_factor.start_enrolment(
        session, runtime, user_id=principal.user_id, password=body.password
    )
    return EnrolmentOut(secret=started.secret, otpauth_uri=started.otpauth_uri)


@router.post(
    "/me/two-factor/confirm",
    response_model=RecoveryCodesOut,
    summary="Confirm the enrolment with a code: two-factor sign-in is on (recovery codes shown once)",
    dependencies=[CODE_LIMIT],
)
async def confirm(
    body: ConfirmIn,
    request: Request,
    principal: CurrentUser,
    session: DbSession,
    runtime: RuntimeDep,
    client: ClientDep,
) -> RecoveryCodesOut:
    actor = _actor(request, principal.user_id, client)
    codes = await two_factor.confirm_enrolment(
        session, runtime, actor, user_id=principal.user_id, code=body.code
    )
    return RecoveryCodesOut(recovery_codes=codes)


@router.post(
    "/me/two-factor/recovery-codes",
    response_model=RecoveryCodesOut,
    summary="Replace my recovery codes (password and a code needed; shown once)",
    dependencies=[*PASSWORD_LIMITS, CODE_LIMIT],
)
async def regenerate(
    body: PasswordAndFactorIn,
    request: Request,
    principal: SignedIn,
    session: DbSession,
    runtime: RuntimeDep,
    client: ClientDep,
) -> RecoveryCodesOut:
    codes = await two_factor.regenerate_recovery_codes(
        session,
        runtime,
        _actor(request, principal.user_id, client),
        user_id=principal.user_id,
        password=body.password,
        code=body.code,
        recovery_code=body.recovery_code,
    )
    return RecoveryCodesOut(recovery_codes=codes)


@router.post(
    "/me/two-factor/disable",
    status_code=204,
    summary="Turn two-factor sign-in off (password and a code needed)",
    dependencies=[*PASSWORD_LIMITS, CODE_LIMIT],
)
async def disable(
    body: PasswordAndFactorIn,
    request: Request,
    principal: SignedIn,
    session: DbSession,
    runtime: RuntimeDep,
    client: ClientDep,
) -> Response:
    await two_factor.disable(
        session,
        runtime,
        _actor(request, principal.user_id, client),
        user_id=principal.user_id,
        password=body.password,
        code=body.code,
        recovery_code=body.recovery_code,
    )
    return Response(status_code=204)


@router.put(
    "/orgs/{org_id}/two-factor-requirement",
    response_model=RequirementOut,
    summary="Require two-factor sign-in of every member (or stop requiring it)",
    tags=["organizations"],
)
async def set_requirement(
    body: RequirementIn,
    session: DbSession,
    org: Annotated[OrgRequest, Depends(org_access("org:update"))],
) -> RequirementOut:
    required = await two_factor.set_organization_requirement(
        session, org.actor, org.organization_id, required=body.required
    )
    return RequirementOut(required=required)
