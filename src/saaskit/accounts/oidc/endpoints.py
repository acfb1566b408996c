"""HTTP endpoints of sign-in with OpenID Connect / OAuth providers (docs/integrations.md).

``GET /api/auth/oidc/{provider}/start`` redirects the browser to the provider with a sealed
state cookie; ``GET /api/auth/oidc/{provider}/callback`` is where the provider sends it back. The
callback also finishes an organization's connection (``POST /api/orgs/{org_id}/integrations/
{provider}/connect`` starts those): the sealed state says which.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, Field

from saaskit.accounts import service
from saaskit.accounts.endpoints import _client, _token_response, _user_out
from saaskit.accounts.oidc import flow, signin
from saaskit.accounts.oidc import state as oidc_state
from saaskit.accounts.oidc.providers import Provider, get_provider, list_providers
from saaskit.accounts.schemas import SessionTokenOut
from saaskit.accounts.two_factor_schemas import TwoFactorChallengeOut
from saaskit.audit.service import Actor
from saaskit.integrations import connection
from saaskit.integrations.schemas import IntegrationOut
from saaskit.kit.deps import ClientDep, DbSession, RuntimeDep
from saaskit.kit.errors import BadRequest, error_response
from saaskit.kit.ratelimit import rate_limit
from saaskit.kit.state import Runtime

router = APIRouter(prefix="/api/auth/oidc", tags=["sign-in with OpenID Connect"])

ProviderName = Annotated[
    str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$", description="A configured provider.")
]
ReturnTo = Annotated[
    str | None,
    Query(
        max_length=2000,
        description="A path of the product (SAASKIT_PRODUCT_URL + it) to send the browser to afterwards. "
        "Unset: the callback answers JSON.",
    ),
]


class ProviderOut(BaseModel):
    name: str = Field(description="Path segment of /api/auth/oidc/{name}/start.")
    display_name: str
    kind: str = Field(description="oidc (OpenID Connect) or github (OAuth 2).")
    start_url: str


def check_return_to(value: str | None) -> str | None:
    """Only a path of the product: never another site (no open redirect)."""
    if value is None:
        return None
    if (
        not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(c) < 32 for c in value)
    ):
        raise BadRequest("return_to: a path of the product, starting with one /", field="return_to")
    return value


def state_cookie(response: Response, runtime: Runtime, value: str) -> None:
    response.set_cookie(
        oidc_state.COOKIE,
        value,
        max_age=runtime.settings.oidc.state_ttl_seconds,
        httponly=True,
        # Lax: sent on the provider's top-level redirect back to us, not on cross-site subrequests.
        samesite="lax",
        secure=runtime.settings.auth.cookie_secure,
        path=oidc_state.COOKIE_PATH,
    )


@router.get("/providers", response_model=list[ProviderOut], summary="The configured sign-in providers")
async def providers(runtime: RuntimeDep) -> list[ProviderOut]:
    return [
        ProviderOut(
            name=p.name, display_name=p.display_name, kind=p.kind, start_url=f"/api/auth/oidc/{p.name}/start"
        )
        for p in list_providers(runtime.settings)
    ]


@router.get(
    "/{provider}/start",
    status_code=302,
    response_class=RedirectResponse,
    summary="Sign in with a provider: redirects the browser there (state, nonce, PKCE S256)",
    dependencies=[rate_limit("oidc_start_per_ip")],
)
async def start(
    provider: ProviderName, runtime: RuntimeDep, return_to: ReturnTo = None, set_cookie: bool = True
) -> Response:
    found = get_provider(runtime.settings, provider)
    url, sealed = await flow.start(
        runtime, found, return_to=check_return_to(return_to), set_cookie=set_cookie or return_to is not None
    )
    response = RedirectResponse(url, status_code=302)
    state_cookie(response, runtime, sealed)
    return response


@router.get(
    "/{provider}/callback",
    response_model=SessionTokenOut | TwoFactorChallengeOut | IntegrationOut,
    summary="Where the provider sends the browser back: checks everything, then signs in (or connects)",
    dependencies=[rate_limit("sign_in_per_ip")],
    responses={
        303: {"description": "Signed in (or connected): to SAASKIT_PRODUCT_URL + return_to"},
        400: {"description": "Forged or expired state, or the provider refused (provider_error)"},
        401: {
            "description": "The ID token failed a check: wrong_audience, nonce_mismatch, id_token_expired ..."
        },
        403: {"description": "email_not_verified, email_missing, sign_up_closed, account_suspended"},
        409: {"description": "The account is linked to another identity"},
    },
)
async def callback(
    provider: ProviderName,
    request: Request,
    session: DbSession,
    runtime: RuntimeDep,
    client: ClientDep,
    state: Annotated[str | None, Query(max_length=500)] = None,
    code: Annotated[str | None, Query(max_length=2000)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
    error_description: Annotated[str | None, Query(max_length=1000)] = None,
) -> Response:
    found = get_provider(runtime.settings, provider)
    pending = oidc_state.check_state(runtime, found, request.cookies.get(oidc_state.COOKIE), state)
    if error:
        raise BadRequest(
            f"the provider refused: {error}" + (f" ({error_description})" if error_description else ""),
            field="code",
            code="provider_error",
            extra={"provider_error": error},
        )
    # The provider's calls run before the request's transaction is used: nothing held meanwhile.
    identity, tokens = await flow.finish(runtime, found, pending, code=code)
    actor = Actor(user_id=None, ip_hash=client.ip_hash, request=f"GET /api/auth/oidc/{provider}/callback")
    if pending.purpose == "connect":
        response = await connection.finish(session, runtime, actor, found, pending, identity, tokens)
    else:
        response = await _signed_in(session, runtime, actor, found, pending, identity, client)
    response.delete_cookie(oidc_state.COOKIE, path=oidc_state.COOKIE_PATH)
    return response


async def _signed_in(
    session: DbSession,
    runtime: Runtime,
    actor: Actor,
    provider: Provider,
    pending: oidc_state.Pending,
    identity: flow.Identity,
    client: ClientDep,
) -> Response:
    result = await signin.sign_in(
        session, runtime, actor, provider, identity, device=None, client=_client(client)
    )
    if isinstance(result, service.SignInRefused):
        return error_response(result.status_code, result.code, result.message)
    product = runtime.settings.product.url.rstrip("/")
    if isinstance(result, service.TwoFactorRequired):
        challenge = TwoFactorChallengeOut(
            challenge_token=result.challenge_token, expires_at=result.expires_at
        )
        if pending.return_to is not None:
            # In the fragment: never sent to a server, nor in a Referer header.
            target = f"{product}{pending.return_to}#two_factor_challenge={result.challenge_token}"
            return RedirectResponse(target, status_code=303)
        return JSONResponse(challenge.model_dump(mode="json"))
    answer = _token_response(
        result, await _user_out(session, result.user), runtime, set_cookie=pending.set_cookie, status_code=200
    )
    if pending.return_to is None:
        return answer
    redirect = RedirectResponse(f"{product}{pending.return_to}", status_code=303)
    for name, value in answer.headers.items():
        if name == "set-cookie":
            redirect.headers.append(name, value)
    return redirect
